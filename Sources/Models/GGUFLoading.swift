import Foundation
import Torch

extension DecoderLM {
    /// Loads a llama.cpp GGUF file: the config from its metadata, every tensor dequantised (llama.cpp's Q/K row
    /// permutation undone) and mapped to its HF name, then loaded strictly as from an HF directory.
    public static func load(gguf url: URL, dtype: DType = .float32) throws -> DecoderLM {
        let file = try GGUFFile(url: url)
        let config = try decoderConfig(of: file)
        let tensors = try file.hfTensors()
        try config.check(againstShapes: Dictionary(tensors.map { ($0.name, $0.shape) }) { first, _ in first },
                         source: url.path)
        let model = try DecoderLM(config: config, dtype: dtype, initialization: .uninitialized)
        var weights: [String: Tensor] = [:]
        for tensor in tensors {
            let values = try file.dequantize(tensor)
            let full = try Tensor(values, shape: tensor.shape)
            weights[tensor.name] = dtype == .float32 ? full : try full.to(dtype)
        }
        try checkFinite(weights) { _ in url.path }
        try model.load(weights: weights, from: url)
        return model
    }

    /// The HF config a GGUF file describes (what `memorag convert` writes as config.json).
    public static func decoderConfig(of file: GGUFFile) throws -> DecoderConfig {
        let object = try file.hfConfig()
        do {
            let data = try JSONSerialization.data(withJSONObject: object)
            return try JSONDecoder().decode(DecoderConfig.self, from: data)
        } catch {
            throw ModelError.unreadable(path: file.path, reason: "metadata does not describe a supported decoder: "
                + describeDecodingError(error))
        }
    }
}
