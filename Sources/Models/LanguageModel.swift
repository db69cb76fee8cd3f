import Foundation
import Tokenizers
import Torch

/// A decoder with its tokenizer and chat format, loaded from an HF-layout directory or a llama.cpp GGUF file.
public struct LanguageModel {
    public let model: DecoderLM
    public let tokenizer: any Tokenizer
    /// nil when the model has no (recognised) chat template.
    public let chatTemplate: ChatTemplate?
    public let source: URL

    /// Parts loaded separately: a decoder already in memory (one a trainer is training) with the tokenizer and chat
    /// format of the path it came from (`tokenizer(at:)`, `chatTemplate(at:)`).
    public init(model: DecoderLM, tokenizer: any Tokenizer, chatTemplate: ChatTemplate?, source: URL) {
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.source = source
    }

    /// `path` is a directory with config.json (HF layout), a beacon delta over an installed base (see `BeaconDelta`),
    /// a `.gguf` file, or a directory holding one `.gguf`. The weights are read on the CPU and the model is then moved
    /// to `device` as a whole.
    public static func load(_ path: URL, dtype: DType = .float32, device: Device) throws -> LanguageModel {
        let lm = try load(path, dtype: dtype)
        try lm.model.move(to: device)
        return lm
    }

    /// `load(_:dtype:device:)` on the CPU.
    public static func load(_ path: URL, dtype: DType = .float32) throws -> LanguageModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw ModelError.unreadable(path: path.path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue { return try loadGGUF(path, dtype: dtype) }
        if let delta = try BeaconDelta.manifest(in: path) {
            let base = try load(BeaconDelta.locateBase(delta, modelsDirectory: modelsDirectory, delta: path), dtype: dtype)
            try BeaconDelta.apply(to: base.model, from: path)
            let hasTokenizer = FileManager.default.fileExists(atPath: path.appendingPathComponent("tokenizer.json").path)
            return LanguageModel(model: base.model, tokenizer: hasTokenizer ? try loadTokenizer(directory: path) : base.tokenizer,
                                 chatTemplate: (try? ChatTemplate.load(directory: path)) ?? base.chatTemplate, source: path)
        }
        if FileManager.default.fileExists(atPath: path.appendingPathComponent("config.json").path) {
            let model = try DecoderLM.load(directory: path, dtype: dtype)
            let tokenizer = try loadTokenizer(directory: path)
            return LanguageModel(model: model, tokenizer: tokenizer, chatTemplate: try? ChatTemplate.load(directory: path),
                                 source: path)
        }
        let ggufs = (try? FileManager.default.contentsOfDirectory(atPath: path.path))?.filter { $0.hasSuffix(".gguf") } ?? []
        guard ggufs.count == 1 else {
            throw ModelError.unreadable(path: path.path, reason: ggufs.isEmpty
                ? "neither config.json nor a .gguf file here" : "several .gguf files here; name one")
        }
        return try loadGGUF(path.appendingPathComponent(ggufs[0]), dtype: dtype)
    }

    /// The tokenizer of what `load(_:)` would load from `path`, without reading any weights (for counting tokens).
    public static func tokenizer(at path: URL) throws -> any Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw ModelError.unreadable(path: path.path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue { return try tokenizer(of: GGUFFile(url: path)) }
        if FileManager.default.fileExists(atPath: path.appendingPathComponent("tokenizer.json").path) {
            return try loadTokenizer(directory: path)
        }
        if let delta = try BeaconDelta.manifest(in: path) {
            return try tokenizer(at: BeaconDelta.locateBase(delta, modelsDirectory: modelsDirectory, delta: path))
        }
        let ggufs = (try? FileManager.default.contentsOfDirectory(atPath: path.path))?.filter { $0.hasSuffix(".gguf") } ?? []
        guard ggufs.count == 1 else {
            throw ModelError.unreadable(path: path.path, reason: ggufs.isEmpty
                ? "neither tokenizer.json nor a .gguf file here" : "several .gguf files here; name one")
        }
        return try tokenizer(of: GGUFFile(url: path.appendingPathComponent(ggufs[0])))
    }

    /// The chat format of what `load(_:)` would load from `path`, without reading any weights; nil when it has no
    /// recognised template.
    public static func chatTemplate(at path: URL) throws -> ChatTemplate? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw ModelError.unreadable(path: path.path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue {
            let file = try GGUFFile(url: path)
            return ggufChatTemplate(file, tokenizer: try tokenizer(of: file), source: path)
        }
        if let template = try? ChatTemplate.load(directory: path) { return template }
        if let delta = try BeaconDelta.manifest(in: path) {
            return try chatTemplate(at: BeaconDelta.locateBase(delta, modelsDirectory: modelsDirectory, delta: path))
        }
        let ggufs = (try? FileManager.default.contentsOfDirectory(atPath: path.path))?.filter { $0.hasSuffix(".gguf") } ?? []
        guard ggufs.count == 1 else { return nil }
        let url = path.appendingPathComponent(ggufs[0]), file = try GGUFFile(url: url)
        return ggufChatTemplate(file, tokenizer: try tokenizer(of: file), source: url)
    }

    /// A GGUF's chat template, with its tokenizer's BOS/EOS strings (Mistral's format writes them).
    static func ggufChatTemplate(_ file: GGUFFile, tokenizer: any Tokenizer, source: URL) -> ChatTemplate? {
        let bos = tokenizer.specialTokens.bos.flatMap { tokenizer.token(for: $0) } ?? "<s>"
        let eos = tokenizer.specialTokens.eos.flatMap { tokenizer.token(for: $0) } ?? "</s>"
        return try? ChatTemplate.detect(from: file.chatTemplate, source: source.path, bosToken: bos, eosToken: eos)
    }

    /// Whether `path` holds llama.cpp weights (a `.gguf`, a directory holding only one, or a beacon delta over one):
    /// their own precision is no float dtype, so callers choose one by speed; HF weights run in float32 by default,
    /// as transformers runs them.
    public static func isGGUF(_ path: URL) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else { return false }
        if !isDirectory.boolValue { return path.pathExtension.lowercased() == "gguf" }
        if let delta = try? BeaconDelta.manifest(in: path) {
            return (try? BeaconDelta.locateBase(delta, modelsDirectory: modelsDirectory, delta: path)).map(isGGUF) ?? false
        }
        return !FileManager.default.fileExists(atPath: path.appendingPathComponent("config.json").path)
    }

    static func loadGGUF(_ url: URL, dtype: DType) throws -> LanguageModel {
        let file = try GGUFFile(url: url)
        let model = try DecoderLM.load(gguf: url, dtype: dtype)
        let tokenizer = try Self.tokenizer(of: file)
        return LanguageModel(model: model, tokenizer: tokenizer,
                             chatTemplate: ggufChatTemplate(file, tokenizer: tokenizer, source: url), source: url)
    }

    /// Where setup installs base weights (`$MEMORAG_CACHE/models`, default `~/.cache/memorag/models`): beacon
    /// deltas find their base there.
    public static var modelsDirectory: URL {
        let cache = ProcessInfo.processInfo.environment["MEMORAG_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/memorag").path
        return URL(fileURLWithPath: cache).appendingPathComponent("models")
    }

    /// Ids that end a generated reply: EOS of the tokenizer and the config, and the chat format's end-of-turn token.
    public var stopTokenIds: Set<Int> {
        var ids = Set(model.config.eosTokenIds)
        if let eos = tokenizer.specialTokens.eos { ids.insert(eos) }
        ids.formUnion(tokenizer.specialTokens.extraEOS)
        if case .chatML = chatTemplate, let end = tokenizer.id(for: "<|im_end|>") { ids.insert(end) }
        return ids
    }
}
