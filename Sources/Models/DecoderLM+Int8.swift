import NN
import Torch

extension DecoderLM {
    /// Whether `quantizeInt8()` has packed this model's linears.
    public var isInt8: Bool { body.layers.first?.linears(named: ["o_proj"]).first?.linear.int8 != nil }

    /// Packs every projection (attention, MLP, beacon projections) and the output layer — the embedding table when
    /// tied — as int8 for inference: `y = x Wᵀ` runs on int8 weights with dynamically quantized activations
    /// (`Int8Linear`) whenever no gradient is wanted. The float weights stay (embedding lookups, training, export).
    /// Only float32 models: bf16 activations keep their own kernels.
    ///
    /// Projections that read the same input go as one product (q/k/v, and the feed-forward gate and up: one call per
    /// token instead of three / two). q, gate and up then get no int8 copy of their own, since the product serves
    /// exactly where theirs would (float32 input, no gradient); k and v keep one, which beacon layers call alone.
    public func quantizeInt8() throws {
        try checkInt8Supported()
        for slot in int8Slots() { try slot.install(try Int8Linear(weight: slot.weight(), bias: slot.bias())) }
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

    /// The packed int8 weights `quantizeInt8()` made, by slot name (`model.layers.0.self_attn.qkv`,
    /// `model.layers.0.self_attn.o_proj`, `model.embed_tokens`, …), in a fixed order; empty when not packed.
    public func int8Weights() -> [(name: String, packed: Int8Linear)] {
        int8Slots().compactMap { slot in slot.current().map { (slot.name, $0) } }
    }

    /// The slots `quantizeInt8()` fills, with the [out, in] shape and whether a bias goes with each: what stored
    /// int8 weights must provide (`useInt8`).
    public func int8Layout() -> [(name: String, shape: [Int], hasBias: Bool)] {
        int8Slots().map { ($0.name, $0.shape, $0.hasBias) }
    }

    /// Installs packed int8 weights made from this model's current weights elsewhere (stored prepared weights), one
    /// per slot of `int8Layout()`: the model then computes exactly what `quantizeInt8()` would have made it compute.
    /// Every slot must be given, with its shape; nothing else may be.
    public func useInt8(_ packed: [String: Int8Linear]) throws {
        try checkInt8Supported()
        let slots = int8Slots()
        let names = Set(slots.map(\.name))
        if let stray = packed.keys.sorted().first(where: { !names.contains($0) }) {
            throw TorchError("int8 weight \(stray) has no place in this model")
        }
        for slot in slots {
            guard let weight = packed[slot.name] else { throw TorchError("int8 weight \(slot.name) is missing") }
            try slot.install(weight)
        }
    }

    private func checkInt8Supported() throws {
        guard dtype == .float32 else {
            throw TorchError("int8 weights need a float32 model (this one computes in \(dtype))")
        }
        guard Int8Linear.isSupported else {
            throw TorchError("this libtorch has no x86 quantized engine (fbgemm/onednn), so int8 weights are unavailable")
        }
    }

    /// One packed weight of the model: its name, the float weight and bias it is made from, and where it goes.
    private struct Int8Slot {
        let name: String
        let shape: [Int]
        let hasBias: Bool
        let weight: () throws -> Tensor
        let bias: () throws -> Tensor?
        let current: () -> Int8Linear?
        let install: (Int8Linear) throws -> Void
    }

    private func int8Slots() -> [Int8Slot] {
        func stacked(_ linears: [Linear]) -> (weight: () throws -> Tensor, bias: () throws -> Tensor?) {
            let weight = { try withNoGrad { try Tensor.cat(linears.map { try $0.weight.detach() }, dim: 0) } }
            let bias: () throws -> Tensor? = {
                guard linears.contains(where: { $0.bias != nil }) else { return nil }
                return try withNoGrad {
                    try Tensor.cat(linears.map { try $0.bias?.detach() ?? Tensor.zeros([$0.weight.dim(0)], dtype: $0.weight.dtype) },
                                   dim: 0)
                }
            }
            return (weight, bias)
        }
        func single(_ name: String, _ linear: Linear) -> Int8Slot {
            Int8Slot(name: name, shape: linear.weight.shape, hasBias: linear.bias != nil,
                     weight: { linear.weight }, bias: { linear.bias }, current: { linear.int8 },
                     install: { try linear.useInt8($0) })
        }
        // Which linears a fused product replaces (`FusedInt8Linears` refuses layers with LoRA adapters).
        var shadowed = Set<ObjectIdentifier>()
        var slots: [Int8Slot] = []
        for (index, layer) in body.layers.enumerated() {
            let prefix = "model.layers.\(index)"
            let attention = layer.attention, mlp = layer.mlp
            let qkv = [attention.qProj, attention.kProj, attention.vProj], gateUp = [mlp.gate, mlp.up]
            if qkv.allSatisfy({ $0.loraA == nil }) {
                let (weight, bias) = stacked(qkv)
                slots.append(Int8Slot(name: "\(prefix).self_attn.qkv",
                                      shape: [qkv.map { $0.weight.dim(0) }.reduce(0, +), attention.qProj.weight.dim(1)],
                                      hasBias: qkv.contains { $0.bias != nil }, weight: weight, bias: bias,
                                      current: { attention.fusedQKV?.packed },
                                      install: { try attention.useFusedInt8($0) }))
                shadowed.insert(ObjectIdentifier(attention.qProj))
            }
            if gateUp.allSatisfy({ $0.loraA == nil }) {
                let (weight, bias) = stacked(gateUp)
                slots.append(Int8Slot(name: "\(prefix).mlp.gate_up",
                                      shape: [gateUp.map { $0.weight.dim(0) }.reduce(0, +), mlp.gate.weight.dim(1)],
                                      hasBias: gateUp.contains { $0.bias != nil }, weight: weight, bias: bias,
                                      current: { mlp.fusedGateUp?.packed }, install: { try mlp.useFusedInt8($0) }))
                shadowed.formUnion(gateUp.map(ObjectIdentifier.init))
            }
        }
        for (path, linear) in body.linears() where !shadowed.contains(ObjectIdentifier(linear)) {
            slots.append(single("model.\(path)", linear))
        }
        if let lmHead {
            slots.append(single("lm_head", lmHead))
        } else {
            let table = body.embedTokens
            slots.append(Int8Slot(name: "model.embed_tokens", shape: table.weight.shape, hasBias: false,
                                  weight: { table.weight }, bias: { nil }, current: { table.int8 },
                                  install: { try table.useInt8($0) }))
        }
        return slots
    }
}
