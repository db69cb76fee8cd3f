import CTorch

// Elementwise math with PyTorch's broadcasting and type promotion.
extension Tensor {
    @inline(__always)
    func unary(_ op: mr_unary_op) throws -> Tensor {
        try makeTensor { mr_unary($0, Int32(op.rawValue), handle) }
    }

    @inline(__always)
    func binary(_ op: mr_binary_op, _ other: Tensor) throws -> Tensor {
        try makeTensor { mr_binary($0, Int32(op.rawValue), handle, other.handle) }
    }

    @inline(__always)
    func binary(_ op: mr_binary_op, _ scalar: Double, scalarFirst: Bool = false) throws -> Tensor {
        try makeTensor { mr_binary_scalar($0, Int32(op.rawValue), handle, scalar, scalarFirst ? 1 : 0) }
    }

    public func exp() throws -> Tensor { try unary(MR_UNARY_EXP) }
    public func log() throws -> Tensor { try unary(MR_UNARY_LOG) }
    public func sqrt() throws -> Tensor { try unary(MR_UNARY_SQRT) }
    public func rsqrt() throws -> Tensor { try unary(MR_UNARY_RSQRT) }
    public func abs() throws -> Tensor { try unary(MR_UNARY_ABS) }
    public func sin() throws -> Tensor { try unary(MR_UNARY_SIN) }
    public func cos() throws -> Tensor { try unary(MR_UNARY_COS) }
    public func tanh() throws -> Tensor { try unary(MR_UNARY_TANH) }
    public func sigmoid() throws -> Tensor { try unary(MR_UNARY_SIGMOID) }
    public func relu() throws -> Tensor { try unary(MR_UNARY_RELU) }
    public func silu() throws -> Tensor { try unary(MR_UNARY_SILU) }
    /// GELU; `approximate: true` is the tanh form ("gelu_pytorch_tanh").
    public func gelu(approximate: Bool = false) throws -> Tensor {
        try unary(approximate ? MR_UNARY_GELU_TANH : MR_UNARY_GELU)
    }
    public func reciprocal() throws -> Tensor { try unary(MR_UNARY_RECIPROCAL) }
    public func square() throws -> Tensor { try unary(MR_UNARY_SQUARE) }
    public func logicalNot() throws -> Tensor { try unary(MR_UNARY_LOGICAL_NOT) }
    public func floor() throws -> Tensor { try unary(MR_UNARY_FLOOR) }
    public func ceil() throws -> Tensor { try unary(MR_UNARY_CEIL) }
    public func sign() throws -> Tensor { try unary(MR_UNARY_SIGN) }
    public func erf() throws -> Tensor { try unary(MR_UNARY_ERF) }
    public func isNaN() throws -> Tensor { try unary(MR_UNARY_ISNAN) }
    public func isFinite() throws -> Tensor { try unary(MR_UNARY_ISFINITE) }

    public func pow(_ exponent: Double) throws -> Tensor { try binary(MR_BINARY_POW, exponent) }
    public func pow(_ exponent: Tensor) throws -> Tensor { try binary(MR_BINARY_POW, exponent) }
    public func maximum(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_MAXIMUM, other) }
    public func minimum(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_MINIMUM, other) }
    public func remainder(_ divisor: Double) throws -> Tensor { try binary(MR_BINARY_REMAINDER, divisor) }
    public func floorDivide(_ divisor: Double) throws -> Tensor { try binary(MR_BINARY_FLOOR_DIVIDE, divisor) }

    /// Clamps into [min, max]; either bound may be omitted.
    public func clamp(min: Double? = nil, max: Double? = nil) throws -> Tensor {
        try makeTensor { mr_clamp($0, handle, min ?? 0, max ?? 0, min == nil ? 0 : 1, max == nil ? 0 : 1) }
    }

    // Comparisons give bool tensors.
    public func eq(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_EQ, other) }
    public func eq(_ value: Double) throws -> Tensor { try binary(MR_BINARY_EQ, value) }
    public func ne(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_NE, other) }
    public func ne(_ value: Double) throws -> Tensor { try binary(MR_BINARY_NE, value) }
    public func lt(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_LT, other) }
    public func lt(_ value: Double) throws -> Tensor { try binary(MR_BINARY_LT, value) }
    public func le(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_LE, other) }
    public func le(_ value: Double) throws -> Tensor { try binary(MR_BINARY_LE, value) }
    public func gt(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_GT, other) }
    public func gt(_ value: Double) throws -> Tensor { try binary(MR_BINARY_GT, value) }
    public func ge(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_GE, other) }
    public func ge(_ value: Double) throws -> Tensor { try binary(MR_BINARY_GE, value) }
    public func logicalAnd(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_LOGICAL_AND, other) }
    public func logicalOr(_ other: Tensor) throws -> Tensor { try binary(MR_BINARY_LOGICAL_OR, other) }

    /// `cond ? a : b` elementwise.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try makeTensor { mr_where($0, condition.handle, a.handle, b.handle) }
    }

    /// A copy with `value` wherever `mask` is true.
    public func maskedFill(_ mask: Tensor, _ value: Double) throws -> Tensor {
        try makeTensor { mr_masked_fill($0, handle, mask.handle, value) }
    }

    // MARK: Operators

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(MR_BINARY_ADD, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(MR_BINARY_SUB, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(MR_BINARY_MUL, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(MR_BINARY_DIV, b) }

    public static func + (a: Tensor, b: Double) throws -> Tensor { try a.binary(MR_BINARY_ADD, b) }
    public static func - (a: Tensor, b: Double) throws -> Tensor { try a.binary(MR_BINARY_SUB, b) }
    public static func * (a: Tensor, b: Double) throws -> Tensor { try a.binary(MR_BINARY_MUL, b) }
    public static func / (a: Tensor, b: Double) throws -> Tensor { try a.binary(MR_BINARY_DIV, b) }

    public static func + (a: Double, b: Tensor) throws -> Tensor { try b.binary(MR_BINARY_ADD, a, scalarFirst: true) }
    public static func - (a: Double, b: Tensor) throws -> Tensor { try b.binary(MR_BINARY_SUB, a, scalarFirst: true) }
    public static func * (a: Double, b: Tensor) throws -> Tensor { try b.binary(MR_BINARY_MUL, a, scalarFirst: true) }
    public static func / (a: Double, b: Tensor) throws -> Tensor { try b.binary(MR_BINARY_DIV, a, scalarFirst: true) }

    public static prefix func - (a: Tensor) throws -> Tensor { try a.unary(MR_UNARY_NEG) }

    // MARK: In place (visible to autograd, like PyTorch's trailing-underscore methods)

    /// `self += alpha · other`.
    public func addInPlace(_ other: Tensor, alpha: Double = 1) throws {
        try check(mr_inplace_binary(Int32(MR_BINARY_ADD.rawValue), handle, other.handle, alpha))
    }
    public func subInPlace(_ other: Tensor, alpha: Double = 1) throws {
        try check(mr_inplace_binary(Int32(MR_BINARY_SUB.rawValue), handle, other.handle, alpha))
    }
    public func mulInPlace(_ other: Tensor) throws {
        try check(mr_inplace_binary(Int32(MR_BINARY_MUL.rawValue), handle, other.handle, 1))
    }
    public func divInPlace(_ other: Tensor) throws {
        try check(mr_inplace_binary(Int32(MR_BINARY_DIV.rawValue), handle, other.handle, 1))
    }
    public func addInPlace(_ value: Double) throws { try check(mr_inplace_scalar(Int32(MR_BINARY_ADD.rawValue), handle, value)) }
    public func mulInPlace(_ value: Double) throws { try check(mr_inplace_scalar(Int32(MR_BINARY_MUL.rawValue), handle, value)) }
    /// Copies `source` (broadcast, converted) into this tensor's storage.
    public func copyFrom(_ source: Tensor) throws { try check(mr_copy_(handle, source.handle)) }
    public func fill(_ value: Double) throws { try check(mr_fill_(handle, value)) }
    public func zero() throws { try check(mr_zero_(handle)) }
    public func maskedFillInPlace(_ mask: Tensor, _ value: Double) throws {
        try check(mr_masked_fill_(handle, mask.handle, value))
    }

    // MARK: Linear algebra

    /// `torch.matmul` (broadcast batch dimensions).
    public func matmul(_ other: Tensor) throws -> Tensor { try makeTensor { mr_matmul($0, handle, other.handle) } }

    /// Batched matrix product of [B, n, m] and [B, m, p].
    public func bmm(_ other: Tensor) throws -> Tensor { try makeTensor { mr_bmm($0, handle, other.handle) } }
}
