import Foundation
import Models
import NN
import Torch

/// The `longllm` and `lite` memories: the plain (uncompressed) KV cache of the memory prompt.
final class KVContextMemory: ContextMemory {
    let mode: MemoryMode
    private let cache: KVCache

    private init(mode: MemoryMode, cache: KVCache) {
        self.mode = mode
        self.cache = cache
    }

    var positions: Int { cache.count }
    var entriesPerLayer: Int { cache.count }

    /// Reads `promptIds` (the rendered memory prompt) into a fresh cache.
    static func memorize(_ lm: LanguageModel, mode: MemoryMode, promptIds: [Int], chunk: Int = 512,
                         progress: ((Int, Int) -> Void)? = nil) throws -> KVContextMemory {
        let limit = lm.model.config.maxPositionEmbeddings
        guard promptIds.count < limit else {
            throw MemoRAGError.tooLong("the memory prompt has \(promptIds.count) tokens but the \(mode.rawValue) memory "
                + "holds at most \(limit) positions of this model; use --mode beacon (compression) or a shorter text")
        }
        let cache = lm.model.makeCache()
        try withNoGrad {
            for start in stride(from: 0, to: promptIds.count, by: chunk) {
                let piece = Array(promptIds[start..<min(promptIds.count, start + chunk)])
                _ = try lm.model.hiddenStates(try Tensor(piece.map(Int64.init), shape: [1, piece.count]), cache: cache)
                progress?(start + piece.count, promptIds.count)
            }
        }
        return KVContextMemory(mode: mode, cache: cache)
    }

    /// `sharedPrefix` is not used: copying the cache and reading the prompt cost alike here.
    func generate(_ lm: LanguageModel, promptIds: [Int], sharedPrefix: Int, parameters: GenerationParameters,
                  stopStrings: [String], onText: (String) -> Bool) throws -> LanguageModel.TextResult {
        let cache = self.cache.copy()
        return try lm.decodeText(stopStrings: stopStrings, onText: onText) { onToken in
            try lm.model.generate(promptIds: promptIds, parameters: parameters, cache: cache, onToken: onToken)
        }
    }

    func save(to url: URL, metadata: [String: String]) throws {
        var tensors: [String: Tensor] = [:]
        for (i, layer) in cache.layers.enumerated() {
            guard let keys = layer.keys, let values = layer.values else { continue }
            tensors["layers.\(i).keys"] = keys
            tensors["layers.\(i).values"] = values
        }
        var metadata = metadata
        metadata["memory_mode"] = mode.rawValue
        metadata["layers"] = String(cache.layers.count)
        try Safetensors.save(tensors, metadata: metadata, to: url)
    }

    /// Restores a state saved by `save`; the shapes must fit `lm`'s layers and heads.
    static func load(from url: URL, for lm: LanguageModel) throws -> KVContextMemory {
        let (tensors, metadata) = try Safetensors.load(url)
        guard let mode = metadata["memory_mode"].flatMap(MemoryMode.init), mode != .beacon else {
            throw MemoRAGError.corrupt(path: url.path, reason: "not a KV memory (memory_mode is \(metadata["memory_mode"] ?? "missing"))")
        }
        let config = lm.model.config
        let expected = [1, config.numKeyValueHeads, -1, config.headDim]
        var layers: [KVCacheLayer] = []
        for i in 0..<config.numHiddenLayers {
            guard let keys = tensors["layers.\(i).keys"], let values = tensors["layers.\(i).values"] else {
                throw MemoRAGError.corrupt(path: url.path, reason: "layer \(i) has no keys/values")
            }
            for t in [keys, values] where t.shape.count != 4 || t.dim(0) != 1 || t.dim(1) != expected[1]
                || t.dim(3) != expected[3] || t.dim(2) != keys.dim(2) {
                throw MemoRAGError.corrupt(path: url.path, reason: "layer \(i) has shape \(t.shape), expected [1, \(expected[1]), n, \(expected[3])]")
            }
            // Saved in host memory; restored onto the device of the model that continues from it.
            let device = lm.model.device
            layers.append(KVCacheLayer(keys: try keys.to(lm.model.dtype).to(device: device),
                                       values: try values.to(lm.model.dtype).to(device: device)))
        }
        guard tensors.count == 2 * config.numHiddenLayers else {
            throw MemoRAGError.corrupt(path: url.path, reason: "\(tensors.count / 2) layers stored, the model has \(config.numHiddenLayers)")
        }
        return KVContextMemory(mode: mode, cache: KVCache(layers: layers))
    }
}
