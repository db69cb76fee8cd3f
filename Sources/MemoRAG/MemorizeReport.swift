import Foundation

/// Progress of a memorize, for a terminal line or a job status.
public struct MemorizeProgress: Sendable, Equatable {
    public enum Stage: String, Sendable {
        case gisting, compression, chunking, embedding, indexing, writing
    }

    public var stage: Stage
    public var document: String
    public var done: Int
    public var total: Int
}

/// What a memorize did and how long each part took.
public struct MemorizeReport: Codable, Sendable, Equatable {
    public var documents: [String]
    public var tokens: Int
    public var chunks: Int
    /// Chunks longer than the retriever reads (only with a chunk size above its limit).
    public var truncatedChunks: Int
    public var mode: MemoryMode
    public var ratio: Int?
    /// KV entries per layer of the new memories.
    public var memoryEntries: Int
    public var seconds: Seconds
    public var cacheBytes: Int

    public struct Seconds: Codable, Sendable, Equatable {
        public var compression = 0.0
        public var chunking = 0.0
        public var embedding = 0.0
        public var indexing = 0.0
        public var writing = 0.0
        public var total = 0.0
    }

    enum CodingKeys: String, CodingKey {
        case documents, tokens, chunks, mode, ratio, seconds
        case truncatedChunks = "truncated_chunks"
        case memoryEntries = "memory_entries"
        case cacheBytes = "cache_bytes"
    }
}
