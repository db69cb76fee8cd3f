import Foundation
import Models
import Retrieval
import Tokenizers
import Torch

/// The MemoRAG pipeline: memorize long texts into a cache dir, load it back, and answer queries with clues from
/// the memory, evidence from dense retrieval, and a generator.
///
/// ```swift
/// let rag = try MemoRAG(configuration: .init(memoryModel: modelDir, retriever: retrieverDir))
/// try await rag.memorize(book, name: "alice", cacheDir: cache)
/// let result = try await rag.ask("How does Alice get into Wonderland?")
/// ```
/// The models run one request at a time (an actor); results are plain values.
public actor MemoRAG {
    public nonisolated let models: MemoRAGModels
    public nonisolated var configuration: MemoRAGConfiguration { models.configuration }
    var memoryModel: MemoryModel { models.memoryModel }
    var embedder: Embedder { models.embedder }
    var chunker: Chunker { models.chunker }
    var generator: AnswerGenerator { models.generator }
    var memoryIdentity: CacheManifest.ModelIdentity { models.memoryIdentity }
    var retrieverIdentity: CacheManifest.ModelIdentity { models.retrieverIdentity }
    private var customPrompts: PromptSet? { models.customPrompts }
    var store: MemoryStore?
    /// Each document's copied-span constraint, kept for the documents (by content hash) it was made for.
    var copiedSpanCache: CopiedSpanCache?
    /// Each document's entry-to-passage map and neutral attention, for the documents (by content hash) they were made for.
    var memoryAttentionCache: MemoryAttentionMaps?
    /// The passages' snippets embedded, for sentence search, for the documents (by content hash) they were made for.
    var snippetIndexCache: SnippetIndex?

    /// Loads the models of `configuration` for this pipeline alone.
    public init(configuration: MemoRAGConfiguration) throws {
        self.models = try MemoRAGModels(configuration: configuration)
    }

    /// A pipeline over models already loaded (several memories, e.g. in a server, share one set).
    public init(models: MemoRAGModels) {
        self.models = models
    }

    /// Documents in the loaded memory.
    public var documents: [String] { store?.manifest.documents.map(\.name) ?? [] }
    public var manifest: CacheManifest? { store?.manifest }

    // MARK: memorize

    /// Memorizes `text` as the only document of a new memory written to `cacheDir` (replacing what was there, but
    /// only once the new cache is complete).
    @discardableResult
    public func memorize(_ text: String, name: String = "document", cacheDir: URL,
                         progress: (@Sendable (MemorizeProgress) -> Void)? = nil) throws -> MemorizeReport {
        try memorize(documents: [(name, text)], cacheDir: cacheDir, progress: progress)
    }

    /// Memorizes several documents into one store: a memory per document and one shared passage index.
    @discardableResult
    public func memorize(documents: [(name: String, text: String)], cacheDir: URL,
                         progress: (@Sendable (MemorizeProgress) -> Void)? = nil) throws -> MemorizeReport {
        guard let first = documents.first else { throw MemoRAGError.invalidArgument("nothing to memorize") }
        let language = configuration.language ?? PromptSet.languageGuess(for: first.text)
        let prompts = try customPrompts ?? PromptSet.builtIn(language)
        let now = Self.timestamp()
        var manifest = CacheManifest(
            memoryModel: memoryIdentity, retriever: retrieverIdentity, retrieverDimension: embedder.dimension,
            mode: configuration.mode, language: language, chunkTokens: chunker.maxTokens,
            indexFactory: configuration.indexFactory, documents: [], chunkCount: 0, createdAt: now, updatedAt: now)
        var fresh = MemoryStore(dir: cacheDir, manifest: manifest, memories: [], chunks: [],
                                index: try VectorIndex(dimension: embedder.dimension, factory: configuration.indexFactory),
                                prompts: prompts)
        let report = try add(documents, to: &fresh, progress: progress, keepingFiles: [])
        manifest = fresh.manifest
        store = fresh
        return report
    }

    /// Adds a document to the loaded memory without touching the others' memories (their files are carried over
    /// as they are); the passage index grows by the new chunks. The cache dir is replaced atomically.
    @discardableResult
    public func addDocument(_ text: String, name: String,
                            progress: (@Sendable (MemorizeProgress) -> Void)? = nil) throws -> MemorizeReport {
        guard var current = store else { throw MemoRAGError.noMemory }
        let keep = current.manifest.documents.map(\.memoryFile)
        let report = try add([(name, text)], to: &current, progress: progress, keepingFiles: keep)
        store = current
        return report
    }

    private func add(_ documents: [(name: String, text: String)], to target: inout MemoryStore,
                     progress: (@Sendable (MemorizeProgress) -> Void)?, keepingFiles keep: [String]) throws
        -> MemorizeReport
    {
        let clock = ContinuousClock()
        let started = clock.now
        var seconds = MemorizeReport.Seconds()
        var store = target
        var newMemories: [(file: String, memory: any ContextMemory, name: String)] = []
        var tokens = 0
        var truncated = 0
        var ratio: Int?
        var entries = 0
        let existingNames = Set(store.manifest.documents.map(\.name))
        var names = existingNames
        for (name, text) in documents {
            guard !name.isEmpty, !names.contains(name) else {
                throw MemoRAGError.invalidArgument("a document named '\(name)' is already in this memory; names must be unique")
            }
            names.insert(name)
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw MemoRAGError.invalidArgument("document '\(name)' is empty")
            }
            // 1. The memory.
            var mark = clock.now
            let memory = try makeMemory(of: text, name: name, prompts: store.prompts, progress: progress)
            seconds.compression += (clock.now - mark).seconds
            // 2. Passages.
            mark = clock.now
            progress?(MemorizeProgress(stage: .chunking, document: name, done: 0, total: 1))
            let chunking = try chunker.chunk(text, document: name, firstId: store.chunks.count)
            truncated += chunking.truncatedChunkIds.count
            seconds.chunking += (clock.now - mark).seconds
            mark = clock.now
            let vectors = try embedder.embed(chunking.chunks.map(\.text)) { p in
                progress?(MemorizeProgress(stage: .embedding, document: name, done: p.done, total: p.total))
            }
            seconds.embedding += (clock.now - mark).seconds
            mark = clock.now
            progress?(MemorizeProgress(stage: .indexing, document: name, done: 0, total: chunking.chunks.count))
            if !store.index.isTrained { try store.index.train(vectors) }
            try store.index.add(vectors)
            seconds.indexing += (clock.now - mark).seconds

            let index = store.manifest.documents.count
            let file = index == 0 ? "memory.safetensors" : "memory-\(index).safetensors"
            store.manifest.documents.append(.init(
                name: name, sha256: sha256Hex(Data(text.utf8)), characters: text.unicodeScalars.count,
                tokens: memory.tokens, memoryFile: file, ratio: memory.ratio, memoryEntries: memory.state.entriesPerLayer,
                memoryPositions: memory.state.positions, firstChunk: store.chunks.count,
                chunkCount: chunking.chunks.count))
            store.chunks += chunking.chunks
            store.memories.append(memory.state)
            store.manifest.chunkCount = store.chunks.count
            newMemories.append((file, memory.state, name))
            tokens += memory.tokens
            ratio = memory.ratio ?? ratio
            entries = max(entries, memory.state.entriesPerLayer)
        }
        store.lexical = BM25Index(passages: store.chunks.map(\.text))
        // 3. Write everything, atomically replacing the cache dir.
        let mark = clock.now
        store.manifest.updatedAt = Self.timestamp()
        progress?(MemorizeProgress(stage: .writing, document: documents.last!.name, done: 0, total: 1))
        let snapshot = store
        let written = newMemories  // an immutable copy for the writer closure
        try CacheDirectory.replace(store.dir, keeping: keep) { [written] staging in
            for (file, memory, name) in written {
                try memory.save(to: staging.appendingPathComponent(file),
                                metadata: ["document": name, "memory_model_fingerprint": memoryIdentity.fingerprint])
            }
            try ChunkFile.write(snapshot.chunks, to: staging.appendingPathComponent("chunks.jsonl"))
            try snapshot.index.write(to: staging.appendingPathComponent("index.faiss"))
            try snapshot.manifest.write(to: staging)
        }
        seconds.writing = (clock.now - mark).seconds
        seconds.total = (clock.now - started).seconds
        target = store
        return MemorizeReport(documents: documents.map(\.name), tokens: tokens, chunks: store.chunks.count,
                              truncatedChunks: truncated, mode: configuration.mode, ratio: ratio, memoryEntries: entries,
                              seconds: seconds, cacheBytes: Self.size(of: store.dir))
    }

    private struct NewMemory {
        var state: any ContextMemory
        var tokens: Int
        var ratio: Int?
    }

    private func makeMemory(of text: String, name: String, prompts: PromptSet,
                            progress: (@Sendable (MemorizeProgress) -> Void)?) throws -> NewMemory {
        func report(_ stage: MemorizeProgress.Stage) -> (Int, Int) -> Void {
            { done, total in progress?(MemorizeProgress(stage: stage, document: name, done: done, total: total)) }
        }
        switch configuration.mode {
        case .beacon:
            let ids = memoryModel.memoryPromptIds(document: text, prompts: prompts)
            let ratio = try configuration.ratio ?? BeaconContextMemory.adaptiveRatio(
                tokens: ids.count, model: memoryModel.lm, reserved: configuration.reservedPositions)
            let state = try BeaconContextMemory.memorize(memoryModel.lm, promptIds: ids, ratio: ratio,
                                                         progress: report(.compression))
            return NewMemory(state: state, tokens: ids.count, ratio: ratio)
        case .longllm:
            let ids = memoryModel.memoryPromptIds(document: text, prompts: prompts)
            let state = try KVContextMemory.memorize(memoryModel.lm, mode: .longllm, promptIds: ids,
                                                     progress: report(.compression))
            return NewMemory(state: state, tokens: ids.count, ratio: nil)
        case .lite:
            let gists = try LiteGists.write(text, model: memoryModel, prompts: prompts,
                                            chunkTokens: configuration.gistChunkTokens,
                                            gistTokens: configuration.gistTokens, progress: report(.gisting))
            let ids = memoryModel.memoryPromptIds(document: gists, prompts: prompts)
            let state = try KVContextMemory.memorize(memoryModel.lm, mode: .lite, promptIds: ids,
                                                     progress: report(.compression))
            return NewMemory(state: state, tokens: ids.count, ratio: nil)
        }
    }

    // MARK: load

    /// Loads a cache dir written by `memorize`, refusing one made by another memory model or retriever.
    public func load(cacheDir: URL) throws {
        let manifest = try CacheManifest.read(from: cacheDir)
        try manifest.checkCompatible(memoryModel: memoryIdentity, retriever: retrieverIdentity, at: cacheDir)
        guard manifest.mode == configuration.mode else {
            throw MemoRAGError.incompatibleCache(path: cacheDir.path,
                reason: "it holds \(manifest.mode.rawValue) memories and this pipeline is set up for \(configuration.mode.rawValue)")
        }
        let chunks = try ChunkFile.read(cacheDir.appendingPathComponent("chunks.jsonl"))
        guard chunks.count == manifest.chunkCount else {
            throw MemoRAGError.corrupt(path: cacheDir.appendingPathComponent("chunks.jsonl").path,
                                       reason: "\(chunks.count) chunks, the manifest says \(manifest.chunkCount)")
        }
        let indexURL = cacheDir.appendingPathComponent("index.faiss")
        let index = try VectorIndex.read(from: indexURL)
        guard index.count == chunks.count, index.dimension == manifest.retrieverDimension else {
            throw MemoRAGError.corrupt(path: indexURL.path, reason: "the index holds \(index.count) vectors of "
                + "dimension \(index.dimension), expected \(chunks.count) of dimension \(manifest.retrieverDimension)")
        }
        var memories: [any ContextMemory] = []
        for document in manifest.documents {
            let url = try CacheManifest.memoryURL(of: document, in: cacheDir)
            switch manifest.mode {
            // The fingerprint computed once at init: recomputing it reads every weight (most of a second).
            case .beacon: memories.append(try BeaconContextMemory.load(from: url, for: memoryModel.lm,
                                                                       fingerprint: memoryIdentity.fingerprint))
            case .lite, .longllm: memories.append(try KVContextMemory.load(from: url, for: memoryModel.lm))
            }
        }
        let prompts = try customPrompts ?? PromptSet.builtIn(manifest.language)
        store = MemoryStore(dir: cacheDir, manifest: manifest, memories: memories, chunks: chunks, index: index,
                            prompts: prompts)
    }

    /// True when `cacheDir` loads with these models and holds exactly `documents` (same names and texts) in this
    /// pipeline's mode and ratio; the cache is then loaded, and memorizing again would change nothing.
    public func loadIfCurrent(cacheDir: URL, documents: [(name: String, text: String)]) -> Bool {
        guard (try? load(cacheDir: cacheDir)) != nil, let manifest = store?.manifest else { return false }
        let same = manifest.documents.map(\.name) == documents.map(\.name)
            && manifest.documents.map(\.sha256) == documents.map { sha256Hex(Data($0.text.utf8)) }
            && (configuration.ratio == nil || manifest.documents.allSatisfy { $0.ratio == configuration.ratio })
            && (configuration.language == nil || manifest.language == configuration.language)
        if !same { store = nil }
        return same
    }

    static func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }

    static func size(of dir: URL) -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.fileSizeKey])) ?? []
        return files.reduce(0) { $0 + ((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
    }
}

/// The models a pipeline runs: memory model, retriever, chunker and generator, loaded once and shared by any
/// number of `MemoRAG` instances. Their weights are only read after loading.
public final class MemoRAGModels: @unchecked Sendable {
    public let configuration: MemoRAGConfiguration
    let memoryModel: MemoryModel
    let embedder: Embedder
    let chunker: Chunker
    let generator: AnswerGenerator
    let memoryIdentity: CacheManifest.ModelIdentity
    let retrieverIdentity: CacheManifest.ModelIdentity
    let customPrompts: PromptSet?
    /// What the local models compute in (the configuration's choice, or the device's default when it made none).
    public let precision: InferencePrecision
    /// Where the memory model and a local generator run (`configuration.device` resolved).
    public let device: Device
    /// How the memory model was loaded (from prepared weights or its own files), and one line for each problem with
    /// the prepared weights (the caller shows them).
    public let memoryModelLoad: (route: PreparedLoad.Route, notices: [String])
    /// The same for a separate local generator (`GeneratorChoice.localModel`); nil when there is none.
    public let generatorLoad: (route: PreparedLoad.Route, notices: [String])?

    public init(configuration: MemoRAGConfiguration) throws {
        self.configuration = configuration
        do {
            device = try configuration.device.resolve()
            precision = try InferencePrecision.resolve(dtype: configuration.dtype, int8Weights: configuration.int8Weights,
                                                       device: device)
        } catch let error as TorchError {
            throw MemoRAGError.invalidArgument(error.message)
        }
        let dtype = precision.dtype
        // Beacon memories need beacon parameters: a plain model gets fresh ones (BeaconContextMemory.prepare).
        let settings = PreparedModelSettings(dtype: dtype, int8Weights: precision.int8Weights,
                                             beacon: configuration.mode == .beacon ? BeaconContextMemory.defaultSettings : nil,
                                             device: device)
        let loaded = try LanguageModel.loadPrepared(configuration.memoryModel, settings: settings,
                                                    cache: configuration.preparedWeights)
        let lm = loaded.lm
        memoryModelLoad = (loaded.route, loaded.notices)
        memoryModel = try MemoryModel(lm)
        embedder = try Embedder(directory: configuration.retriever, dtype: .float32)
        if let tokens = configuration.chunkTokens, tokens < Chunker.minimumTokens {
            throw MemoRAGError.invalidArgument("chunk size \(tokens) is below the minimum of \(Chunker.minimumTokens) tokens")
        }
        chunker = Chunker(embedder: embedder, maxTokens: configuration.chunkTokens)
        customPrompts = try configuration.promptsFile.map(PromptSet.load)
        memoryIdentity = .init(source: configuration.memoryModel.path, fingerprint: loaded.fingerprint,
                               tokenizerSHA256: tokenizerFingerprint(lm.tokenizer))
        retrieverIdentity = .init(source: configuration.retriever.path, fingerprint: embedder.fingerprint,
                                  tokenizerSHA256: nil)
        var readerLoad: (route: PreparedLoad.Route, notices: [String])?
        switch configuration.generator {
        case .memoryModel: generator = .memoryModel
        case .memoryModelOnEvidence: generator = .local(memoryModel)
        case .localModel(let url):
            // The same prepared-weights cache as the memory model, so a separate reader loads as fast.
            let reader = try LanguageModel.loadPrepared(url, settings: PreparedModelSettings(
                dtype: dtype, int8Weights: precision.int8Weights, beacon: nil, device: device), cache: configuration.preparedWeights)
            readerLoad = (reader.route, reader.notices)
            generator = .local(try MemoryModel(reader.lm))
        case .openAI(let remote): generator = .openAI(OpenAIChatClient(configuration: remote))
        }
        generatorLoad = readerLoad
    }

    /// The memory model's identity (config + weights fingerprint, tokenizer hash), as caches record it.
    public var memoryModelIdentity: CacheManifest.ModelIdentity { memoryIdentity }
    public var retrieverModelIdentity: CacheManifest.ModelIdentity { retrieverIdentity }
    /// Tokens of `text` in the memory model's tokenizer (for request limits).
    public func tokenCount(_ text: String) -> Int { memoryModel.lm.tokenizer.encode(text, addSpecialTokens: false).count }
}

/// A loaded memory: the documents' memories, their passages and the shared index.
struct MemoryStore {
    var dir: URL
    var manifest: CacheManifest
    var memories: [any ContextMemory]
    var chunks: [Chunk]
    var index: VectorIndex
    var prompts: PromptSet
    /// BM25 over `chunks`, for hybrid search; rebuilt whenever the chunks change (milliseconds for a book).
    var lexical: BM25Index

    init(dir: URL, manifest: CacheManifest, memories: [any ContextMemory], chunks: [Chunk], index: VectorIndex,
         prompts: PromptSet) {
        self.dir = dir
        self.manifest = manifest
        self.memories = memories
        self.chunks = chunks
        self.index = index
        self.prompts = prompts
        lexical = BM25Index(passages: chunks.map(\.text))
    }
}

/// Who answers from the evidence.
enum AnswerGenerator {
    case memoryModel
    case local(MemoryModel)
    case openAI(OpenAIChatClient)
}
