import Foundation
import NN
import Torch

/// A memory model shipped as a delta: `config.json` (with the beacon keys), `model.safetensors` holding the beacon
/// tensors (and, where the base's projections were tuned, their LoRA factors `X.lora_A.weight` / `X.lora_B.weight`),
/// the tokenizer files, and `manifest.json` naming the frozen base (a GGUF or HF dir) with its size and sha256.
/// Loading takes the base from the model cache that setup fills, checks it is the named file, adds the beacon
/// parameters the config describes, installs the trained ones and folds each LoRA pair into its base weight
/// (`W + alpha/rank · B A`, so inference pays nothing for it).
public enum BeaconDelta {
    public static let manifestFormat = "memorag.beacon-delta"

    public struct Manifest: Codable, Sendable, Equatable {
        public var format: String
        public var version: Int
        /// File (or dir) name of the base, e.g. `SmolLM2-135M-Instruct.Q4_1.gguf`.
        public var baseModel: String
        /// Where the base was when the delta was made (tried first).
        public var basePath: String?
        public var baseSize: Int?
        public var baseSHA256: String?
        public var trainedSteps: Int?
        public var tensors: [String]
        /// Rank and alpha of the LoRA factors among `tensors` (nil: there are none).
        public var loraRank: Int?
        public var loraAlpha: Double?

        enum CodingKeys: String, CodingKey {
            case format, version, tensors
            case baseModel = "base_model"
            case basePath = "base_path"
            case baseSize = "base_size"
            case baseSHA256 = "base_sha256"
            case trainedSteps = "trained_steps"
            case loraRank = "lora_rank"
            case loraAlpha = "lora_alpha"
        }

        /// The LoRA scale alpha/rank, nil without LoRA factors.
        public var loraScale: Double? {
            guard let loraRank, let loraAlpha, loraRank > 0 else { return nil }
            return loraAlpha / Double(loraRank)
        }
    }

    public static let loraSuffixes = (a: ".lora_A.weight", b: ".lora_B.weight")

    /// The layer prefixes (`model.layers.0.self_attn.q_proj`) of the LoRA pairs among `names`.
    public static func loraPrefixes<S: Sequence>(_ names: S) -> [String] where S.Element == String {
        names.filter { $0.hasSuffix(loraSuffixes.a) }.map { String($0.dropLast(loraSuffixes.a.count)) }.sorted()
    }

    /// The manifest of `directory` when it holds a beacon delta, nil for an ordinary model dir.
    public static func manifest(in directory: URL) throws -> Manifest? {
        let url = directory.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let manifest: Manifest = try readJSON(url)
        guard manifest.format == manifestFormat else { return nil }
        return manifest
    }

    /// Where the base is: the recorded path, else the same file name anywhere one level below `modelsDirectory`.
    /// A delta may come from anyone, so its manifest cannot point the loader at any file it likes: `base_model` is a
    /// plain name resolved inside the models cache (no `..`, no symlink out), and `base_path` — the absolute place
    /// the base was when the delta was made — is followed only when it names that same file.
    public static func locateBase(_ manifest: Manifest, modelsDirectory: URL, delta: URL) throws -> URL {
        let fm = FileManager.default
        func refused(_ reason: String) -> ModelError {
            .unreadable(path: delta.appendingPathComponent("manifest.json").path, reason: reason)
        }
        guard !manifest.baseModel.contains("/") else {
            throw refused("base_model \"\(manifest.baseModel)\" must be a file or dir name, not a path")
        }
        var candidates: [URL] = []
        if let path = manifest.basePath {
            let url = URL(fileURLWithPath: path)
            guard path.hasPrefix("/"), !path.split(separator: "/").contains(".."),
                  url.lastPathComponent == manifest.baseModel else {
                throw refused("base_path \"\(path)\" must be an absolute path (without '..') to base_model "
                    + "\"\(manifest.baseModel)\"")
            }
            candidates.append(url)
        }
        let subdirectories = (try? fm.contentsOfDirectory(at: modelsDirectory, includingPropertiesForKeys: nil)) ?? []
        do {
            candidates += try subdirectories.map { try ContainedPath.resolve(manifest.baseModel, in: $0) }
        } catch let escape as ContainedPath.Escape {
            throw refused("base_model: \(escape.localizedDescription)")
        }
        guard let base = candidates.first(where: { fm.fileExists(atPath: $0.path) }) else {
            throw ModelError.unreadable(path: delta.path, reason: "its base model \(manifest.baseModel) is not installed "
                + "(looked in \(modelsDirectory.path)); run scripts/setup.sh, which installs it")
        }
        if let size = manifest.baseSize, let actual = (try? fm.attributesOfItem(atPath: base.path))?[.size] as? NSNumber,
           actual.intValue != size {
            throw ModelError.incompatibleWeights(path: delta.path, reason: "its base must be \(manifest.baseModel) of "
                + "\(size) bytes, but \(base.path) has \(actual.intValue)")
        }
        return base
    }

    /// Adds the delta's beacon parameters to `model` (a loaded base): settings from the delta's config.json, weights
    /// from its model.safetensors, converted to the model's dtype. Every tensor must be a beacon parameter of the
    /// model, and every beacon parameter must be in the delta.
    public static func apply(to model: DecoderLM, from directory: URL) throws {
        let config: DecoderConfig = try readJSON(directory.appendingPathComponent("config.json"))
        guard let settings = config.beacon else {
            throw ModelError.invalidConfig("\(directory.path)/config.json: a beacon delta needs the beacon_* keys")
        }
        guard config.hiddenSize == model.config.hiddenSize, config.numHiddenLayers == model.config.numHiddenLayers,
              config.vocabSize == model.config.vocabSize else {
            throw ModelError.incompatibleWeights(path: directory.path, reason: "the delta was made for another base "
                + "(hidden \(config.hiddenSize), \(config.numHiddenLayers) layers, vocabulary \(config.vocabSize))")
        }
        if model.config.beacon == nil { try model.addBeacon(settings) }
        var weights = try SafetensorsCheckpoint(directory: directory).tensors()
        let lora = try loraUpdates(&weights, model: model, manifest: try manifest(in: directory), directory: directory)
        let beaconNames = Set(model.parameters().map(\.name).filter { $0.contains("beacon") })
        if let stray = weights.keys.sorted().first(where: { !beaconNames.contains($0) }) {
            throw ModelError.incompatibleWeights(path: directory.path, reason: "tensor \(stray) is not a beacon parameter of the base")
        }
        if let missing = beaconNames.subtracting(weights.keys).sorted().first {
            throw ModelError.incompatibleWeights(path: directory.path, reason: "the delta lacks \(missing)")
        }
        do {
            try model.update(parameters: try weights.mapValues { try $0.to(model.dtype) }.merging(lora) { $1 }, strict: false)
        } catch let error as ModuleError {
            throw ModelError.incompatibleWeights(path: directory.path, reason: error.localizedDescription)
        }
    }

    /// Takes the LoRA pairs out of `weights` and returns the base weights they update (`W + scale · B A`), checked
    /// against the model's Linear layers and the manifest's rank.
    private static func loraUpdates(_ weights: inout [String: Tensor], model: DecoderLM, manifest: Manifest?,
                                    directory: URL) throws -> [String: Tensor] {
        let prefixes = loraPrefixes(weights.keys)
        guard !prefixes.isEmpty else { return [:] }
        guard let manifest, let scale = manifest.loraScale, let rank = manifest.loraRank else {
            throw ModelError.incompatibleWeights(path: directory.path, reason: "LoRA factors without lora_rank and "
                + "lora_alpha in manifest.json")
        }
        let base = Dictionary(model.parameters().map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var updates: [String: Tensor] = [:]
        for prefix in prefixes {
            guard let a = weights.removeValue(forKey: prefix + loraSuffixes.a),
                  let b = weights.removeValue(forKey: prefix + loraSuffixes.b) else {
                throw ModelError.incompatibleWeights(path: directory.path, reason: "\(prefix) has lora_A but no lora_B")
            }
            guard let w = base[prefix + ".weight"], w.rank == 2, !prefix.contains("beacon") else {
                throw ModelError.incompatibleWeights(path: directory.path, reason: "LoRA factors for \(prefix), which is "
                    + "not a projection of the base")
            }
            guard a.shape == [rank, w.dim(1)], b.shape == [w.dim(0), rank] else {
                throw ModelError.incompatibleWeights(path: directory.path, reason: "LoRA factors of \(prefix) are "
                    + "\(a.shape) and \(b.shape); rank \(rank) over a \(w.shape) weight needs [\(rank), \(w.dim(1))] and "
                    + "[\(w.dim(0)), \(rank)]")
            }
            updates[prefix + ".weight"] = try withNoGrad { try Linear.mergedWeight(w, loraA: a, loraB: b, scale: scale) }
        }
        if let stray = weights.keys.sorted().first(where: { $0.contains(".lora_") }) {
            throw ModelError.incompatibleWeights(path: directory.path, reason: "\(stray) has no lora_A partner")
        }
        return updates
    }
}
