import Foundation
import MemoRAG

/// A memory as the API lists it (read from its cache dir's manifest).
public struct MemoryInfo: Codable, Sendable, Equatable {
    public struct Document: Codable, Sendable, Equatable {
        public var name: String
        public var characters: Int
        public var tokens: Int
        public var chunks: Int
    }

    public var id: String
    public var documents: [Document]
    public var chunkCount: Int
    public var mode: String
    public var language: String
    public var createdAt: String
    public var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, documents, mode, language
        case chunkCount = "chunk_count"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(id: String, manifest: CacheManifest) {
        self.id = id
        documents = manifest.documents.map {
            Document(name: $0.name, characters: $0.characters, tokens: $0.tokens, chunks: $0.chunkCount)
        }
        chunkCount = manifest.chunkCount
        mode = manifest.mode.rawValue
        language = manifest.language
        createdAt = manifest.createdAt
        updatedAt = manifest.updatedAt
    }
}

/// The memories under `DATA/memories/<id>`, one cache dir each, and the pipelines loaded over them (sharing one
/// set of models). Only complete cache dirs are visible: a memorize writes into a hidden staging sibling and
/// renames it into place, and deletion renames the dir to a hidden name before removing it, so a crash at any
/// point leaves either the whole memory or none of it; hidden leftovers are swept at start.
actor MemoryRegistry {
    static let idPrefix = "mem_"
    let models: MemoRAGModels
    let root: URL
    private var pipelines: [String: MemoRAG] = [:]

    init(models: MemoRAGModels, dataDir: URL) throws {
        self.models = models
        root = dataDir.appendingPathComponent("memories", isDirectory: true)
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            // Foundation's own message here is a bare NSCocoaErrorDomain code; say what could not be made.
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            throw ServerError.invalidConfiguration("cannot make the memories dir \(root.path): "
                + (underlying?.localizedDescription ?? "\(error)"))
        }
        for name in try fm.contentsOfDirectory(atPath: root.path) where name.hasPrefix(".") {
            try? fm.removeItem(at: root.appendingPathComponent(name))  // staging or half-deleted dirs of a crash
        }
    }

    func newId() -> String {
        var id: String
        repeat { id = Self.idPrefix + ResourceID.random() } while FileManager.default.fileExists(atPath: dir(id).path)
        return id
    }

    func list() -> [MemoryInfo] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { ResourceID.isWellFormed($0, prefix: Self.idPrefix) }.sorted()
            .compactMap { try? info($0) }
    }

    func count() -> Int { list().count }

    func info(_ id: String) throws -> MemoryInfo {
        MemoryInfo(id: id, manifest: try manifest(id))
    }

    /// The pipeline over memory `id`, loading it on first use.
    func pipeline(_ id: String) async throws -> MemoRAG {
        if let rag = pipelines[id] { return rag }
        _ = try manifest(id)
        let rag = MemoRAG(models: models)
        try await rag.load(cacheDir: dir(id))
        pipelines[id] = rag
        return rag
    }

    /// Memorizes `documents` as the new memory `id`; it becomes visible when complete.
    func memorize(_ id: String, documents: [(name: String, text: String)],
                  progress: @escaping @Sendable (MemorizeProgress) -> Void) async throws -> MemorizeReport {
        let rag = MemoRAG(models: models)
        let report = try await rag.memorize(documents: documents, cacheDir: dir(id), progress: progress)
        pipelines[id] = rag
        return report
    }

    func addDocument(_ id: String, name: String, text: String,
                     progress: @escaping @Sendable (MemorizeProgress) -> Void) async throws -> MemorizeReport {
        let rag = try await pipeline(id)
        return try await rag.addDocument(text, name: name, progress: progress)
    }

    /// Removes memory `id`: a rename first (atomic: it is gone from listings at once), then the files.
    func delete(_ id: String) throws {
        _ = try manifest(id)
        let trash = root.appendingPathComponent(".deleted-\(id)-\(ResourceID.random())")
        do {
            try FileManager.default.moveItem(at: dir(id), to: trash)
        } catch {
            throw APIError(.internalServerError, "storage", "cannot delete memory \(id): \(error.localizedDescription)")
        }
        pipelines[id] = nil
        try? FileManager.default.removeItem(at: trash)
    }

    func exists(_ id: String) -> Bool { (try? manifest(id)) != nil }

    private func dir(_ id: String) -> URL { root.appendingPathComponent(id, isDirectory: true) }

    private func manifest(_ id: String) throws -> CacheManifest {
        guard ResourceID.isWellFormed(id, prefix: Self.idPrefix) else { throw APIError.notFound("no memory '\(id)'") }
        guard FileManager.default.fileExists(atPath: dir(id).appendingPathComponent("manifest.json").path) else {
            throw APIError.notFound("no memory '\(id)'")
        }
        // The same checks as any cache load (format, chunk ranges, memory files inside the dir): a 500 naming it.
        return try CacheManifest.read(from: dir(id))
    }
}
