import Foundation
import CTorch

/// An n-dimensional array living in libtorch. The Swift object owns one libtorch reference and drops it in `deinit`;
/// views share storage with their base exactly as in PyTorch.
///
/// Operations throw `TorchError` with libtorch's message (a shape mismatch, a bad index…) instead of crashing, so one
/// `try` covers an expression: `let y = try (x.matmul(w) + b).relu()`.
public final class Tensor {
    let handle: mr_tensor

    init(owning handle: mr_tensor) { self.handle = handle }

    deinit { mr_tensor_free(handle) }

    // MARK: - Creation from Swift data

    /// A tensor holding a copy of `values` with the given shape (default: 1-D), on `device`.
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int]? = nil, device: Device = .cpu) throws {
        let shape = shape ?? [values.count]
        let handle = try values.withUnsafeBytes { bytes in
            try withInt64s(shape) { dims, ndim in
                try makeHandle { mr_tensor_from_data($0, bytes.baseAddress, bytes.count, dims, ndim, T.dtype.rawValue, device.code) }
            }
        }
        self.init(owning: handle)
    }

    /// A 0-dimensional tensor.
    public convenience init<T: TensorElement>(scalar: T) throws {
        try self.init([scalar], shape: [])
    }

    /// A tensor made from raw bytes of `dtype` (for example bf16 bits read from a file).
    public convenience init(bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int]) throws {
        let handle = try withInt64s(shape) { dims, ndim in
            try makeHandle { mr_tensor_from_data($0, bytes.baseAddress, bytes.count, dims, ndim, dtype.rawValue, Device.cpu.code) }
        }
        self.init(owning: handle)
    }

    /// A CPU tensor over `bytes` without copying them (`dtype`, row-major `shape`, aligned for `dtype`). `owner` is
    /// kept alive until libtorch drops the storage — the last tensor or view sharing it — so it must own the memory
    /// (a file mapping, say).
    convenience init(borrowing bytes: UnsafeRawPointer, dtype: DType, shape: [Int], owner: AnyObject) throws {
        let context = Unmanaged.passRetained(owner).toOpaque()
        let release: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
            if let context { Unmanaged<AnyObject>.fromOpaque(context).release() }
        }
        var out: mr_tensor?
        let status = withInt64s(shape) { dims, ndim in
            mr_tensor_from_blob(&out, UnsafeMutableRawPointer(mutating: bytes), dims, ndim, dtype.rawValue, context, release)
        }
        guard status == 0, let out else {
            Unmanaged<AnyObject>.fromOpaque(context).release()  // not handed to libtorch
            try check(status)
            throw TorchError("libtorch returned no tensor")
        }
        self.init(owning: out)
    }

    // MARK: - Metadata

    public var shape: [Int] {
        var sizes = [Int64](repeating: 0, count: 8)
        var ndim: Int64 = 0
        precondition(mr_tensor_shape(handle, &sizes, 8, &ndim) == 0, String(cString: mr_last_error()))
        if ndim > 8 {
            sizes = [Int64](repeating: 0, count: Int(ndim))
            precondition(mr_tensor_shape(handle, &sizes, ndim, &ndim) == 0, String(cString: mr_last_error()))
        }
        return sizes.prefix(Int(ndim)).map { Int($0) }
    }

    public var rank: Int {
        var n: Int64 = 0
        precondition(mr_tensor_ndim(handle, &n) == 0, String(cString: mr_last_error()))
        return Int(n)
    }

    /// The size of dimension `d` (negative counts from the end).
    public func dim(_ d: Int) -> Int {
        let s = shape
        return s[d < 0 ? d + s.count : d]
    }

    public var dtype: DType {
        var code: Int32 = 0
        precondition(mr_tensor_dtype(handle, &code) == 0, String(cString: mr_last_error()))
        guard let dtype = DType(rawValue: code) else { preconditionFailure("tensor has unsupported dtype code \(code)") }
        return dtype
    }

    public var count: Int {
        var n: Int64 = 0
        precondition(mr_tensor_numel(handle, &n) == 0, String(cString: mr_last_error()))
        return Int(n)
    }

    public var isContiguous: Bool {
        var flag: Int32 = 0
        precondition(mr_tensor_is_contiguous(handle, &flag) == 0, String(cString: mr_last_error()))
        return flag != 0
    }

    // MARK: - Data out

    /// The elements in row-major order, converted to `T`'s dtype first when they differ.
    public func toArray<T: TensorElement>(_ type: T.Type = T.self) throws -> [T] {
        let source = dtype == T.dtype ? self : try to(T.dtype)
        let n = source.count
        return try [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            try check(mr_tensor_copy_to(source.handle, buffer.baseAddress, n * MemoryLayout<T>.stride))
            initialized = n
        }
    }

    /// The raw bytes in row-major order (any dtype, bf16 included).
    public func bytes() throws -> [UInt8] {
        let n = count * dtype.byteSize
        return try [UInt8](unsafeUninitializedCapacity: n) { buffer, initialized in
            try check(mr_tensor_copy_to(handle, buffer.baseAddress, n))
            initialized = n
        }
    }

    /// The value of a one-element tensor as a Double.
    public func item() throws -> Double {
        var v = 0.0
        try check(mr_tensor_item_double(handle, &v))
        return v
    }

    /// The value of a one-element tensor as an Int.
    public func itemInt() throws -> Int {
        var v: Int64 = 0
        try check(mr_tensor_item_int64(handle, &v))
        return Int(v)
    }

    // MARK: - Copies and comparison

    public func to(_ dtype: DType) throws -> Tensor {
        try makeTensor { mr_to_dtype($0, handle, dtype.rawValue) }
    }

    /// A deep copy with its own storage (still part of the autograd graph, like `clone()`).
    public func clone() throws -> Tensor { try makeTensor { mr_clone($0, handle) } }

    /// `torch.equal`: same shape, same dtype, same elements.
    public func equals(_ other: Tensor) throws -> Bool {
        var flag: Int32 = 0
        try check(mr_equal(handle, other.handle, &flag))
        return flag != 0
    }
}

/// Like `makeTensor` but returns the bare handle (for convenience initialisers).
@inline(__always)
func makeHandle(_ body: (UnsafeMutablePointer<mr_tensor?>) -> Int32) throws -> mr_tensor {
    var out: mr_tensor?
    try check(body(&out))
    guard let handle = out else { throw TorchError("libtorch returned no tensor") }
    return handle
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shape = self.shape
        let head: String
        if count <= 16, let values = try? toArray(Double.self) {
            head = values.map { String(format: "%.4g", $0) }.joined(separator: ", ")
        } else {
            head = "…"
        }
        return "Tensor(\(dtype), shape: \(shape), [\(head)])"
    }
}
