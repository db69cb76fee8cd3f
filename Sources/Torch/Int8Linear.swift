import CTorch

/// A linear layer's weight as int8 — symmetric, one scale per output row — packed by libtorch's quantized engine
/// (fbgemm on x86) and applied with dynamically quantized float32 activations, as `torch.ao` dynamic quantization
/// does. Inference only: nothing flows back through it, and it is a snapshot (later changes to the float weight
/// are not seen).
///
/// Why: decoding a small model reads every weight once per token, so a quarter of the bytes is a quarter of the
/// memory traffic; and prefill runs on the CPU's int8 dot-product instructions. Each row (token) gets its own
/// activation scale (see `mr_packed_linear_apply`), which keeps the accuracy close to float32.
public final class Int8Linear {
    private let handle: mr_packed_linear
    public let inputs: Int
    public let outputs: Int
    /// Whether activations are quantized to 7 bits (CPUs without VNNI).
    public let reduceRange: Bool

    /// Quantizes and packs `weight` [out, in] and an optional `bias` [out]. Activations get all 8 bits where the CPU
    /// accumulates int8 products in 32 bits (VNNI), else 7 (`reduceRange`), so 16-bit accumulation cannot overflow.
    public init(weight: Tensor, bias: Tensor?, reduceRange: Bool = !Int8Linear.cpuHasVNNI) throws {
        guard weight.rank == 2 else { throw TorchError("int8 linear: the weight must be [out, in], got \(weight.shape)") }
        var out: mr_packed_linear?
        try check(mr_packed_linear_int8(&out, weight.handle, bias?.handle, reduceRange ? 1 : 0))
        guard let out else { throw TorchError("libtorch returned no packed weight") }
        handle = out
        (outputs, inputs) = (weight.dim(0), weight.dim(1))
        self.reduceRange = reduceRange
    }

    private init(handle: mr_packed_linear, outputs: Int, inputs: Int, reduceRange: Bool) {
        self.handle = handle
        (self.outputs, self.inputs, self.reduceRange) = (outputs, inputs, reduceRange)
    }

    /// What this weight was packed from, to store it: the int8 values [out, in], the per-row scales (float64 [out])
    /// and the bias. `pack(_:reduceRange:)` makes from them a packed weight that computes exactly what this one does.
    public func parts() throws -> Parts {
        var weight: mr_tensor?, scales: mr_tensor?, bias: mr_tensor?
        var reduce: Int32 = 0
        try check(mr_packed_linear_parts(handle, &weight, &scales, &bias, &reduce))
        guard let weight, let scales else { throw TorchError("libtorch returned no int8 weight") }
        return Parts(weight: Tensor(owning: weight), scales: Tensor(owning: scales), bias: bias.map { Tensor(owning: $0) })
    }

    /// The stored form of a packed weight (see `parts()`).
    public struct Parts {
        public let weight: Tensor
        public let scales: Tensor
        public let bias: Tensor?

        public init(weight: Tensor, scales: Tensor, bias: Tensor?) {
            self.weight = weight
            self.scales = scales
            self.bias = bias
        }
    }

    /// Packs stored weights without quantizing anything, spread over the intra-op threads (packing is most of the
    /// cost of `init(weight:bias:)`, and single-threaded per matrix). Shapes and dtypes are checked.
    public static func pack(_ items: [Parts], reduceRange: Bool) throws -> [Int8Linear] {
        guard !items.isEmpty else { return [] }
        var outs = [mr_packed_linear?](repeating: nil, count: items.count)
        let weights: [mr_tensor?] = items.map(\.weight.handle)
        let scales: [mr_tensor?] = items.map(\.scales.handle)
        let biases: [mr_tensor?] = items.map { $0.bias?.handle }
        try withExtendedLifetime(items) {
            try check(mr_packed_linear_from_int8(&outs, weights, scales, biases, Int64(items.count), reduceRange ? 1 : 0))
        }
        return try zip(outs, items).map { out, item in
            guard let out else { throw TorchError("libtorch returned no packed weight") }
            return Int8Linear(handle: out, outputs: item.weight.dim(0), inputs: item.weight.dim(1), reduceRange: reduceRange)
        }
    }

    deinit { mr_packed_linear_free(handle) }

    /// Whether this copy computes `x`'s product: float32 input and no gradient wanted (it has no autograd, so a
    /// training step uses the float weight).
    public func serves(_ x: Tensor) -> Bool { x.dtype == .float32 && !isGradEnabled }

    /// `x Wᵀ + b` for float32 `x` [..., in].
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try makeTensor { mr_packed_linear_apply($0, handle, x.handle) }
    }

    /// Whether this machine's CPU has 32-bit-accumulating int8 dot products.
    public static let cpuHasVNNI = CPUFeatures.detect().vnni

    /// Whether this libtorch can pack int8 linears (it has an x86 quantized engine).
    public static var isSupported: Bool {
        var flag: Int32 = 0
        return mr_packed_linear_supported(&flag) == 0 && flag == 1
    }
}
