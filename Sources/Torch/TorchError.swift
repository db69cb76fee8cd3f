import CTorch
import Foundation

/// A failure reported by libtorch (through the shim) or by the Swift layer's own argument checks.
public struct TorchError: Error, LocalizedError, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var errorDescription: String? { message }
    public var description: String { "TorchError: \(message)" }
}

/// Turns a shim status into a Swift error carrying libtorch's message.
@inline(__always)
func check(_ status: Int32) throws {
    if status != 0 { throw TorchError(String(cString: mr_last_error())) }
}

/// Runs a shim call that produces one tensor and takes ownership of it.
@inline(__always)
func makeTensor(_ body: (UnsafeMutablePointer<mr_tensor?>) -> Int32) throws -> Tensor {
    var out: mr_tensor?
    try check(body(&out))
    guard let handle = out else { throw TorchError("libtorch returned no tensor") }
    return Tensor(owning: handle)
}

/// Runs a shim call that produces two tensors (values and indices).
@inline(__always)
func makeTensorPair(_ body: (UnsafeMutablePointer<mr_tensor?>, UnsafeMutablePointer<mr_tensor?>) -> Int32) throws
    -> (Tensor, Tensor)
{
    var a: mr_tensor?
    var b: mr_tensor?
    try check(body(&a, &b))
    guard let a, let b else { throw TorchError("libtorch returned no tensor") }
    return (Tensor(owning: a), Tensor(owning: b))
}

/// Passes a Swift `[Int]` to C as `const int64_t *` plus count.
@inline(__always)
func withInt64s<R>(_ values: [Int], _ body: (UnsafePointer<Int64>?, Int64) throws -> R) rethrows -> R {
    let converted = values.map { Int64($0) }
    return try converted.withUnsafeBufferPointer { try body($0.baseAddress, Int64($0.count)) }
}

/// Passes tensors to C as `const mr_tensor *` plus count; the array keeps the handles alive during the call.
@inline(__always)
func withHandles<R>(_ tensors: [Tensor], _ body: (UnsafePointer<mr_tensor?>?, Int64) throws -> R) rethrows -> R {
    let handles: [mr_tensor?] = tensors.map { $0.handle }
    return try withExtendedLifetime(tensors) {
        try handles.withUnsafeBufferPointer { try body($0.baseAddress, Int64($0.count)) }
    }
}
