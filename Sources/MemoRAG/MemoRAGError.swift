import Foundation

/// Failures of the pipeline; each message names the file or the argument and the problem.
public enum MemoRAGError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    /// A cache dir made by another memory model, retriever or format version.
    case incompatibleCache(path: String, reason: String)
    case invalidArgument(String)
    /// No memory is loaded yet (memorize or load first).
    case noMemory
    /// The input cannot fit the model's positions even at the largest ratio.
    case tooLong(String)
    case generator(String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .corrupt(let path, let reason): return "\(path): \(reason)"
        case .incompatibleCache(let path, let reason):
            return "\(path): this cache was made for something else: \(reason). Memorize the text again with this model."
        case .invalidArgument(let message): return message
        case .noMemory: return "no memory loaded: memorize a text or load a cache dir first"
        case .tooLong(let message): return message
        case .generator(let message): return message
        }
    }
}
