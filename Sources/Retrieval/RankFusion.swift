/// Merges ranked lists of passage ids into one ranking.
///
/// Raw scores of different lists are not comparable (a generic clue matches many passages with a high cosine, and
/// BM25 scores are unbounded), so passages compete on their ranks: reciprocal rank fusion (Cormack et al., 2009)
/// gives a passage `Σ weight / (k + rank)` over the lists that hold it (rank 1 = best). A passage several lists
/// agree on rises; a list's weight says how much its order counts.
public enum RankFusion {
    /// The conventional constant of reciprocal rank fusion: it flattens the gap between ranks 1 and 2 so that
    /// agreement between lists weighs more than one list's top place.
    public static let defaultK = 60.0
    /// Passages each list contributes (MemoRAG retrieves 3 per clue and for the query): the pipeline's default
    /// `hits`, and the depth the clue-feedback training stage scores clue sets at.
    public static let defaultDepth = 3
    /// Weight of the question's own list when it is fused with clue lists (each clue's list weighs 1): with 3 a
    /// passage the clues agree on must be found by several of them to pass the question's own top passages.
    /// Chosen on Alice (docs/pipeline.md): weight 1 let the clues' lists displace the question's passages (recall
    /// 0.33 against 0.67 for the question alone), max-score fusion 0.54. The pipeline's default `queryWeight`, and
    /// the clue-feedback stage's, so clues are trained for the fusion that uses them.
    public static let defaultQueryWeight = 3.0

    /// Each id once, at its best score over `hits` (which may hold it several times), best first; ties by id. For
    /// scores of one kind only (cosines of one embedder): MemoRAG's max-score fusion, or passages by their best
    /// snippet.
    public static func bestScore(_ hits: [(id: Int, score: Float)]) -> [(id: Int, score: Float)] {
        var best: [Int: Float] = [:]
        for hit in hits { best[hit.id] = max(best[hit.id] ?? -.infinity, hit.score) }
        return best.map { (id: $0.key, score: $0.value) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
    }

    /// The fused ranking, best first; ties keep the order in which passages first appear across the lists.
    public static func reciprocalRank(_ lists: [(ids: [Int], weight: Double)], k: Double = defaultK)
        -> [(id: Int, score: Double)]
    {
        var scores: [Int: Double] = [:]
        var firstSeen: [Int: Int] = [:]
        for (ids, weight) in lists {
            for (rank, id) in ids.enumerated() {
                scores[id, default: 0] += weight / (k + Double(rank + 1))
                if firstSeen[id] == nil { firstSeen[id] = firstSeen.count }
            }
        }
        return scores.map { (id: $0.key, score: $0.value) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : firstSeen[$0.id]! < firstSeen[$1.id]! }
    }
}
