import Foundation
import NN
import Torch

extension DecoderLM {
    /// Loads an HF-layout directory: `config.json` plus `model.safetensors` (or shards with an index). Loading is
    /// strict: after `sanitize`, a missing or unexpected tensor or a shape that disagrees with the config is an error.
    /// Weights are converted to `dtype`.
    public static func load(directory: URL, dtype: DType = .float32) throws -> DecoderLM {
        let config: DecoderConfig = try readJSON(directory.appendingPathComponent("config.json"))
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let shapes = Dictionary(uniqueKeysWithValues: checkpoint.names.compactMap { name in
            checkpoint.entry(name).map { (name, $0.shape) }
        })
        try config.check(againstShapes: shapes, source: directory.path)
        let model = try DecoderLM(config: config, dtype: dtype, initialization: .uninitialized)
        let weights = try checkpoint.tensors()
        try checkFinite(weights) { checkpoint.file(containing: $0)?.url.path ?? directory.path }
        try model.load(weights: weights, from: directory)
        return model
    }

    /// Installs `weights` (HF names) into the model, strictly; `source` names the origin in errors.
    public func load(weights: [String: Tensor], from source: URL) throws {
        do {
            try update(parameters: completingBeaconWeights(sanitize(weights)))
        } catch let error as ModuleError {
            throw ModelError.incompatibleWeights(path: source.path, reason: error.localizedDescription)
        }
    }
}

/// Refuses weights holding a NaN or an infinity (one reduction per tensor): such a model answers "!!" or nothing,
/// and int8 packing fails inside libtorch, so the file is named here instead. `file` names a tensor's file.
func checkFinite(_ weights: [String: Tensor], file: (String) -> String) throws {
    for (name, tensor) in weights.sorted(by: { $0.key < $1.key }) where tensor.dtype.isFloatingPoint {
        guard try tensor.isFinite().all().item() != 0 else {
            throw ModelError.unreadable(path: file(name), reason: "tensor \(name) holds NaN or infinite values")
        }
    }
}

/// Decodes a JSON file, turning every failure into a `ModelError` that names the file and the problem.
func readJSON<T: Decodable>(_ url: URL) throws -> T {
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        throw ModelError.unreadable(path: url.path, reason: "cannot read the file (\(error.localizedDescription))")
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch {
        throw ModelError.unreadable(path: url.path, reason: describeDecodingError(error))
    }
}

/// What went wrong decoding a config, naming the key where one is known.
func describeDecodingError(_ error: Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let context): return describe(context, fallback: "not valid JSON")
    case DecodingError.keyNotFound(let key, let context): return "missing key '\(key.stringValue)'" + at(context)
    case DecodingError.typeMismatch(let type, let context): return "wrong type (expected \(type))" + at(context)
    case DecodingError.valueNotFound(let type, let context): return "null where \(type) is needed" + at(context)
    default: return error.localizedDescription
    }
}

private func at(_ context: DecodingError.Context) -> String {
    let path = context.codingPath.map(\.stringValue).joined(separator: ".")
    return path.isEmpty ? "" : " at '\(path)'"
}

private func describe(_ context: DecodingError.Context, fallback: String) -> String {
    // Our own validation messages (e.g. unsupported model_type) are the debug description; JSON syntax errors
    // carry a generic one plus the underlying error.
    if context.underlyingError != nil { return fallback }
    return context.debugDescription + at(context)
}
