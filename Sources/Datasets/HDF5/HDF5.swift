import CHDF5
import Foundation

/// The HDF5 C library behind one lock (Debian's libhdf5 is built without thread safety), with its automatic error
/// printing switched off: failures become `DataError`s carrying the innermost messages of HDF5's error stack.
enum HDF5 {
    // Recursive: a handle released while the lock is held (its deinit closes it) must not deadlock.
    private static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var silenced = false

    /// Runs `body` holding the library lock.
    static func run<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        if !silenced {
            H5Eset_auto2(0 /* H5E_DEFAULT */, nil, nil)
            silenced = true
        }
        return try body()
    }

    /// The descriptions on HDF5's current error stack (innermost first, at most three), then clears the stack.
    static func takeErrorStack() -> String {
        final class Box { var messages: [String] = [] }
        let box = Box()
        let pointer = Unmanaged.passRetained(box).toOpaque()
        H5Ewalk2(0, H5E_WALK_UPWARD, { _, description, client in
            let box = Unmanaged<Box>.fromOpaque(client!).takeUnretainedValue()
            if let d = description?.pointee.desc, let text = Optional(String(cString: d)), !text.isEmpty {
                box.messages.append(text)
            }
            return 0
        }, pointer)
        Unmanaged<Box>.fromOpaque(pointer).release()
        H5Eclear2(0)
        var seen = Set<String>()
        let unique = box.messages.filter { seen.insert($0).inserted }
        return unique.isEmpty ? "HDF5 reported no detail" : unique.prefix(3).joined(separator: "; ")
    }

    /// Throws `make(reason)` with the error stack's text when `status` is negative.
    @discardableResult
    static func check<T: BinaryInteger>(_ status: T, _ make: (String) -> DataError) throws -> T {
        if status < 0 { throw make(takeErrorStack()) }
        return status
    }
}

/// Integer element types stored in our datasets: the file type is little-endian standard, the memory type native.
protocol HDF5Integer: FixedWidthInteger {
    static var fileType: hid_t { get }
    static var memoryType: hid_t { get }
}

extension UInt8: HDF5Integer {
    static var fileType: hid_t { mr_h5t_std_u8le() }
    static var memoryType: hid_t { mr_h5t_native_uint8() }
}

extension UInt32: HDF5Integer {
    static var fileType: hid_t { mr_h5t_std_u32le() }
    static var memoryType: hid_t { mr_h5t_native_uint32() }
}

extension UInt64: HDF5Integer {
    static var fileType: hid_t { mr_h5t_std_u64le() }
    static var memoryType: hid_t { mr_h5t_native_uint64() }
}

extension Int64: HDF5Integer {
    static var fileType: hid_t { mr_h5t_std_i64le() }
    static var memoryType: hid_t { mr_h5t_native_int64() }
}
