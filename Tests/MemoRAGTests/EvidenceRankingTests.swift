import Foundation
import Models
import TestSupport
import TinyModels
import XCTest

@testable import MemoRAG

/// `rankPassages` on a real faiss index and BM25 over a memorized text (tiny random models: the scores mean nothing,
/// but the fusion rules must hold whatever they are).
final class EvidenceRankingTests: XCTestCase {
    private func memorized(_ change: (inout MemoRAGConfiguration) -> Void) async throws -> MemoRAG {
        let tiny = try TinyModels.shared()
        var configuration = MemoRAGConfiguration(memoryModel: tiny.memoryModel, retriever: tiny.retriever)
        configuration.mode = .longllm
        configuration.dtype = .float32
        configuration.chunkTokens = 32
        change(&configuration)
        let rag = try MemoRAG(configuration: configuration)
        let text = [PipelineTests.lighthouse, PipelineTests.bees, PipelineTests.orchard].joined(separator: "\n\n")
        try await rag.memorize(text, name: "book", cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
        return rag
    }

    private let question = Clue(kind: .query, text: "Who kept the lighthouse?", document: nil)
    private let clues = ["The honey won a prize at the fair", "Nineteen kinds of apple grew behind the mill",
                         "A fishing boat lost its rudder"].map { Clue(kind: .surrogate, text: $0, document: "book") }

    /// MemoRAG's fusion: the union of every list, each passage at its best cosine, best first.
    func testMaxScoreRanksTheUnionByBestCosine() async throws {
        let rag = try await memorized { $0.fusion = .maxScore; $0.hits = 2 }
        let ranked = try await rag.rankPassages(for: [question] + clues)
        var union: [Int: Float] = [:]
        for clue in [question] + clues {
            for passage in try await rag.rankPassages(for: [clue]) { union[passage.chunkId] = max(union[passage.chunkId] ?? -1, passage.score) }
        }
        XCTAssertEqual(Set(ranked.map(\.chunkId)), Set(union.keys))
        XCTAssertEqual(ranked.map(\.score), ranked.map(\.score).sorted(by: >))
        for passage in ranked { XCTAssertEqual(passage.score, union[passage.chunkId]!, accuracy: 1e-6) }
    }

    /// With the question's weight large enough (w / (60 + hits) above clues / 61), no agreement among the clues can
    /// lift a passage the question did not find above one it did: the question's own passages come first, ordered
    /// by the fused score (the clues may reorder them). With weight 0 the question's list counts for nothing.
    func testTheQuestionsWeightBoundsWhatTheCluesCanDisplace() async throws {
        let weight = Double(clues.count) + 0.5  // 3.5 / 63 > 3 / 61 with 3 passages per list
        let heavy = try await memorized { $0.fusion = .reciprocalRank; $0.queryWeight = weight }
        let own = try await heavy.rankPassages(for: [question])
        let fused = try await heavy.rankPassages(for: clues + [question])
        XCTAssertEqual(Set(fused.prefix(own.count).map(\.chunkId)), Set(own.map(\.chunkId)))
        // Each fused score is the weighted sum of reciprocal ranks over the single lists.
        var lists: [(ranks: [Int: Int], weight: Double)] = []
        for clue in clues + [question] {
            let ranked = try await heavy.rankPassages(for: [clue])
            lists.append((Dictionary(uniqueKeysWithValues: ranked.enumerated().map { ($1.chunkId, $0 + 1) }),
                          clue.kind == .query ? weight : 1))
        }
        for passage in fused {
            let expected = lists.reduce(0.0) { sum, list in sum + (list.ranks[passage.chunkId].map { list.weight / (60 + Double($0)) } ?? 0) }
            XCTAssertEqual(Double(passage.score), expected, accuracy: 1e-6, "passage \(passage.chunkId)")
        }

        let ignored = try await memorized { $0.fusion = .reciprocalRank; $0.queryWeight = 0 }
        let cluesOnly = try await ignored.rankPassages(for: clues)
        let withQuestion = try await ignored.rankPassages(for: clues + [question])
        XCTAssertEqual(Array(withQuestion.map(\.chunkId).prefix(cluesOnly.count)), cluesOnly.map(\.chunkId))
    }

    /// Expansion searches once with the weighted mean of the unit embeddings: each passage's score is its cosine to
    /// that mean, computed here by hand from the retriever's embeddings of the texts; the question alone ranks as
    /// max-score ranks it.
    func testExpansionSearchesWithTheWeightedMeanEmbedding() async throws {
        let weight = 2.0
        let rag = try await memorized { $0.fusion = .expansion; $0.queryWeight = weight; $0.hits = 4 }
        let ranked = try await rag.rankPassages(for: [question] + clues)
        XCTAssertEqual(ranked.count, 4)
        let vectors = try await rag.embedder.embed(([question] + clues).map(\.text))
        var mean = zip([question] + clues, vectors).reduce(into: [Double](repeating: 0, count: vectors[0].count)) { sum, pair in
            for i in sum.indices { sum[i] += (pair.0.kind == .query ? weight : 1) * Double(pair.1[i]) }
        }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        mean = mean.map { $0 / norm }
        let passages = try await rag.embedder.embed(ranked.map(\.text))
        for (passage, vector) in zip(ranked, passages) {
            let cosine = zip(mean, vector).reduce(0) { $0 + $1.0 * Double($1.1) }
            XCTAssertEqual(Double(passage.score), cosine, accuracy: 1e-4, "passage \(passage.chunkId)")
        }
        XCTAssertEqual(ranked.map(\.score), ranked.map(\.score).sorted(by: >))

        let alone = try await rag.rankPassages(for: [question])
        let maxScore = try await memorized { $0.fusion = .maxScore; $0.hits = 4 }.rankPassages(for: [question])
        XCTAssertEqual(alone.map(\.chunkId), maxScore.map(\.chunkId))
    }

    /// Hybrid search finds a passage by a rare word that only it contains, whatever the dense retriever thinks.
    func testHybridSearchFindsAPassageByItsRareWord() async throws {
        let rag = try await memorized { $0.search = .hybrid; $0.hits = 2 }
        let ranked = try await rag.rankPassages(for: [Clue(kind: .query, text: "Ilse grafted", document: nil)])
        XCTAssertTrue(ranked.contains { $0.text.contains("Ilse Moor") }, ranked.map(\.text).joined(separator: " | "))
    }

    /// UPR re-ranking: the first `depth` passages are re-ordered by reciprocal rank fusion of the retriever's order
    /// and the order of log P(question | passage), each score the model's own for that passage alone; the rest keep
    /// their places; scores already known are taken, not computed again.
    func testRerankingFusesTheModelsOrderWithTheRetrievers() async throws {
        let rag = try await memorized { $0.rerankDepth = 4 }
        let ranked = try await rag.rankPassages(for: [question], depth: 7)
        XCTAssertGreaterThan(ranked.count, 5)
        // The memory model's weights, loaded on their own (the pipeline's copy stays inside its actor).
        let lm = try LanguageModel.load(try TinyModels.shared().memoryModel)
        let (reranked, likelihoods) = try PassageReranking.reranked(ranked, question: question.text, depth: 4, lm: lm)
        let head = Array(ranked.prefix(4))
        XCTAssertEqual(Set(likelihoods.keys), Set(head.map(\.chunkId)))
        // One passage at a time (the reranker batches them): the same score for the same passage.
        let continuation = lm.tokenizer.encode(" " + question.text, addSpecialTokens: false)
        var alone: [Int: Float] = [:]
        for passage in head {
            let prompt = lm.tokenizer.encode(PassageReranking.prompt(passage: passage.text), addSpecialTokens: false)
            XCTAssertTrue(PassageReranking.prompt(passage: passage.text).contains(passage.text.trimmingCharacters(in: .whitespacesAndNewlines)))
            alone[passage.chunkId] = try lm.model.continuationLogLikelihoods(prompts: [prompt], continuation: continuation)[0]
            XCTAssertEqual(likelihoods[passage.chunkId]!, alone[passage.chunkId]!, accuracy: 1e-3)
        }
        func expectedOrder(_ scores: [Int: Float]) -> [Int] {
            let byModel = head.map(\.chunkId).sorted { scores[$0]! > scores[$1]! }
            func fused(_ id: Int) -> Double {
                1 / (61 + Double(head.firstIndex { $0.chunkId == id }!)) + 1 / (61 + Double(byModel.firstIndex(of: id)!))
            }
            return head.map(\.chunkId).sorted { fused($0) > fused($1) }
        }
        XCTAssertEqual(reranked.prefix(4).map(\.chunkId), expectedOrder(alone))
        XCTAssertEqual(reranked.dropFirst(4).map(\.chunkId), ranked.dropFirst(4).map(\.chunkId))
        // A known score is used as given: the retriever's fourth passage, made the likeliest, rises.
        var known = likelihoods
        known[head[3].chunkId] = 1_000
        let lifted = try PassageReranking.reranked(ranked, question: question.text, depth: 4, lm: lm, known: known)
        XCTAssertEqual(lifted.likelihoods, known)
        XCTAssertEqual(lifted.evidence.prefix(4).map(\.chunkId), expectedOrder(known))
        XCTAssertLessThan(try XCTUnwrap(lifted.evidence.firstIndex { $0.chunkId == head[3].chunkId }), 3)

        // Through `ask` and the evaluation: every candidate is scored, and the question alone is re-ranked as well.
        let result = try await rag.ask(question.text)
        let candidates = try await rag.rerankCandidates(for: result.clues)
        XCTAssertEqual(result.questionLikelihoods.map { Set($0.keys) }, Set(candidates.map(\.chunkId)))
        let compared = try await rag.compareRetrieval(result, gold: [PipelineTests.lighthouse])
        XCTAssertNotNil(compared.recall[.query])
        XCTAssertNotNil(compared.recall[.queryDense])
    }

    /// With re-ranking, the clues add candidates after the question's first N and displace none of them.
    func testRerankCandidatesAreTheQuestionsFirstPassagesThenTheCluesNewOnes() async throws {
        let rag = try await memorized { $0.rerankDepth = 3; $0.hits = 2 }
        let candidates = try await rag.rerankCandidates(for: clues + [question])
        let questions = try await rag.rankPassages(for: [question], depth: 3)
        XCTAssertEqual(Array(candidates.prefix(3).map(\.chunkId)), questions.map(\.chunkId))
        var expected = questions.map(\.chunkId)
        for clue in clues {
            for passage in try await rag.rankPassages(for: [clue]) where !expected.contains(passage.chunkId) {
                expected.append(passage.chunkId)
            }
        }
        XCTAssertEqual(candidates.map(\.chunkId), expected)
        XCTAssertGreaterThan(candidates.count, 3, "the clues found passages the question did not")
        let alone = try await rag.rerankCandidates(for: [question])
        XCTAssertEqual(alone.map(\.chunkId), questions.map(\.chunkId))
    }
}
