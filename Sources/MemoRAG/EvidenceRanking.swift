import Retrieval

/// How the passage lists of the query and of each clue become the one ranking that fills the evidence budget.
public enum EvidenceFusion: String, Sendable, CaseIterable {
    /// The reference MemoRAG's: the union of every list, each passage scored by its best raw similarity to any of
    /// them. A vague clue's passages then crowd out the query's own best ones whenever its cosines run higher.
    case maxScore = "max-score"
    /// Reciprocal rank fusion (`RankFusion`): passages compete on their rank in each list, the query's list
    /// weighted by `queryWeight`; passages several clues agree on rise.
    case reciprocalRank = "rrf"
    /// One search with the mean of the query's embedding (counted `queryWeight` times) and the clues' (HyDE's
    /// average of the query and its hypothetical documents): clues pull the question towards the passages that use
    /// the book's words, and have no list of their own to crowd out the question's best passages.
    case expansion
}

/// What searches the passages for each query and clue.
public enum PassageSearch: String, Sendable, CaseIterable {
    /// The dense retriever's faiss index alone (MemoRAG's).
    case dense
    /// The dense list and a BM25 list of the same depth, merged per query by reciprocal rank fusion: names and rare
    /// words that the sentence embedder blurs still match.
    case hybrid
    /// The dense list and a list of the passages whose snippets (a sentence or two each, `SnippetIndex`) are
    /// closest, of the same depth, merged per query by reciprocal rank fusion: a question that paraphrases one
    /// sentence of a passage can sit closer to it than to the passage's averaged embedding.
    case sentences
}

extension MemoRAG {
    /// The passages for `clues` (a `.query` clue is the user's question), best first, as `ask` ranks them before it
    /// fits the generator's budget: each clue's top `depth` passages (default `configuration.hits`), merged by
    /// `configuration.fusion`. `Evidence.score` is the fused score (the best cosine for `.maxScore` with dense
    /// search; a reciprocal-rank sum otherwise).
    /// `search` replaces `configuration.search` for this call.
    public func rankPassages(for clues: [Clue], depth: Int? = nil, search: PassageSearch? = nil) throws -> [Evidence] {
        try rankPassages(for: clues, depth: depth, search: search, store: loaded())
    }

    /// `attention` (chunk ids, best first: `attentionRanking`) joins reciprocal rank fusion as one more list.
    func rankPassages(for clues: [Clue], depth: Int? = nil, search: PassageSearch? = nil, attention: [Int]? = nil,
                      store: MemoryStore) throws -> [Evidence] {
        guard !clues.isEmpty, store.index.count > 0 else { return [] }
        let depth = min(depth ?? configuration.hits, store.index.count)
        guard depth > 0 else { throw MemoRAGError.invalidArgument("passages per clue must be at least 1, got \(depth)") }
        let embeddings = try embedder.embed(clues.map(\.text))
        // What is searched: each clue on its own, or (`.expansion`) their weighted mean as one query.
        let queries: [(text: String, embedding: [Float])] = configuration.fusion == .expansion
            ? [(clues.map(\.text).joined(separator: "\n"), weightedMean(clues, embeddings))]
            : zip(clues, embeddings).map { ($0.text, $1) }
        let dense = try store.index.search(queries.map(\.embedding), k: depth)
            .map { list in list.filter { hit in hit.id >= 0 && hit.id < store.chunks.count } }
        // Each query's dense list merged with a second list of the same depth by reciprocal rank fusion.
        func fusedWithDense(_ others: [[Int]]) -> [[(id: Int, score: Float)]] {
            zip(dense, others).map { denseList, other in
                RankFusion.reciprocalRank([(ids: denseList.map(\.id), weight: 1), (ids: other, weight: 1)])
                    .prefix(depth).map { (id: $0.id, score: Float($0.score)) }
            }
        }
        let lists: [[(id: Int, score: Float)]]
        switch search ?? configuration.search {
        case .dense:
            lists = dense
        case .sentences:
            lists = fusedWithDense(try searchSnippets(queries.map(\.embedding), depth: depth).map { $0.map(\.id) })
        case .hybrid:
            lists = fusedWithDense(queries.map { store.lexical.search($0.text, k: depth).map(\.id) })
        }
        let ranked: [(id: Int, score: Float)]
        switch configuration.fusion {
        case .expansion:
            ranked = lists[0]
        case .maxScore:
            ranked = RankFusion.bestScore(lists.flatMap { $0 })
        case .reciprocalRank:
            var weighted = zip(clues, lists).map { clue, list in
                (ids: list.map(\.id), weight: clue.kind == .query ? configuration.queryWeight : 1)
            }
            if let attention {
                weighted.append((ids: Array(attention.filter { $0 >= 0 && $0 < store.chunks.count }.prefix(depth)),
                                 weight: configuration.memoryAttention?.weight ?? 1))
            }
            ranked = RankFusion.reciprocalRank(weighted).map { (id: $0.id, score: Float($0.score)) }
        }
        return ranked.map { Evidence(store.chunks[$0.id], score: $0.score) }
    }

    /// The unit embeddings' mean, the query's counted `queryWeight` times, renormalised to unit length.
    private func weightedMean(_ clues: [Clue], _ embeddings: [[Float]]) -> [Float] {
        var mean = [Float](repeating: 0, count: embeddings[0].count)
        for (clue, embedding) in zip(clues, embeddings) {
            let weight = Float(clue.kind == .query ? configuration.queryWeight : 1)
            for i in mean.indices { mean[i] += weight * embedding[i] }
        }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? mean.map { $0 / norm } : mean
    }
}
