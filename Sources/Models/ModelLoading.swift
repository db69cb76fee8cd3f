import Foundation
import NN
import Torch

extension DecoderLM {
    /// Loads an HF-layout directory: `config.json` plus `model.safetensors` (or shards with an index). Loading is
    /// strict: after `sanitize`, a missing or unexpected tensor or a shape that disagrees with the config is an error.
    /// Weights are converted to `dtype`.
    public static func load(directory: URL, dtype: DType = .float32) throws -> DecoderLM {
        let config: DecoderConfig = try readJSON(directory.appendingPathComponent("config.json"))
        let model = try DecoderLM(config: config, dtype: dtype, initialization: .uninitialized)
        let weights = try SafetensorsCheckpoint(directory: directory).tensors()
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
    } catch let DecodingError.dataCorrupted(context) {
        throw ModelError.unreadable(path: url.path, reason: describe(context, fallback: "not valid JSON"))
    } catch let DecodingError.keyNotFound(key, context) {
        throw ModelError.unreadable(path: url.path, reason: "missing key '\(key.stringValue)'" + at(context))
    } catch let DecodingError.typeMismatch(type, context) {
        throw ModelError.unreadable(path: url.path, reason: "wrong type (expected \(type))" + at(context))
    } catch let DecodingError.valueNotFound(type, context) {
        throw ModelError.unreadable(path: url.path, reason: "null where \(type) is needed" + at(context))
    } catch {
        throw ModelError.unreadable(path: url.path, reason: error.localizedDescription)
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
