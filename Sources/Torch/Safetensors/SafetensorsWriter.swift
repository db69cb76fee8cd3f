import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes safetensors files that Python's `safetensors` and the Rust reference read back unchanged.
///
/// Output is byte-reproducible: tensors are laid out sorted by name (byte-wise UTF-8 order, independent of input order
/// and locale), `__metadata__` comes first with sorted keys, and each entry's fields are written in the order
/// `dtype`, `shape`, `data_offsets`. The header is padded with spaces to a multiple of 8 bytes so that the data region
/// starts 8-byte aligned in the file.
public enum SafetensorsWriter {
    /// One tensor to write.
    public struct Tensor: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Row-major element bytes in little-endian order. To pass memory owned elsewhere without a copy, wrap it in
        /// `Data(bytesNoCopy:count:deallocator: .none)` and keep it alive until `write` returns.
        public var data: Data

        public init(name: String, dtype: DType, shape: [Int], data: Data) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.data = data
        }
    }

    /// A tensor whose bytes are produced while the file is written (`write(streaming:metadata:to:)`), so that a
    /// large file needs the memory of one tensor at a time. `produce` must pass exactly the bytes that `dtype` and
    /// `shape` call for to its sink, in one or more pieces.
    public struct StreamedTensor {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var produce: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

        public init(name: String, dtype: DType, shape: [Int],
                    produce: @escaping (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.produce = produce
        }

        /// Bytes the shape holds (valid once `validate` has passed).
        var byteCount: Int { shape.reduce(dtype.byteSize, *) }
    }

    /// Writes `tensors` to `url`, replacing any file there only once the new one is complete and on disk: a killed
    /// process leaves either the old file or the new one under `url`, never a partial file.
    /// Empty `metadata` writes no `__metadata__` entry.
    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try validate(tensors)
        try write(streaming: tensors.map { tensor in
            StreamedTensor(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape) { sink in
                try tensor.data.withUnsafeBytes { try sink($0) }
            }
        }, metadata: metadata, to: url)
    }

    /// `write(_:metadata:to:)` with each tensor's bytes produced as it is written. A tensor that produces more or
    /// fewer bytes than its shape holds fails the write (and no file is left).
    public static func write(streaming tensors: [StreamedTensor], metadata: [String: String] = [:], to url: URL) throws {
        try validate(tensors.map { ($0.name, $0.dtype, $0.shape, nil) })
        let ordered = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let header = header(for: ordered.map { ($0.name, $0.dtype, $0.shape, $0.byteCount) }, metadata: metadata)
        try AtomicFileWriter.write(to: url) { sink in
            var headerLength = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &headerLength) { try sink($0) }
            try header.withUnsafeBytes { try sink($0) }
            for tensor in ordered {
                var written = 0
                try tensor.produce { piece in
                    written += piece.count
                    guard written <= tensor.byteCount else { return }
                    try sink(piece)
                }
                guard written == tensor.byteCount else {
                    throw SafetensorsError.invalidTensor(tensor: tensor.name, reason: "\(tensor.dtype.safetensorsName) "
                        + "with shape \(tensor.shape) needs \(tensor.byteCount) bytes, got \(written)")
                }
            }
        }
    }

    /// Checks every tensor and the set of names before anything is written, so no file is touched for bad input.
    static func validate(_ tensors: [Tensor]) throws {
        try validate(tensors.map { ($0.name, $0.dtype, $0.shape, $0.data.count) })
    }

    /// `validate` over names, dtypes, shapes and (where known) byte counts.
    static func validate(_ tensors: [(name: String, dtype: DType, shape: [Int], bytes: Int?)]) throws {
        var seen = Set<String>()
        for tensor in tensors {
            guard tensor.name != "__metadata__" else {
                throw SafetensorsError.invalidTensor(tensor: tensor.name, reason: "the name is reserved for metadata")
            }
            guard seen.insert(tensor.name).inserted else {
                throw SafetensorsError.duplicateTensorName(tensor: tensor.name)
            }
            var expectedBytes = tensor.dtype.byteSize
            for dimension in tensor.shape {
                guard dimension >= 0 else {
                    throw SafetensorsError.invalidTensor(tensor: tensor.name,
                                                         reason: "shape \(tensor.shape) has a negative dimension")
                }
                let (product, overflow) = expectedBytes.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw SafetensorsError.invalidTensor(tensor: tensor.name,
                                                         reason: "shape \(tensor.shape) has too many elements")
                }
                expectedBytes = product
            }
            if let bytes = tensor.bytes, bytes != expectedBytes {
                throw SafetensorsError.invalidTensor(
                    tensor: tensor.name,
                    reason: "\(tensor.dtype.safetensorsName) with shape \(tensor.shape) needs \(expectedBytes) bytes,"
                        + " got \(bytes)")
            }
        }
    }

    /// The JSON header for tensors already in file order, padded with spaces to a multiple of 8 bytes.
    static func header(for ordered: [(name: String, dtype: DType, shape: [Int], bytes: Int)],
                       metadata: [String: String]) -> [UInt8] {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { SafetensorsJSON.quoted($0.key) + ":" + SafetensorsJSON.quoted($0.value) }
            members.append(SafetensorsJSON.quoted("__metadata__") + ":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for tensor in ordered {
            let end = offset + tensor.bytes
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            let dtype = SafetensorsJSON.quoted(tensor.dtype.safetensorsName)
            members.append(SafetensorsJSON.quoted(tensor.name)
                + ":{\"dtype\":\(dtype),\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var bytes = Array(("{" + members.joined(separator: ",") + "}").utf8)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
        return bytes
    }
}

/// Creates files all-or-nothing: bytes go to `.NAME.tmp-PID` in the destination's directory (the same file system, so
/// the final `rename` is atomic), are flushed with `fsync`, and only then renamed over the destination.
enum AtomicFileWriter {
    /// Calls `produce` with a sink that appends bytes to the new file, then moves the file into place.
    static func write(to url: URL,
                      _ produce: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporaryPath = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        // Reads errno before building the message, whose allocations could overwrite it.
        func failure(_ step: @autoclosure () -> String) -> SafetensorsError {
            let reason = SafetensorsError.posixReason()
            return .writeFailed(path: path, reason: "\(step()): \(reason)")
        }

        // O_TRUNC rather than O_EXCL: a leftover with this name is from a dead process with a recycled pid.
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create temporary file \(temporaryPath)") }
        var isOpen = true
        var isRenamed = false
        defer {
            if isOpen { close(fd) }
            if !isRenamed { unlink(temporaryPath) }
        }

        try produce { buffer in
            guard var next = buffer.baseAddress else { return }
            var remaining = buffer.count
            while remaining > 0 {
                // Partial writes happen (signals, large buffers); loop until every byte is out.
                let written = posixWrite(fd, next, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure("cannot write \(temporaryPath)")
                }
                next += written
                remaining -= written
            }
        }
        guard fsync(fd) == 0 else { throw failure("cannot flush \(temporaryPath)") }
        isOpen = false
        guard close(fd) == 0 else { throw failure("cannot close \(temporaryPath)") }
        guard rename(temporaryPath, path) == 0 else { throw failure("cannot rename \(temporaryPath) into place") }
        isRenamed = true

        // Make the rename itself durable. Best effort: the file is complete either way, and some file systems refuse
        // to sync directories.
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }
}

/// `write(2)` under a name of its own: inside the writer types their `write` methods shadow the system call.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
