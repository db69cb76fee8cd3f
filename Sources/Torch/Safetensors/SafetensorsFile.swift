import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor described by a safetensors header.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    /// Dimensions, outermost first; `[]` is a scalar (one element).
    public let shape: [Int]
    /// The tensor's bytes, relative to the start of the data region (as in the header's `data_offsets`).
    public let byteRange: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteRange = byteRange
    }

    /// Number of elements; the reader has checked that it matches `byteRange` without overflow.
    public var elementCount: Int { byteRange.count / dtype.byteSize }
}

/// A safetensors file, memory-mapped read-only and validated as a whole when opened.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON header, then the data region, which the header's
/// tensors must cover exactly, without holes or overlaps (the rules of the reference Rust implementation). Only the
/// header is parsed up front; tensor bytes stay in the mapping until a caller reads them through `withBytes(of:_:)`.
///
/// Tensor bytes are little-endian and not necessarily aligned for their element type (a well-formed writer pads the
/// header to a multiple of 8, but nothing forces foreign files to), so read elements with `loadUnaligned`.
///
/// The mapping reflects the file on disk: truncating the file while it is open makes reads of the lost pages fault,
/// as with any `mmap`. `SafetensorsWriter` replaces files by renaming, which leaves open mappings intact.
public final class SafetensorsFile: @unchecked Sendable {
    // @unchecked: all state is immutable after `init`, and the file's bytes are never written through the mapping
    // (a copy-on-write mapping gives writers private pages).

    /// How the file is mapped. `.readOnly` suits readers that copy tensors out; `.copyOnWrite` also lets tensors
    /// share the mapping (`mappedTensor`): libtorch may then write to a parameter in place, which changes a private
    /// copy of the page and never the file.
    public enum Mapping: Sendable { case readOnly, copyOnWrite }

    /// Largest header accepted, as in the Rust reference: larger values mean a corrupt file or another format, and
    /// parsing a gigabyte of JSON on their word would only waste time and memory.
    public static let maxHeaderLength = 100_000_000

    public let url: URL
    /// The `__metadata__` strings, empty when the header has none.
    public let metadata: [String: String]
    public let entries: [String: SafetensorsEntry]
    /// Tensor names in the order their data appears in the file.
    public let names: [String]
    /// Offset of the data region from the start of the file: 8 + header length.
    public let dataOffset: Int

    private let mapping: FileMapping

    public init(url: URL, mapping kind: Mapping = .readOnly) throws {
        let path = url.path
        let mapping = try FileMapping(path: path, writablePrivateCopy: kind == .copyOnWrite)
        let file = mapping.bytes
        guard file.count >= 8 else { throw SafetensorsError.fileTooShort(path: path, size: file.count) }

        let headerLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(SafetensorsFile.maxHeaderLength) else {
            throw SafetensorsError.headerTooLarge(path: path, headerLength: headerLength,
                                                  limit: SafetensorsFile.maxHeaderLength)
        }
        guard headerLength <= UInt64(file.count - 8) else {
            throw SafetensorsError.headerExceedsFile(path: path, headerLength: headerLength, fileSize: file.count)
        }
        let dataOffset = 8 + Int(headerLength)
        let header = try SafetensorsHeader(
            json: UnsafeRawBufferPointer(rebasing: file[8..<dataOffset]),
            dataLength: file.count - dataOffset, path: path)

        self.url = url
        self.mapping = mapping
        self.dataOffset = dataOffset
        self.metadata = header.metadata
        self.entries = Dictionary(uniqueKeysWithValues: header.entriesInFileOrder.map { ($0.name, $0) })
        self.names = header.entriesInFileOrder.map(\.name)
    }

    public func entry(_ name: String) -> SafetensorsEntry? { entries[name] }

    /// Calls `body` with the bytes of tensor `name`, straight from the mapping (no copy). The buffer is valid only
    /// during the call.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[name] else { throw SafetensorsError.tensorNotFound(path: url.path, tensor: name) }
        let start = dataOffset + entry.byteRange.lowerBound
        let end = dataOffset + entry.byteRange.upperBound
        return try withExtendedLifetime(mapping) {
            try body(UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<end]))
        }
    }

    /// Tensor `name` over the mapping itself, without a copy, when the file was opened `.copyOnWrite` and the bytes
    /// are aligned for the dtype (a copy otherwise, as `tensor(_:)`). The mapping lives as long as such a tensor.
    public func mappedTensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw SafetensorsError.tensorNotFound(path: url.path, tensor: name) }
        let start = dataOffset + entry.byteRange.lowerBound
        guard mapping.isCopyOnWrite, entry.byteRange.count > 0, let base = mapping.bytes.baseAddress,
              Int(bitPattern: base + start) % entry.dtype.byteSize == 0 else { return try tensor(name) }
        return try Tensor(borrowing: base + start, dtype: entry.dtype, shape: entry.shape, owner: mapping)
    }
}

/// A whole file mapped privately (read-only, or copy-on-write), unmapped on deinit — once the file and every tensor
/// over it (`mappedTensor`) are gone.
///
/// A class of its own so that a mapping made early in `SafetensorsFile.init` is released when a later validation
/// step throws: a failed initializer never runs its class's deinit, but it does release stored objects it created.
private final class FileMapping {
    let bytes: UnsafeRawBufferPointer
    let isCopyOnWrite: Bool

    init(path: String, writablePrivateCopy: Bool) throws {
        isCopyOnWrite = writablePrivateCopy
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafetensorsError.cannotOpen(path: path, reason: SafetensorsError.posixReason()) }
        defer { close(fd) }  // The mapping keeps the file referenced; the descriptor is not needed past mmap.

        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafetensorsError.cannotOpen(path: path, reason: SafetensorsError.posixReason())
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SafetensorsError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            // mmap rejects zero-length mappings; an empty buffer lets the caller report the short file.
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let protection = writablePrivateCopy ? PROT_READ | PROT_WRITE : PROT_READ
        guard let address = mmap(nil, size, protection, MAP_PRIVATE, fd, 0),
              address != UnsafeMutableRawPointer(bitPattern: -1)  // MAP_FAILED, which Swift does not import
        else { throw SafetensorsError.cannotMap(path: path, reason: SafetensorsError.posixReason()) }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// The validated contents of a safetensors JSON header.
private struct SafetensorsHeader {
    let metadata: [String: String]
    let entriesInFileOrder: [SafetensorsEntry]

    init(json: UnsafeRawBufferPointer, dataLength: Int, path: String) throws {
        let root: SafetensorsJSON
        do {
            root = try SafetensorsJSONParser.parse(json)
        } catch let error as SafetensorsJSONError {
            throw SafetensorsError.invalidHeader(path: path, reason: error.description)
        }
        guard case let .object(members) = root else {
            throw SafetensorsError.invalidHeader(path: path, reason: "it is \(root.kindDescription), not a JSON object")
        }

        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        // Sorted so that of several broken entries the same one is always reported.
        for (name, value) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            if name == "__metadata__" {
                metadata = try SafetensorsHeader.parseMetadata(value, path: path)
            } else {
                entries.append(try SafetensorsHeader.parseEntry(name: name, value, dataLength: dataLength, path: path))
            }
        }
        self.metadata = metadata
        self.entriesInFileOrder = try SafetensorsHeader.checkLayout(entries, dataLength: dataLength, path: path)
    }

    private static func parseMetadata(_ value: SafetensorsJSON, path: String) throws -> [String: String] {
        switch value {
        case .null:
            return [:]  // serde reads null as an absent Option, so the reference implementation accepts it.
        case let .object(members):
            var metadata: [String: String] = [:]
            for (key, value) in members {
                guard case let .string(text) = value else {
                    let reason = "value of \(SafetensorsJSON.quoted(key)) is \(value.kindDescription),"
                        + " expected a string"
                    throw SafetensorsError.invalidMetadata(path: path, reason: reason)
                }
                metadata[key] = text
            }
            return metadata
        default:
            throw SafetensorsError.invalidMetadata(
                path: path, reason: "it is \(value.kindDescription), expected an object of strings")
        }
    }

    private static func parseEntry(name: String, _ value: SafetensorsJSON, dataLength: Int, path: String) throws
        -> SafetensorsEntry
    {
        func invalid(_ reason: String) -> SafetensorsError { .invalidEntry(path: path, tensor: name, reason: reason) }

        guard case let .object(fields) = value else {
            throw invalid("entry is \(value.kindDescription), expected an object with dtype, shape and data_offsets")
        }
        func field(_ key: String) throws -> SafetensorsJSON {
            guard let value = fields[key] else { throw invalid("missing field \"\(key)\"") }
            return value
        }

        let dtypeValue = try field("dtype")
        guard case let .string(dtypeName) = dtypeValue else {
            throw invalid("\"dtype\" is \(dtypeValue.kindDescription), expected a string")
        }
        guard let dtype = DType(safetensorsName: dtypeName) else {
            throw SafetensorsError.unknownDType(path: path, tensor: name, dtype: dtypeName)
        }

        let shape = try nonNegativeIntegers(try field("shape"), field: "shape", invalid: invalid)

        let offsets = try nonNegativeIntegers(try field("data_offsets"), field: "data_offsets", invalid: invalid)
        guard offsets.count == 2 else {
            throw invalid("\"data_offsets\" has \(offsets.count) elements, expected [begin, end]")
        }
        guard offsets[0] <= offsets[1] else {
            throw invalid("\"data_offsets\" [\(offsets[0]), \(offsets[1])] end before they begin")
        }
        let byteRange = offsets[0]..<offsets[1]

        // Checked arithmetic: a hostile shape such as [2^40, 2^40] must be an error, not a trap.
        var expectedBytes = dtype.byteSize
        for dimension in shape {
            let (product, overflow) = expectedBytes.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("shape \(shape) has more elements than memory can hold") }
            expectedBytes = product
        }
        guard expectedBytes == byteRange.count else {
            throw SafetensorsError.sizeMismatch(path: path, tensor: name, dtype: dtypeName, shape: shape,
                                                expectedBytes: expectedBytes, actualBytes: byteRange.count)
        }
        guard byteRange.upperBound <= dataLength else {
            throw SafetensorsError.dataOutOfBounds(path: path, tensor: name, end: byteRange.upperBound,
                                                   dataLength: dataLength)
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, byteRange: byteRange)
    }

    private static func nonNegativeIntegers(_ value: SafetensorsJSON, field: String,
                                            invalid: (String) -> SafetensorsError) throws -> [Int] {
        guard case let .array(elements) = value else {
            throw invalid("\"\(field)\" is \(value.kindDescription), expected an array of integers")
        }
        return try elements.enumerated().map { index, element in
            guard case let .integer(number) = element else {
                throw invalid("\"\(field)\"[\(index)] is \(element.kindDescription), expected a non-negative integer")
            }
            guard number >= 0 else { throw invalid("\"\(field)\"[\(index)] is negative (\(number))") }
            return number
        }
    }

    /// Orders entries by position and checks that they tile the data region exactly, as the Rust reference does:
    /// no two tensors share bytes, no bytes lie between tensors, and none follow the last one.
    private static func checkLayout(_ entries: [SafetensorsEntry], dataLength: Int, path: String) throws
        -> [SafetensorsEntry]
    {
        let ordered = entries.sorted {
            ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound)
                || ($0.byteRange == $1.byteRange && $0.name.utf8.lexicographicallyPrecedes($1.name.utf8))
        }
        var covered = 0
        var last: SafetensorsEntry?  // The entry whose data ends at `covered`.
        for entry in ordered {
            if let last, entry.byteRange.lowerBound < covered {
                throw SafetensorsError.overlappingData(path: path, tensor: entry.name, range: entry.byteRange,
                                                       other: last.name, otherRange: last.byteRange)
            }
            guard entry.byteRange.lowerBound == covered else {
                throw SafetensorsError.dataGap(path: path, tensor: entry.name, start: entry.byteRange.lowerBound,
                                               previousEnd: covered)
            }
            covered = entry.byteRange.upperBound
            last = entry
        }
        guard covered == dataLength else {
            throw SafetensorsError.trailingData(path: path, coveredBytes: covered, dataLength: dataLength)
        }
        return ordered
    }
}
