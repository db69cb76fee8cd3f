import Retrieval

/// How the clue-feedback stage scores a clue set: by what it does to the evidence passage's place in the ranking
/// the pipeline would fill its passage budget from.
///
/// The question's list and each clue's list (their top `depth` passages) are merged by reciprocal rank fusion with
/// the question's list weighted, as `ask` merges them (`RankFusion`; MemoRAG's `EvidenceFusion.reciprocalRank`).
/// The evidence's reciprocal rank counts within the first `topK` passages, the budget the generator reads; the
/// score is its gain over the question's own list: positive when the clues bring the evidence into the budget or
/// closer to its top, negative when their lists push it out.
public enum FeedbackScore {
    public struct Result: Sendable, Equatable {
        /// Reciprocal rank of the evidence in the question's own list (within top-k).
        public var baseline: Double
        /// Reciprocal rank of the evidence in the fused ranking (within top-k).
        public var withClues: Double
        public var gain: Double { withClues - baseline }
    }

    /// 1/rank of the first evidence passage among the first `topK` of `ranking` (rank 1 = best); 0 when none is.
    public static func reciprocalRank(of evidence: Set<Int>, in ranking: [Int], topK: Int) -> Double {
        guard let position = ranking.prefix(topK).firstIndex(where: evidence.contains) else { return 0 }
        return 1 / Double(position + 1)
    }

    /// The ranking `ask` fills its budget from: the question's list (weight `queryWeight`) and each clue's list
    /// (weight 1) fused by reciprocal rank. No clue lists leave the question's own order.
    public static func fused(question: [Int], clues: [[Int]], queryWeight: Double) -> [Int] {
        RankFusion.reciprocalRank([(ids: question, weight: queryWeight)] + clues.map { (ids: $0, weight: 1) }).map(\.id)
    }

    /// `question` is the question's own ranking, at least `topK` deep where the document has that many passages:
    /// its first `topK` are the baseline (the question alone at the same passage budget), its first `depth` go into
    /// the fusion with the clues' lists, as in the pipeline.
    public static func score(question: [Int], clues: [[Int]], evidence: Set<Int>, queryWeight: Double, depth: Int,
                             topK: Int) -> Result
    {
        let ranking = fused(question: Array(question.prefix(depth)), clues: clues.map { Array($0.prefix(depth)) },
                            queryWeight: queryWeight)
        return Result(baseline: reciprocalRank(of: evidence, in: question, topK: topK),
                      withClues: reciprocalRank(of: evidence, in: ranking, topK: topK))
    }
}
