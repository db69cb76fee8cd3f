import NN
import Torch

extension DecoderLM {
    /// Whether `quantizeInt8()` has packed this model's linears.
    public var isInt8: Bool { body.layers.first?.linears(named: ["q_proj"]).first?.linear.int8 != nil }

    /// Packs every projection (attention, MLP, beacon projections) and the output layer — the embedding table when
    /// tied — as int8 for inference: `y = x Wᵀ` runs on int8 weights with dynamically quantized activations
    /// (`Int8Linear`) whenever no gradient is wanted. The float weights stay (embedding lookups, training, export).
    /// Only float32 models: bf16 activations keep their own kernels.
    public func quantizeInt8() throws {
        guard dtype == .float32 else {
            throw TorchError("int8 weights need a float32 model (this one computes in \(dtype))")
        }
        guard Int8Linear.isSupported else {
            throw TorchError("this libtorch has no x86 quantized engine (fbgemm/onednn), so int8 weights are unavailable")
        }
        for (_, linear) in body.linears() { try linear.quantizeInt8() }
        // Projections that read the same input also go as one product (one call per token instead of three / two).
        for layer in body.layers {
            try layer.attention.packFusedInt8()
            try layer.mlp.packFusedInt8()
        }
        if let lmHead { try lmHead.quantizeInt8() } else { try body.embedTokens.quantizeInt8() }
    }

    /// Goes back to the float weights everywhere.
    public func dropInt8() {
        for (_, linear) in body.linears() { linear.dropInt8() }
        for layer in body.layers {
            layer.attention.dropFusedInt8()
            layer.mlp.dropFusedInt8()
        }
        lmHead?.dropInt8()
        body.embedTokens.dropInt8()
    }
}
