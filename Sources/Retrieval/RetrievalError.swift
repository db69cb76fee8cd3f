import Foundation

/// Failures of the retrieval step; messages name the file or the input and the problem.
public enum RetrievalError: Error, LocalizedError, Equatable, Sendable {
    /// The text to chunk has no non-whitespace character.
    case emptyText(document: String)
    case invalidArgument(String)
    /// Vectors of the wrong width for the index or the queries.
    case dimensionMismatch(expected: Int, got: Int, what: String)
    /// faiss refused an operation (message from faiss).
    case index(operation: String, reason: String)
    case unreadableIndex(path: String, reason: String)
    case unwritableIndex(path: String, reason: String)
    case unreadableModel(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .emptyText(let document): return "document '\(document)': nothing to chunk (the text is empty or whitespace)"
        case .invalidArgument(let message): return message
        case .dimensionMismatch(let expected, let got, let what):
            return "\(what): vectors of dimension \(got), expected \(expected)"
        case .index(let operation, let reason): return "faiss \(operation) failed: \(reason)"
        case .unreadableIndex(let path, let reason): return "\(path): cannot read faiss index: \(reason)"
        case .unwritableIndex(let path, let reason): return "\(path): cannot write faiss index: \(reason)"
        case .unreadableModel(let path, let reason): return "\(path): cannot load the embedding model: \(reason)"
        }
    }
}
