import Foundation
import Models
import Torch

/// The model a recipe starts from, with the non-weight files that travel with every checkpoint and export.
public struct ModelSource {
    public let decoder: DecoderLM
    /// tokenizer.json, tokenizer_config.json, generation_config.json… by name (what exists for this model).
    public let files: [String: Data]

    /// Files of an HF dir that are copied along (weights and config.json are written by the trainer itself).
    public static let companionFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "chat_template.jinja"]

    /// `path` is an HF-layout directory or a GGUF file (dequantised to `dtype`).
    public static func load(path: String, dtype: DType) throws -> ModelSource {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TrainingError.invalidModel(path: url.path, reason: "no such file or directory (model.path)")
        }
        if isDirectory.boolValue, let delta = try BeaconDelta.manifest(in: url) {
            // A beacon delta (like the shipped model): its base, with the trained beacon parameters installed, and
            // the delta's own tokenizer and generation files.
            let base = try load(path: try BeaconDelta.locateBase(delta, modelsDirectory: LanguageModel.modelsDirectory,
                                                                 delta: url).path, dtype: dtype)
            try BeaconDelta.apply(to: base.decoder, from: url)
            var files = base.files
            for name in companionFiles {
                if let data = FileManager.default.contents(atPath: url.appendingPathComponent(name).path) { files[name] = data }
            }
            return ModelSource(decoder: base.decoder, files: files)
        }
        if isDirectory.boolValue {
            let decoder = try DecoderLM.load(directory: url, dtype: dtype)
            var files: [String: Data] = [:]
            for name in companionFiles {
                if let data = FileManager.default.contents(atPath: url.appendingPathComponent(name).path) { files[name] = data }
            }
            return ModelSource(decoder: decoder, files: files)
        }
        guard url.pathExtension == "gguf" else {
            throw TrainingError.invalidModel(path: url.path, reason: "model.path must be an HF model dir or a .gguf file")
        }
        let decoder = try DecoderLM.load(gguf: url, dtype: dtype)
        var files = try GGUFConversion.tokenizerFiles(of: GGUFFile(url: url))
        var generation: [String: Any] = ["do_sample": false]
        if let bos = decoder.config.bosTokenId { generation["bos_token_id"] = bos }
        if let eos = decoder.config.eosTokenIds.first { generation["eos_token_id"] = eos }
        files["generation_config.json"] = try JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys])
        return ModelSource(decoder: decoder, files: files)
    }
}
