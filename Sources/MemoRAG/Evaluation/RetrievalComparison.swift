/// How the evidence of one `ask` compares with what the question alone, and each kind of clue alone, would have
/// retrieved from the same passages: the baseline a MemoRAG must beat to be worth its memory.
///
/// Every figure is evidence recall (`EvidenceRecall`): the share of a question's gold passages found. At the
/// pipeline's own passage count `passages` each alternative ranking is cut to the same number, so none wins by
/// reading more; the curves give recall at each `RetrievalComparison.depths` passage count for the rankings with
/// `curveDepth` passages per list.
public struct RetrievalComparison: Codable, Sendable, Equatable {
    /// Passage counts of the recall@k curves.
    public static let depths = [1, 2, 3, 5, 8, 10, 15, 20]
    /// Passages per query or clue in the curves' rankings.
    public static let curveDepth = 20

    /// What ranks passages in a comparison.
    public enum Variant: String, Codable, CodingKeyRepresentable, Sendable, CaseIterable {
        /// The question and every clue, fused as the pipeline fuses them.
        case pipeline
        /// The question alone, searched as the pipeline searches (dense or hybrid, re-ranked when it re-ranks).
        case query
        /// The question alone through the dense retriever: plain RAG.
        case queryDense = "query_dense"
        /// The recalled text spans alone.
        case spans
        /// The surrogate questions alone.
        case surrogates
        /// The memory's draft answers alone (when `clueKinds` asks for them).
        case answers
        /// The memory's attention ranking alone (with `MemoRAGConfiguration.memoryAttention`).
        case attention
    }

    /// Passages the generator was given.
    public var passages: Int
    /// Recall at `passages` for each variant; a clue kind the memory wrote none of is absent.
    public var recall: [Variant: Double]
    /// Recall at each of `depths` for each variant.
    public var curves: [Variant: [Double]]
}

extension MemoRAG {
    /// The gold quotes of `gold` that no passage of the loaded memory holds, by `EvidenceRecall`'s measure: no
    /// ranking can ever find them, so a set with such quotes misquotes the text or was written for another one.
    public func evidenceMissingFromMemory(_ gold: [String]) throws -> [String] {
        let passages = try loaded().chunks.map { Evidence($0, score: 0) }
        return zip(gold, EvidenceRecall.isFound(gold, in: passages)).filter { !$1 }.map(\.0)
    }

    /// Compares `result` (an `ask` with task `.memorag`) with the alternatives of `RetrievalComparison` on the gold
    /// passages of its question. The pipeline's recall is that of the evidence the generator actually read.
    public func compareRetrieval(_ result: AskResult, gold: [String]) throws -> RetrievalComparison {
        let store = try loaded()
        let question = Clue(kind: .query, text: result.query, document: nil)
        let cluesByVariant: [RetrievalComparison.Variant: [Clue]] = [
            .pipeline: result.clues.contains { $0.kind == .query } ? result.clues : result.clues + [question],
            .query: [question],
            .spans: result.clues.filter { $0.kind == .span },
            .surrogates: result.clues.filter { $0.kind == .surrogate },
            .answers: result.clues.filter { $0.kind == .draftAnswer },
        ]
        let n = result.evidence.count
        var recall: [RetrievalComparison.Variant: Double] = [.pipeline: EvidenceRecall.recall(gold: gold, found: result.evidence)]
        var curves: [RetrievalComparison.Variant: [Double]] = [:]
        // The question's likelihood after a passage is the same whichever ranking found the passage.
        var likelihoods = result.questionLikelihoods ?? [:]
        for variant in RetrievalComparison.Variant.allCases {
            let ranked: [Evidence]
            if variant == .attention {
                guard let attention = result.memoryAttention else { continue }
                ranked = attention.filter { $0 >= 0 && $0 < store.chunks.count }.map { Evidence(store.chunks[$0], score: 0) }
            } else {
                let clues = variant == .queryDense ? [question] : cluesByVariant[variant] ?? []
                guard !clues.isEmpty else { continue }
                if configuration.rerankDepth > 0, variant == .pipeline || variant == .query {
                    // The question alone is searched as the pipeline searches, re-ranking included; plain RAG is not.
                    (ranked, likelihoods) = try reranked(clues, question: result.query, known: likelihoods, store: store)
                } else {
                    ranked = try rankPassages(for: clues, depth: max(RetrievalComparison.curveDepth, n),
                                              search: variant == .queryDense ? .dense : nil,
                                              attention: variant == .pipeline ? result.memoryAttention : nil, store: store)
                }
            }
            if variant != .pipeline { recall[variant] = EvidenceRecall.recall(gold: gold, found: Array(ranked.prefix(n))) }
            curves[variant] = RetrievalComparison.depths.map { EvidenceRecall.recall(gold: gold, found: Array(ranked.prefix($0))) }
        }
        return RetrievalComparison(passages: n, recall: recall, curves: curves)
    }
}
