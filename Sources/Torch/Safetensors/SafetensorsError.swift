import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong reading or writing safetensors files and sharded checkpoints.
///
/// Paths are the full file-system path of the file at fault, so a message read in a log says which of many shards or
/// checkpoints is broken without further context; tensor names are included wherever one tensor is to blame.
public enum SafetensorsError: Error, Equatable, Sendable {
    // MARK: Reading a file

    /// The file could not be opened or is not a regular file.
    case cannotOpen(path: String, reason: String)
    /// `mmap` refused the file (for example on a file system that does not support mapping).
    case cannotMap(path: String, reason: String)
    /// Fewer than the 8 bytes that hold the header length.
    case fileTooShort(path: String, size: Int)
    /// The header length is beyond `SafetensorsFile.maxHeaderLength`: not a safetensors file, or a corrupt one.
    case headerTooLarge(path: String, headerLength: UInt64, limit: Int)
    /// The header length points past the end of the file.
    case headerExceedsFile(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not UTF-8, not JSON, or not a JSON object.
    case invalidHeader(path: String, reason: String)
    /// `__metadata__` is not an object of string values.
    case invalidMetadata(path: String, reason: String)
    /// A tensor's header entry lacks a field, has one of the wrong type, or has impossible values.
    case invalidEntry(path: String, tensor: String, reason: String)
    /// A dtype string that `DType` has no case for (e.g. "F8_E4M3").
    case unknownDType(path: String, tensor: String, dtype: String)
    /// `data_offsets` span a different number of bytes than shape × dtype size.
    case sizeMismatch(path: String, tensor: String, dtype: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
    /// `data_offsets` end past the end of the data region: usually a truncated file.
    case dataOutOfBounds(path: String, tensor: String, end: Int, dataLength: Int)
    /// Two tensors claim some of the same bytes.
    case overlappingData(path: String, tensor: String, range: Range<Int>, other: String, otherRange: Range<Int>)
    /// A tensor's data does not start where the previous tensor's data ends (safetensors forbids holes).
    case dataGap(path: String, tensor: String, start: Int, previousEnd: Int)
    /// Bytes after the last tensor's data that no tensor accounts for.
    case trailingData(path: String, coveredBytes: Int, dataLength: Int)
    /// `withBytes(of:)` or a checkpoint lookup asked for a name the file or checkpoint does not have.
    case tensorNotFound(path: String, tensor: String)

    // MARK: Writing

    /// A tensor handed to the writer is inconsistent (byte count vs shape, negative dimension, reserved name).
    case invalidTensor(tensor: String, reason: String)
    /// The same tensor name was given twice.
    case duplicateTensorName(tensor: String)
    /// A shard size limit that is not positive.
    case invalidShardSize(maxShardBytes: Int)
    /// A file-system call failed while writing.
    case writeFailed(path: String, reason: String)

    // MARK: Sharded checkpoints

    /// The directory has neither `model.safetensors` nor `model.safetensors.index.json`.
    case noCheckpoint(directory: String)
    /// The directory has both, so which one is current cannot be told.
    case ambiguousCheckpoint(directory: String)
    /// The index file cannot be read, is not JSON of the expected shape, or names an unsafe shard file.
    case invalidIndex(path: String, reason: String)
    /// A shard named by the index is missing or unreadable; `tensor` is one of the tensors mapped to it.
    case cannotOpenShard(indexPath: String, shard: String, tensor: String, reason: String)
    /// The index maps a tensor to a shard that does not contain it.
    case tensorMissingFromShard(indexPath: String, shard: String, tensor: String)
    /// A shard contains a tensor that the index does not map to it.
    case tensorNotInWeightMap(indexPath: String, shard: String, tensor: String)
    /// Several shards contain the same tensor.
    case tensorInSeveralShards(indexPath: String, tensor: String, shards: [String])
}

extension SafetensorsError: LocalizedError, CustomStringConvertible {
    public var errorDescription: String? { description }

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open safetensors file: \(reason)"
        case let .cannotMap(path, reason):
            return "\(path): cannot memory-map safetensors file: \(reason)"
        case let .fileTooShort(path, size):
            return "\(path): truncated safetensors file: \(size) bytes, fewer than the 8-byte header length"
        case let .headerTooLarge(path, headerLength, limit):
            return "\(path): safetensors header length \(headerLength) exceeds the limit of \(limit) bytes"
                + " (corrupt file or not a safetensors file?)"
        case let .headerExceedsFile(path, headerLength, fileSize):
            return "\(path): safetensors header length \(headerLength) runs past the end of the \(fileSize)-byte file"
                + " (truncated file?)"
        case let .invalidHeader(path, reason):
            return "\(path): invalid safetensors header: \(reason)"
        case let .invalidMetadata(path, reason):
            return "\(path): invalid __metadata__: \(reason)"
        case let .invalidEntry(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case let .unknownDType(path, tensor, dtype):
            let known = DType.allCases.map(\.safetensorsName).joined(separator: ", ")
            return "\(path): tensor '\(tensor)': unsupported dtype \"\(dtype)\" (supported: \(known))"
        case let .sizeMismatch(path, tensor, dtype, shape, expectedBytes, actualBytes):
            return "\(path): tensor '\(tensor)': \(dtype) with shape \(shape) needs \(expectedBytes) bytes"
                + " but its data_offsets span \(actualBytes) bytes"
        case let .dataOutOfBounds(path, tensor, end, dataLength):
            return "\(path): tensor '\(tensor)': data ends at byte \(end) of the data region,"
                + " which has only \(dataLength) bytes (truncated file?)"
        case let .overlappingData(path, tensor, range, other, otherRange):
            return "\(path): tensor '\(tensor)' (bytes \(range.lowerBound)..<\(range.upperBound)) overlaps"
                + " tensor '\(other)' (bytes \(otherRange.lowerBound)..<\(otherRange.upperBound))"
        case let .dataGap(path, tensor, start, previousEnd):
            return "\(path): tensor '\(tensor)': data starts at byte \(start) but the previous tensor ends at byte"
                + " \(previousEnd); safetensors data must be contiguous"
        case let .trailingData(path, coveredBytes, dataLength):
            return "\(path): tensors cover \(coveredBytes) bytes of a \(dataLength)-byte data region;"
                + " the remaining bytes belong to no tensor"
        case let .tensorNotFound(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .invalidTensor(tensor, reason):
            return "cannot write tensor '\(tensor)': \(reason)"
        case let .duplicateTensorName(tensor):
            return "cannot write tensors: the name '\(tensor)' is used more than once"
        case let .invalidShardSize(maxShardBytes):
            return "cannot write a sharded checkpoint: maximum shard size \(maxShardBytes) must be positive"
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason)"
        case let .noCheckpoint(directory):
            return "\(directory): no model.safetensors or model.safetensors.index.json"
        case let .ambiguousCheckpoint(directory):
            return "\(directory): has both model.safetensors and model.safetensors.index.json; remove the stale one"
        case let .invalidIndex(path, reason):
            return "\(path): invalid checkpoint index: \(reason)"
        case let .cannotOpenShard(indexPath, shard, tensor, reason):
            return "\(indexPath): cannot open shard '\(shard)', to which weight_map assigns tensor '\(tensor)':"
                + " \(reason)"
        case let .tensorMissingFromShard(indexPath, shard, tensor):
            return "\(indexPath): weight_map puts tensor '\(tensor)' in shard '\(shard)', which does not contain it"
        case let .tensorNotInWeightMap(indexPath, shard, tensor):
            return "\(indexPath): shard '\(shard)' contains tensor '\(tensor)', which weight_map does not assign to it"
        case let .tensorInSeveralShards(indexPath, tensor, shards):
            let list = shards.map { "'\($0)'" }.joined(separator: ", ")
            return "\(indexPath): tensor '\(tensor)' appears in several shards: \(list)"
        }
    }
}

extension SafetensorsError {
    /// The text of a failed system call's `errno`, for the `reason` of an error.
    static func posixReason(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
