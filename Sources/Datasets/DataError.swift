import Foundation

/// Failures of the data layer. Every message names the file (or input) and the problem.
public enum DataError: Error, LocalizedError, Equatable {
    /// The file cannot be opened or read at all (missing, not HDF5, truncated, I/O error).
    case unreadable(path: String, reason: String)
    /// The file opened but is not what was asked for (wrong format, version, tokenizer, inconsistent counts).
    case invalid(path: String, reason: String)
    /// Writing failed.
    case writeFailed(path: String, reason: String)
    /// An input text or JSONL record is unusable.
    case badInput(source: String, reason: String)
    /// An evaluation book was offered to a training-set builder.
    case evaluationBook(source: String, book: String)
    /// A request the data cannot satisfy (e.g. a window longer than the split holds).
    case cannotSample(reason: String)
    /// A corpus package could not be obtained or unpacked.
    case corpus(source: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .invalid(let path, let reason): return "\(path): \(reason)"
        case .writeFailed(let path, let reason): return "\(path): cannot write: \(reason)"
        case .badInput(let source, let reason): return "\(source): \(reason)"
        case .evaluationBook(let source, let book):
            return "\(source): this is the evaluation book \(book); evaluation books never enter training data"
        case .cannotSample(let reason): return "cannot sample: \(reason)"
        case .corpus(let source, let reason): return "corpus \(source): \(reason)"
        }
    }
}
