// Errors of the GGUF reader. Every message names the file, and the key or tensor at fault.
import Foundation

public enum GGUFError: Error, LocalizedError, Equatable {
    /// The file could not be opened, stat'ed or mapped.
    case cannotOpen(path: String, reason: String)
    /// The first four bytes are not "GGUF".
    case badMagic(path: String, found: [UInt8])
    /// A version other than 2 or 3 (1 is the obsolete GGUFv1 with 32-bit counts; a huge value means the other
    /// byte order).
    case unsupportedVersion(path: String, version: UInt32)
    /// The file ends inside the header, metadata or tensor table, or a length / count there cannot fit in the rest
    /// of the file (a string length beyond the file, an absurd array, key/value or tensor count): `context` says
    /// what was being read.
    case truncated(path: String, context: String, offset: Int, needed: Int, available: Int)
    /// A metadata value whose type tag is none of GGUF's 13 types.
    case unknownValueType(path: String, key: String, rawType: UInt32)
    case duplicateKey(path: String, key: String)
    /// A metadata value that is present but unusable (e.g. a `general.alignment` that is not a power of two).
    case invalidMetadata(path: String, key: String, reason: String)
    /// A tensor whose type id is not a ggml type.
    case unknownTensorType(path: String, tensor: String, rawType: UInt32)
    /// A known ggml type this reader cannot dequantize (only F32, F16, BF16, Q8_0, Q4_0, Q4_1 are supported).
    case unsupportedTensorType(path: String, tensor: String, type: GGUFTensorType)
    /// A bad tensor table entry: too many dimensions, element count overflow, row not a whole number of blocks, ...
    case invalidTensor(path: String, tensor: String, reason: String)
    case duplicateTensor(path: String, tensor: String)
    /// A tensor's data offset is not a multiple of the file's alignment.
    case misalignedTensor(path: String, tensor: String, offset: Int, alignment: Int)
    /// A tensor's data [start, end) reaches past the end of the file.
    case tensorOutOfBounds(path: String, tensor: String, start: Int, end: Int, fileSize: Int)
    /// Two tensors' data ranges overlap.
    case overlappingTensors(path: String, tensor: String, other: String)
    case tensorNotFound(path: String, tensor: String)
    /// A metadata key that is needed (e.g. by `hfConfig()`) is absent.
    case missingKey(path: String, key: String)
    /// A metadata key holds a different type than needed.
    case typeMismatch(path: String, key: String, expected: String, found: String)
    /// An output buffer of the wrong size was passed.
    case bufferSizeMismatch(path: String, tensor: String, expected: Int, actual: Int)
    /// HF mapping / config for an architecture this reader does not know.
    case unsupportedArchitecture(path: String, architecture: String)

    /// The path of the file the error is about.
    public var path: String {
        switch self {
        case .cannotOpen(let p, _), .badMagic(let p, _), .unsupportedVersion(let p, _),
             .truncated(let p, _, _, _, _), .unknownValueType(let p, _, _),
             .duplicateKey(let p, _), .invalidMetadata(let p, _, _), .unknownTensorType(let p, _, _),
             .unsupportedTensorType(let p, _, _), .invalidTensor(let p, _, _), .duplicateTensor(let p, _),
             .misalignedTensor(let p, _, _, _), .tensorOutOfBounds(let p, _, _, _, _),
             .overlappingTensors(let p, _, _), .tensorNotFound(let p, _), .missingKey(let p, _),
             .typeMismatch(let p, _, _, _), .bufferSizeMismatch(let p, _, _, _),
             .unsupportedArchitecture(let p, _):
            return p
        }
    }

    public var errorDescription: String? {
        switch self {
        case .cannotOpen(let p, let reason):
            return "GGUF file '\(p)': cannot open: \(reason)"
        case .badMagic(let p, let found):
            let text = found.map { (0x20..<0x7f).contains($0) ? String(UnicodeScalar($0)) : "?" }.joined()
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "GGUF file '\(p)': bad magic '\(text)' (\(hex)), expected 'GGUF': not a GGUF file"
        case .unsupportedVersion(let p, let v):
            if v == 1 {
                return "GGUF file '\(p)': GGUF version 1 is not supported (only versions 2 and 3); "
                    + "re-convert the model with a current llama.cpp"
            }
            if v & 0xFFFF == 0 {
                return "GGUF file '\(p)': GGUF version \(v) is not supported: the file is probably big-endian"
            }
            return "GGUF file '\(p)': GGUF version \(v) is not supported (only versions 2 and 3)"
        case .truncated(let p, let context, let offset, let needed, let available):
            return "GGUF file '\(p)' is truncated or corrupt: reading \(context) at byte \(offset) needs "
                + "\(needed) bytes but only \(available) remain"
        case .unknownValueType(let p, let key, let raw):
            return "GGUF file '\(p)': metadata key '\(key)' has unknown value type \(raw)"
        case .duplicateKey(let p, let key):
            return "GGUF file '\(p)': duplicate metadata key '\(key)'"
        case .invalidMetadata(let p, let key, let reason):
            return "GGUF file '\(p)': metadata key '\(key)': \(reason)"
        case .unknownTensorType(let p, let tensor, let raw):
            return "GGUF file '\(p)': tensor '\(tensor)' has unknown tensor type \(raw)"
        case .unsupportedTensorType(let p, let tensor, let type):
            return "GGUF file '\(p)': tensor '\(tensor)' has type \(type), which cannot be dequantized "
                + "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)"
        case .invalidTensor(let p, let tensor, let reason):
            return "GGUF file '\(p)': tensor '\(tensor)': \(reason)"
        case .duplicateTensor(let p, let tensor):
            return "GGUF file '\(p)': duplicate tensor name '\(tensor)'"
        case .misalignedTensor(let p, let tensor, let offset, let alignment):
            return "GGUF file '\(p)': tensor '\(tensor)' data offset \(offset) is not a multiple of the "
                + "alignment \(alignment)"
        case .tensorOutOfBounds(let p, let tensor, let start, let end, let size):
            return "GGUF file '\(p)': tensor '\(tensor)' data [\(start), \(end)) lies beyond the end of the file "
                + "(\(size) bytes): the file is truncated or corrupt"
        case .overlappingTensors(let p, let tensor, let other):
            return "GGUF file '\(p)': tensor '\(tensor)' data overlaps tensor '\(other)'"
        case .tensorNotFound(let p, let tensor):
            return "GGUF file '\(p)': no tensor named '\(tensor)'"
        case .missingKey(let p, let key):
            return "GGUF file '\(p)': metadata key '\(key)' is missing"
        case .typeMismatch(let p, let key, let expected, let found):
            return "GGUF file '\(p)': metadata key '\(key)' is \(found), expected \(expected)"
        case .bufferSizeMismatch(let p, let tensor, let expected, let actual):
            return "GGUF file '\(p)': tensor '\(tensor)' has \(expected) elements but the output buffer holds "
                + "\(actual)"
        case .unsupportedArchitecture(let p, let arch):
            return "GGUF file '\(p)': architecture '\(arch)' is not supported for the Hugging Face mapping "
                + "(supported: \(GGUFFile.hfArchitectures.sorted().joined(separator: ", ")))"
        }
    }
}
