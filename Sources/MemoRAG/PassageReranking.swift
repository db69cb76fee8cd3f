import Foundation
import Models
import Retrieval

/// UPR re-ranking (Sachan et al., 2022, "Improving Passage Retrieval with Zero-Shot Question Generation"): a
/// language model judges each candidate passage by how likely it finds the question written after it,
/// log P(question | passage). A bi-encoder compares one vector per text and misses evidence the question
/// paraphrases; reading the passage token by token, even a 135M model catches more of it (docs/pipeline.md).
///
/// The model's order is merged with the retriever's by reciprocal rank fusion, equal weights: on the tuning sets
/// the model's order alone lost passages the retriever ranks first for questions that quote the book.
enum PassageReranking {
    /// UPR's question-generation prompt; the question follows after a space.
    static func prompt(passage: String) -> String {
        "Passage: \(passage.trimmingCharacters(in: .whitespacesAndNewlines))\n"
            + "Please write a question based on this passage.\nQuestion:"
    }

    /// `ranked` with its first `depth` passages re-ordered by the fusion of their order in `ranked` and their order
    /// by log P(`question` | passage) under `lm`; the passages after `depth` follow as they were. Scores already in
    /// `known` (by chunk id) are not computed again; the returned scores hold every passage scored.
    static func reranked(_ ranked: [Evidence], question: String, depth: Int, lm: LanguageModel,
                         known: [Int: Float] = [:]) throws -> (evidence: [Evidence], likelihoods: [Int: Float]) {
        let head = Array(ranked.prefix(depth))
        guard head.count > 1 else { return (ranked, known) }
        var likelihoods = known
        let missing = head.filter { likelihoods[$0.chunkId] == nil }
        if !missing.isEmpty {
            let prompts = missing.map { lm.tokenizer.encode(prompt(passage: $0.text), addSpecialTokens: false) }
            let continuation = lm.tokenizer.encode(" " + question.trimmingCharacters(in: .whitespacesAndNewlines),
                                                   addSpecialTokens: false)
            // One passage at a time: int8 products quantize a whole batch's activations on one grid, so in a batch a
            // passage's score moved by up to 2.5 nats with its neighbours (SmolLM2-135M, *Alice*); alone it is the
            // same whatever else is ranked, and on two CPU cores about as fast (*Alice* ask p50 2.68 s, 2.61 s in fours).
            let scores: [Float]
            do {
                scores = try lm.model.continuationLogLikelihoods(prompts: prompts, continuation: continuation, batchSize: 1)
            } catch {
                throw MemoRAGError.invalidArgument("re-ranking the passages failed: \(error.localizedDescription) "
                    + "(rerankDepth 0, --rerank 0, turns re-ranking off)")
            }
            for (item, score) in zip(missing, scores) { likelihoods[item.chunkId] = score }
        }
        // Ties keep the retriever's order (said outright: `sorted` does not promise to be stable).
        let byModel = head.enumerated().sorted { a, b in
            let (x, y) = (likelihoods[a.element.chunkId]!, likelihoods[b.element.chunkId]!)
            return x != y ? x > y : a.offset < b.offset
        }.map(\.element.chunkId)
        let fused = RankFusion.reciprocalRank([(ids: head.map(\.chunkId), weight: 1), (ids: byModel, weight: 1)])
        let byId = Dictionary(head.map { ($0.chunkId, $0) }, uniquingKeysWith: { first, _ in first })
        // Each passage keeps the retriever's score: the order, not the score, says what the model changed.
        let reordered = fused.compactMap { byId[$0.id] }
        return (reordered + ranked.dropFirst(head.count), likelihoods)
    }
}

extension MemoRAG {
    /// What re-ranking chooses from: the question's first `rerankDepth` passages, then each other clue's first `hits`
    /// passages not among them. Clues add candidates that the model must find relevant; unlike in the fusion, they
    /// displace none of the question's own.
    func rerankCandidates(for clues: [Clue], store: MemoryStore? = nil) throws -> [Evidence] {
        let store = try store ?? loaded()
        var candidates: [Evidence] = []
        var seen: Set<Int> = []
        for question in clues where question.kind == .query {
            for item in try rankPassages(for: [question], depth: configuration.rerankDepth, store: store)
            where seen.insert(item.chunkId).inserted { candidates.append(item) }
        }
        for clue in clues where clue.kind != .query {
            for item in try rankPassages(for: [clue], store: store) where seen.insert(item.chunkId).inserted {
                candidates.append(item)
            }
        }
        return candidates
    }

    /// `rerankCandidates` for `clues` ordered by `PassageReranking` against `question`.
    func reranked(_ clues: [Clue], question: String, known: [Int: Float] = [:], store: MemoryStore) throws
        -> (evidence: [Evidence], likelihoods: [Int: Float])
    {
        let candidates = try rerankCandidates(for: clues, store: store)
        return try PassageReranking.reranked(candidates, question: question, depth: candidates.count,
                                             lm: memoryModel.lm, known: known)
    }
}
