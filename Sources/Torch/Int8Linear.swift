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

    /// Quantizes and packs `weight` [out, in] and an optional `bias` [out]. Activations get all 8 bits where the CPU
    /// accumulates int8 products in 32 bits (VNNI), else 7 (`reduceRange`), so 16-bit accumulation cannot overflow.
    public init(weight: Tensor, bias: Tensor?, reduceRange: Bool = !Int8Linear.cpuHasVNNI) throws {
        guard weight.rank == 2 else { throw TorchError("int8 linear: the weight must be [out, in], got \(weight.shape)") }
        var out: mr_packed_linear?
        try check(mr_packed_linear_int8(&out, weight.handle, bias?.handle, reduceRange ? 1 : 0))
        guard let out else { throw TorchError("libtorch returned no packed weight") }
        handle = out
        (outputs, inputs) = (weight.dim(0), weight.dim(1))
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
