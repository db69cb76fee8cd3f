import Foundation
import Torch

/// `manifest.json` of a memory cache dir: what made it and what it holds. Loading compares the identities with
/// the models at hand, so a cache made by another memory model or retriever is refused instead of misread.
public struct CacheManifest: Codable, Sendable, Equatable {
    public static let formatName = "memorag.cache"
    public static let currentVersion = 1

    public struct ModelIdentity: Codable, Sendable, Equatable {
        /// Where it was loaded from (informational).
        public var source: String
        /// Config + weights identity.
        public var fingerprint: String
        /// The memory model's tokenizer hash (nil for the retriever).
        public var tokenizerSHA256: String?

        enum CodingKeys: String, CodingKey {
            case source, fingerprint
            case tokenizerSHA256 = "tokenizer_sha256"
        }
    }

    /// One memorized document.
    public struct Document: Codable, Sendable, Equatable {
        public var name: String
        /// sha256 of the document's UTF-8 text.
        public var sha256: String
        public var characters: Int
        /// Tokens of the memory prompt read into the memory.
        public var tokens: Int
        /// The memory state file inside the cache dir.
        public var memoryFile: String
        /// Beacon ratio used (nil for lite/longllm).
        public var ratio: Int?
        /// KV entries per layer the memory keeps.
        public var memoryEntries: Int
        /// Positions the memory occupies in the model.
        public var memoryPositions: Int
        /// Chunks `firstChunk ..< firstChunk + chunkCount` of `chunks.jsonl` belong to this document.
        public var firstChunk: Int
        public var chunkCount: Int

        enum CodingKeys: String, CodingKey {
            case name, sha256, characters, tokens, ratio
            case memoryFile = "memory_file"
            case memoryEntries = "memory_entries"
            case memoryPositions = "memory_positions"
            case firstChunk = "first_chunk"
            case chunkCount = "chunk_count"
        }
    }

    public var format = CacheManifest.formatName
    public var version = CacheManifest.currentVersion
    public var memoryModel: ModelIdentity
    public var retriever: ModelIdentity
    public var retrieverDimension: Int
    public var mode: MemoryMode
    public var language: String
    public var chunkTokens: Int
    public var indexFactory: String
    public var documents: [Document]
    public var chunkCount: Int
    public var createdAt: String
    public var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case format, version, mode, language, documents
        case memoryModel = "memory_model"
        case retriever
        case retrieverDimension = "retriever_dimension"
        case chunkTokens = "chunk_tokens"
        case indexFactory = "index_factory"
        case chunkCount = "chunk_count"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    /// Reads and checks `dir/manifest.json` (format, version, chunk ranges).
    public static func read(from dir: URL) throws -> CacheManifest {
        let url = dir.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MemoRAGError.unreadable(path: dir.path, reason: "not a memory cache dir (no manifest.json)")
        }
        let manifest: CacheManifest
        do {
            manifest = try JSONDecoder().decode(CacheManifest.self, from: Data(contentsOf: url))
        } catch {
            throw MemoRAGError.corrupt(path: url.path, reason: "unreadable manifest: \(error)")
        }
        guard manifest.format == formatName else {
            throw MemoRAGError.corrupt(path: url.path, reason: "format is '\(manifest.format)', expected '\(formatName)'")
        }
        guard manifest.version == currentVersion else {
            throw MemoRAGError.incompatibleCache(path: dir.path,
                reason: "cache format version \(manifest.version), this build reads version \(currentVersion)")
        }
        var next = 0
        for document in manifest.documents {
            guard document.firstChunk == next, document.chunkCount >= 0 else {
                throw MemoRAGError.corrupt(path: url.path, reason: "chunk ranges of the documents do not tile 0..<\(manifest.chunkCount)")
            }
            next += document.chunkCount
        }
        guard next == manifest.chunkCount else {
            throw MemoRAGError.corrupt(path: url.path, reason: "documents cover \(next) chunks, manifest says \(manifest.chunkCount)")
        }
        for document in manifest.documents { _ = try memoryURL(of: document, in: dir) }
        return manifest
    }

    /// The memory file of `document` inside the cache dir `dir`. A manifest is data (a cache may be copied from
    /// anywhere), so a `memory_file` such as "../other/memory.safetensors" or a symlink out is refused rather than
    /// read — or, when a document is added, carried into the new cache.
    static func memoryURL(of document: Document, in dir: URL) throws -> URL {
        do {
            return try ContainedPath.resolve(document.memoryFile, in: dir)
        } catch let escape as ContainedPath.Escape {
            throw MemoRAGError.corrupt(path: dir.appendingPathComponent("manifest.json").path,
                                       reason: "document '\(document.name)': memory_file \(escape.localizedDescription)")
        }
    }

    func write(to dir: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: dir.appendingPathComponent("manifest.json"))
    }

    /// Throws unless this cache was made with the given models.
    func checkCompatible(memoryModel: ModelIdentity, retriever: ModelIdentity, at dir: URL) throws {
        if self.memoryModel.fingerprint != memoryModel.fingerprint {
            throw MemoRAGError.incompatibleCache(path: dir.path, reason: "memory model \(self.memoryModel.source) "
                + "(fingerprint \(self.memoryModel.fingerprint.prefix(12))) is not the loaded \(memoryModel.source) "
                + "(\(memoryModel.fingerprint.prefix(12)))")
        }
        if self.memoryModel.tokenizerSHA256 != memoryModel.tokenizerSHA256 {
            throw MemoRAGError.incompatibleCache(path: dir.path, reason: "the memory model's tokenizer differs")
        }
        if self.retriever.fingerprint != retriever.fingerprint {
            throw MemoRAGError.incompatibleCache(path: dir.path, reason: "retriever \(self.retriever.source) "
                + "(fingerprint \(self.retriever.fingerprint.prefix(12))) is not the loaded \(retriever.source) "
                + "(\(retriever.fingerprint.prefix(12)))")
        }
    }
}
