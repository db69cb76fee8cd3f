// A read-only, memory-mapped GGUF file (llama.cpp's model format): header, metadata, tensor table, and access to
// the tensor data. Layout (all little-endian):
//
//   "GGUF"  u32 version (2 or 3)  u64 tensor_count  u64 kv_count
//   kv_count × { string key, u32 value_type, value }            string = u64 byte length + UTF-8 bytes (no NUL)
//                                                               array  = u32 element type + u64 count + elements
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (u32, default 32) — the data section starts here; offsets are relative to it.
//
// Pure Swift, Foundation only. The mapping assumes a little-endian host (x86-64, arm64).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public final class GGUFFile: @unchecked Sendable {
    // @unchecked Sendable: everything is immutable after init; the mapping is read-only and lives until deinit.

    /// The default `general.alignment`.
    public static let defaultAlignment = 32
    /// Nested arrays deeper than this are rejected (a crafted file could otherwise exhaust the stack).
    static let maxArrayDepth = 64

    public let url: URL
    /// `url.path`, as used in error messages.
    public let path: String
    /// The GGUF version (2 or 3).
    public let version: Int
    /// File size in bytes.
    public let fileSize: Int
    /// `general.alignment` (default 32).
    public let alignment: Int
    /// Absolute offset of the data section (end of the tensor table, padded to `alignment`).
    public let dataOffset: Int
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// All metadata by key.
    public let metadata: [String: GGUFValue]
    /// The tensor table, in file order.
    public let tensors: [GGUFTensorInfo]
    private let tensorIndex: [String: Int]

    private let mapping: UnsafeMutableRawPointer?
    /// Start of the mapped file.
    let base: UnsafeRawPointer

    /// Maps the file read-only and parses and validates header, metadata and tensor table; tensor data is only
    /// read when asked for.
    public init(url: URL) throws {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else {
            throw GGUFError.truncated(path: path, context: "the magic", offset: 0, needed: 4, available: 0)
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let parsed: GGUFParser.Result
        do {
            var parser = GGUFParser(path: path, base: UnsafeRawPointer(p), size: size)
            parsed = try parser.parse()
        } catch {
            munmap(p, size)
            throw error
        }
        self.url = url
        self.path = path
        self.fileSize = size
        self.mapping = p
        self.base = UnsafeRawPointer(p)
        self.version = parsed.version
        self.alignment = parsed.alignment
        self.dataOffset = parsed.dataOffset
        self.metadataKeys = parsed.keys
        self.metadata = parsed.metadata
        self.tensors = parsed.tensors
        var index = [String: Int](minimumCapacity: parsed.tensors.count)
        for (i, t) in parsed.tensors.enumerated() { index[t.name] = i }
        self.tensorIndex = index
    }

    /// Convenience for `init(url:)`.
    public convenience init(path: String) throws {
        try self.init(url: URL(fileURLWithPath: path))
    }

    deinit {
        if let mapping { munmap(mapping, fileSize) }
    }

    // MARK: tensors

    /// The tensor table entry named `name` (GGUF name).
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Like `tensor(named:)`, throwing `GGUFError.tensorNotFound`.
    public func requiredTensor(named name: String) throws -> GGUFTensorInfo {
        guard let t = tensor(named: name) else { throw GGUFError.tensorNotFound(path: path, tensor: name) }
        return t
    }

    /// Calls `body` with the tensor's raw bytes, exactly as stored (e.g. the IEEE half / bfloat16 bit patterns of
    /// an F16 / BF16 tensor, little-endian). The buffer is only valid inside `body`.
    func withRawBytes<R>(of info: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base + info.fileOffset, count: info.byteCount))
    }

    /// A copy of the tensor's raw bytes (see `withRawBytes`).
    public func rawData(_ info: GGUFTensorInfo) -> Data {
        withRawBytes(of: info) { Data($0) }
    }

    // MARK: metadata accessors

    public func value(_ key: String) -> GGUFValue? { metadata[key] }

    public func string(_ key: String) -> String? { metadata[key]?.stringValue }

    /// Any integer type (UINT8 … INT64) as `Int`.
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }

    /// FLOAT32 / FLOAT64 (or an integer) as `Double`.
    public func double(_ key: String) -> Double? { metadata[key]?.doubleValue }

    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }

    /// An array of strings (nil when absent, not an array, or holding anything but strings).
    public func stringArray(_ key: String) -> [String]? {
        guard let items = metadata[key]?.arrayValue else { return nil }
        var out = [String]()
        out.reserveCapacity(items.count)
        for item in items {
            guard case .string(let s) = item else { return nil }
            out.append(s)
        }
        return out
    }

    /// An array of any integer type.
    public func intArray(_ key: String) -> [Int]? {
        guard let items = metadata[key]?.arrayValue else { return nil }
        var out = [Int]()
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.intValue else { return nil }
            out.append(v)
        }
        return out
    }

    /// An array of FLOAT32 / FLOAT64 (or integer) values as `Float`.
    public func floatArray(_ key: String) -> [Float]? {
        guard let items = metadata[key]?.arrayValue else { return nil }
        var out = [Float]()
        out.reserveCapacity(items.count)
        for item in items {
            if case .float32(let f) = item { out.append(f); continue }
            guard let v = item.doubleValue else { return nil }
            out.append(Float(v))
        }
        return out
    }

    /// `string(key)`, throwing `missingKey` / `typeMismatch`.
    public func requiredString(_ key: String) throws -> String {
        let v = try requiredValue(key)
        guard let s = v.stringValue else { throw mismatch(key, "STRING", v) }
        return s
    }

    /// `int(key)`, throwing `missingKey` / `typeMismatch`.
    public func requiredInt(_ key: String) throws -> Int {
        let v = try requiredValue(key)
        guard let i = v.intValue else { throw mismatch(key, "an integer", v) }
        return i
    }

    /// `double(key)`, throwing `missingKey` / `typeMismatch`.
    public func requiredDouble(_ key: String) throws -> Double {
        let v = try requiredValue(key)
        guard let d = v.doubleValue else { throw mismatch(key, "a number", v) }
        return d
    }

    private func requiredValue(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        return v
    }

    private func mismatch(_ key: String, _ expected: String, _ v: GGUFValue) -> GGUFError {
        .typeMismatch(path: path, key: key, expected: expected, found: v.typeDescription)
    }

    /// `general.architecture`.
    public var architecture: String? { string("general.architecture") }
}

// MARK: - parsing

/// Reads and validates everything before the data section.
struct GGUFParser {
    struct Result {
        var version = 0
        var alignment = GGUFFile.defaultAlignment
        var dataOffset = 0
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        var tensors: [GGUFTensorInfo] = []
    }

    /// Thrown by the readers below; converted into `GGUFError.truncated` with a description of what was read.
    struct Short: Error {
        let offset: Int
        let needed: Int
        let available: Int
    }

    let path: String
    let base: UnsafeRawPointer
    let size: Int
    var pos = 0

    init(path: String, base: UnsafeRawPointer, size: Int) {
        self.path = path
        self.base = base
        self.size = size
    }

    var remaining: Int { size - pos }

    /// `count * size` bytes, saturating at Int.max.
    static func bytes(_ count: UInt64, _ size: Int) -> Int {
        let (p, overflow) = count.multipliedReportingOverflow(by: UInt64(size))
        return overflow ? Int.max : Int(clamping: p)
    }

    @inline(__always)
    mutating func need(_ n: Int) throws {
        if n > size - pos { throw Short(offset: pos, needed: n, available: size - pos) }
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: pos, as: T.self))
        pos += MemoryLayout<T>.size
        return v
    }

    mutating func readString() throws -> String {
        let n = try read(UInt64.self)
        guard n <= UInt64(size - pos) else {
            throw Short(offset: pos, needed: Int(clamping: n), available: size - pos)
        }
        let count = Int(n)
        let s = String(decoding: UnsafeRawBufferPointer(start: base + pos, count: count), as: UTF8.self)
        pos += count
        return s
    }

    /// Runs `body`, turning a `Short` into `GGUFError.truncated` described by `context`.
    mutating func reading<T>(_ context: @autoclosure () -> String, _ body: (inout GGUFParser) throws -> T) throws -> T {
        do {
            return try body(&self)
        } catch let short as Short {
            throw GGUFError.truncated(path: path, context: context(), offset: short.offset, needed: short.needed,
                                      available: short.available)
        }
    }

    mutating func parse() throws -> Result {
        var r = Result()

        // magic
        guard size >= 4 else {
            throw GGUFError.truncated(path: path, context: "the magic", offset: 0, needed: 4, available: size)
        }
        let magic = (0..<4).map { base.load(fromByteOffset: $0, as: UInt8.self) }
        guard magic == Array("GGUF".utf8) else { throw GGUFError.badMagic(path: path, found: magic) }
        pos = 4

        // version and counts
        let version = try reading("the version") { try $0.read(UInt32.self) }
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        r.version = Int(version)
        let tensorCount = try reading("the tensor count") { try $0.read(UInt64.self) }
        let kvCount = try reading("the metadata key/value count") { try $0.read(UInt64.self) }
        // Smallest possible key/value: a u64 length + ≥1 byte key + u32 type + ≥1 byte value.
        guard kvCount <= UInt64(remaining / 14) else {
            throw GGUFError.truncated(path: path, context: "the \(kvCount) metadata key/value pairs (at least 14 "
                                      + "bytes each)", offset: pos, needed: Self.bytes(kvCount, 14),
                                      available: remaining)
        }

        // metadata
        r.keys.reserveCapacity(Int(kvCount))
        r.metadata.reserveCapacity(Int(kvCount))
        for i in 0..<Int(kvCount) {
            let key = try reading("metadata key #\(i)") { try $0.readString() }
            guard !key.isEmpty else {
                throw GGUFError.invalidMetadata(path: path, key: "#\(i)", reason: "empty key")
            }
            guard r.metadata[key] == nil else { throw GGUFError.duplicateKey(path: path, key: key) }
            let rawType = try reading("the value type of metadata key '\(key)'") { try $0.read(UInt32.self) }
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.unknownValueType(path: path, key: key, rawType: rawType)
            }
            let value = try readValue(type, key: key, depth: 0)
            r.keys.append(key)
            r.metadata[key] = value
        }

        if let a = r.metadata["general.alignment"] {
            guard case .uint32(let v) = a else {
                throw GGUFError.typeMismatch(path: path, key: "general.alignment", expected: "UINT32",
                                             found: a.typeDescription)
            }
            guard v != 0, v & (v - 1) == 0 else {
                throw GGUFError.invalidMetadata(path: path, key: "general.alignment",
                                                reason: "alignment \(v) is not a power of two")
            }
            r.alignment = Int(v)
        }

        // tensor table; the smallest possible tensor info: u64 name length + u32 n_dims + u32 type + u64 offset
        guard tensorCount <= UInt64(remaining / 24) else {
            throw GGUFError.truncated(path: path, context: "the \(tensorCount) tensor infos (at least 24 bytes "
                                      + "each)", offset: pos, needed: Self.bytes(tensorCount, 24),
                                      available: remaining)
        }
        var seen = Set<String>()
        seen.reserveCapacity(Int(tensorCount))
        var infos: [(name: String, dims: [Int], type: GGUFTensorType, offset: UInt64, bytes: Int)] = []
        infos.reserveCapacity(Int(tensorCount))
        for i in 0..<Int(tensorCount) {
            let name = try reading("the name of tensor #\(i)") { try $0.readString() }
            guard seen.insert(name).inserted else { throw GGUFError.duplicateTensor(path: path, tensor: name) }
            let nDims = try reading("tensor info #\(i) ('\(name)')") { try $0.read(UInt32.self) }
            guard nDims <= 4 else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "\(nDims) dimensions (at most 4)")
            }
            var dims = [Int]()
            var elements = 1
            for d in 0..<Int(nDims) {
                let ne = try reading("tensor info #\(i) ('\(name)')") { try $0.read(UInt64.self) }
                guard ne <= UInt64(Int64.max) else {
                    throw GGUFError.invalidTensor(path: path, tensor: name,
                                                  reason: "dimension \(d) is negative (\(Int64(bitPattern: ne)))")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(ne))
                guard !overflow else {
                    throw GGUFError.invalidTensor(path: path, tensor: name, reason: "element count overflows")
                }
                elements = product
                dims.append(Int(ne))
            }
            let rawType = try reading("tensor info #\(i) ('\(name)')") { try $0.read(UInt32.self) }
            guard let type = GGUFTensorType(rawValue: rawType) else {
                throw GGUFError.unknownTensorType(path: path, tensor: name, rawType: rawType)
            }
            let offset = try reading("tensor info #\(i) ('\(name)')") { try $0.read(UInt64.self) }
            let rowLength = dims.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "row length \(rowLength) is not a "
                                              + "multiple of the \(type) block size \(type.blockSize)")
            }
            let (bytes, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
            guard !overflow else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "byte size overflows")
            }
            infos.append((name, dims, type, offset, bytes))
        }

        // data section
        let dataOffset = (pos + r.alignment - 1) / r.alignment * r.alignment
        r.dataOffset = dataOffset
        r.tensors.reserveCapacity(infos.count)
        for t in infos {
            guard t.offset % UInt64(r.alignment) == 0 else {
                throw GGUFError.misalignedTensor(path: path, tensor: t.name, offset: Int(clamping: t.offset),
                                                 alignment: r.alignment)
            }
            let start = UInt64(dataOffset) &+ t.offset
            let end = start &+ UInt64(t.bytes)
            guard start >= t.offset, end >= start, end <= UInt64(size) else {
                throw GGUFError.tensorOutOfBounds(path: path, tensor: t.name, start: Int(clamping: start),
                                                  end: Int(clamping: end), fileSize: size)
            }
            r.tensors.append(GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: Int(t.offset),
                                            fileOffset: Int(start), byteCount: t.bytes))
        }
        let byStart = r.tensors.filter { $0.byteCount > 0 }.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(byStart, byStart.dropFirst()) where b.fileOffset < a.fileOffset + a.byteCount {
            throw GGUFError.overlappingTensors(path: path, tensor: b.name, other: a.name)
        }
        return r
    }

    mutating func readValue(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .array:
            guard depth < GGUFFile.maxArrayDepth else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "arrays nested deeper than "
                                                + "\(GGUFFile.maxArrayDepth) levels")
            }
            let (rawElement, count) = try reading("the array header of metadata key '\(key)'") {
                (try $0.read(UInt32.self), try $0.read(UInt64.self))
            }
            guard let element = GGUFValueType(rawValue: rawElement) else {
                throw GGUFError.unknownValueType(path: path, key: key, rawType: rawElement)
            }
            guard count <= UInt64(remaining / element.minimumEncodedSize) else {
                throw GGUFError.truncated(path: path, context: "the \(count) \(element) elements of metadata key "
                                          + "'\(key)'", offset: pos,
                                          needed: Self.bytes(count, element.minimumEncodedSize),
                                          available: remaining)
            }
            return .array(element, try readArray(element, count: Int(count), key: key, depth: depth + 1))
        case .string:
            return .string(try reading("the value of metadata key '\(key)'") { try $0.readString() })
        default:
            return try reading("the value of metadata key '\(key)'") { try $0.readScalar(type) }
        }
    }

    mutating func readScalar(_ type: GGUFValueType) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self))
        case .int8: return .int8(try read(Int8.self))
        case .uint16: return .uint16(try read(UInt16.self))
        case .int16: return .int16(try read(Int16.self))
        case .uint32: return .uint32(try read(UInt32.self))
        case .int32: return .int32(try read(Int32.self))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self)))
        case .bool: return .bool(try read(UInt8.self) != 0)
        case .uint64: return .uint64(try read(UInt64.self))
        case .int64: return .int64(try read(Int64.self))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self)))
        case .string: return .string(try readString())
        case .array: preconditionFailure("arrays are read by readValue")
        }
    }

    mutating func readArray(_ element: GGUFValueType, count: Int, key: String, depth: Int) throws -> [GGUFValue] {
        var out = [GGUFValue]()
        out.reserveCapacity(count)
        switch element {
        case .array:
            for _ in 0..<count { out.append(try readValue(.array, key: key, depth: depth)) }
        case .string:
            try reading("element of the string array of metadata key '\(key)'") { p in
                for _ in 0..<count { out.append(.string(try p.readString())) }
            }
        default:
            try reading("the \(element) array of metadata key '\(key)'") { p in
                for _ in 0..<count { out.append(try p.readScalar(element)) }
            }
        }
        return out
    }
}
