import Torch

/// Linear layers that read the same input (attention's q/k/v, the feed-forward gate and up), packed as one int8
/// product: one activation quantization and one GEMM call instead of one per layer. Decoding a token calls each
/// layer on a single row, where the fixed cost of a call is a good part of its time. The outputs are those of the
/// layers' own int8 copies (weights are quantized per output row, activations per input row, so concatenating
/// the rows changes nothing). Inference only, and a snapshot like `Int8Linear`.
public final class FusedInt8Linears {
    /// The one packed product (the layers' weights stacked by rows).
    public let packed: Int8Linear
    /// Output width of each layer, in order.
    public let widths: [Int]

    /// Packs `linears` (all with the same input width); nil where any carries a LoRA adapter, whose update the
    /// packed product would leave out.
    public init?(_ linears: [Linear]) throws {
        guard !linears.isEmpty, linears.allSatisfy({ $0.loraA == nil }) else { return nil }
        let inputs = linears[0].weight.dim(1)
        guard linears.allSatisfy({ $0.weight.dim(1) == inputs }) else {
            throw TorchError("fused int8 linears need one input width, got \(linears.map { $0.weight.dim(1) })")
        }
        let weight = try withNoGrad { try Tensor.cat(linears.map { try $0.weight.detach() }, dim: 0) }
        var bias: Tensor?
        if linears.contains(where: { $0.bias != nil }) {
            bias = try withNoGrad {
                try Tensor.cat(linears.map { try $0.bias?.detach() ?? Tensor.zeros([$0.weight.dim(0)], dtype: $0.weight.dtype) },
                               dim: 0)
            }
        }
        packed = try Int8Linear(weight: weight, bias: bias)
        widths = linears.map { $0.weight.dim(0) }
    }

    /// A packed product made elsewhere (stored prepared weights) for `linears`, as `init(_:)` would make it: its
    /// rows must be theirs, stacked in order.
    public init(packed: Int8Linear, for linears: [Linear]) throws {
        guard !linears.isEmpty, linears.allSatisfy({ $0.loraA == nil }) else {
            throw TorchError("fused int8 linears need layers without LoRA adapters")
        }
        let widths = linears.map { $0.weight.dim(0) }
        guard packed.outputs == widths.reduce(0, +), linears.allSatisfy({ $0.weight.dim(1) == packed.inputs }) else {
            throw TorchError("fused int8 weight [\(packed.outputs), \(packed.inputs)] does not fit layers of "
                + "\(linears.map(\.weight.shape))")
        }
        self.packed = packed
        self.widths = widths
    }

    /// Whether the packed product computes `x` (float32, no gradient wanted).
    public func serves(_ x: Tensor) -> Bool { packed.serves(x) }

    /// Each layer's output for `x` [..., in], as views of one product.
    public func callAsFunction(_ x: Tensor) throws -> [Tensor] {
        let y = try packed(x)
        var start = 0
        return try widths.map { width in
            defer { start += width }
            return try y.narrow(dim: -1, start: start, length: width)
        }
    }
}
