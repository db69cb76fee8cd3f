import Foundation
import Retrieval

/// What `ask` can do with a query.
public enum TaskKind: String, Codable, Sendable, CaseIterable {
    /// Recall clues from memory, retrieve evidence with them, answer from the evidence (the MemoRAG pipeline).
    case memorag
    /// Answer from the memory alone.
    case qa
    /// Key points from memory, evidence for each, then a summary of the evidence.
    case summarize
}

/// A line the memory model wrote to steer retrieval.
public struct Clue: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// A text span recalled from the memory.
        case span
        /// A sharper surrogate question.
        case surrogate
        /// The memory's own draft answer.
        case draftAnswer = "draft_answer"
        /// A numbered key point (summaries).
        case keyPoint = "key_point"
        /// The user's query itself.
        case query
    }

    public var kind: Kind
    public var text: String
    /// Which document's memory wrote it (nil for the query).
    public var document: String?
}

/// A retrieved passage, with where it sits in its document.
public struct Evidence: Codable, Sendable, Equatable {
    public var chunkId: Int
    public var document: String
    /// Unicode-scalar offsets into the document text (Python `str` indices), half-open.
    public var start: Int
    public var end: Int
    /// Its score in the ranking that chose it (`MemoRAG.rankPassages`): the best cosine over the clues that found
    /// it, or a reciprocal-rank sum.
    public var score: Float
    public var text: String

    enum CodingKeys: String, CodingKey {
        case chunkId = "chunk_id"
        case document, start, end, score, text
    }
}

extension Evidence {
    /// `chunk` as evidence with `score`.
    init(_ chunk: Chunk, score: Float) {
        self.init(chunkId: chunk.id, document: chunk.doc, start: chunk.start, end: chunk.end, score: score, text: chunk.text)
    }
}

/// Seconds spent in each stage of one `ask`.
public struct AskTimings: Codable, Sendable, Equatable {
    public var recall: Double = 0
    public var retrieve: Double = 0
    public var generate: Double = 0
    public var total: Double = 0
}

/// The answer to one query with everything that led to it.
public struct AskResult: Codable, Sendable, Equatable {
    public var query: String
    public var task: TaskKind
    public var answer: String
    public var clues: [Clue]
    public var evidence: [Evidence]
    /// Evidence chunks found but left out to fit the generator's positions.
    public var droppedEvidence: Int
    public var timings: AskTimings
    /// With `MemoRAGConfiguration.memoryAttention`: the chunk ids the memory's attention ranked first, best first.
    public var memoryAttention: [Int]? = nil
    /// The snippets of `evidence` the generator read instead of the passages whole (`evidenceSnippets`), in document
    /// order; nil when it read the passages.
    public var snippets: [String]? = nil
    /// With `MemoRAGConfiguration.rerankDepth`: log P(question | passage) of each re-ranked passage, by chunk id.
    public var questionLikelihoods: [Int: Float]? = nil

    enum CodingKeys: String, CodingKey {
        case query, task, answer, clues, evidence, timings, snippets
        case droppedEvidence = "dropped_evidence"
        case memoryAttention = "memory_attention"
        case questionLikelihoods = "question_likelihoods"
    }
}
