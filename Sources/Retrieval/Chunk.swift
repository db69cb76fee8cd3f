import Foundation

/// One passage of a document: a line of a cache dir's `chunks.jsonl` (`{"id","text","start","end","doc"}`).
///
/// `start`/`end` are half-open offsets in Unicode scalars (code points) into the document text, i.e. Python `str`
/// indices: `text[start:end]` in Python is `text` here.
public struct Chunk: Codable, Sendable, Equatable, Hashable {
    public var id: Int
    public var text: String
    public var start: Int
    public var end: Int
    public var doc: String

    public init(id: Int, text: String, start: Int, end: Int, doc: String) {
        self.id = id
        self.text = text
        self.start = start
        self.end = end
        self.doc = doc
    }
}

/// What `Chunker.chunk` produces.
public struct ChunkingResult: Sendable, Equatable {
    /// In document order, with ids `firstId, firstId + 1, …`.
    public var chunks: [Chunk]
    /// Ids of chunks longer than the embedder reads (it would silently drop their tail). Always empty when the
    /// chunker measures with the embedder's own tokenizer and limit (`Chunker(embedder:)`).
    public var truncatedChunkIds: [Int]

    public init(chunks: [Chunk], truncatedChunkIds: [Int]) {
        self.chunks = chunks
        self.truncatedChunkIds = truncatedChunkIds
    }
}
