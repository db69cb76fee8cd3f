import Foundation

/// Failures loading or running a model; messages name the file or directory and the problem.
public enum ModelError: Error, LocalizedError, Equatable {
    case invalidConfig(String)
    case unreadable(path: String, reason: String)
    case incompatibleWeights(path: String, reason: String)
    case invalidInput(String)

    public var errorDescription: String? {
        switch self {
        case .invalidConfig(let why): return "invalid model config: \(why)"
        case .unreadable(let path, let reason): return "\(path): \(reason)"
        case .incompatibleWeights(let path, let reason): return "\(path): weights do not match the config: \(reason)"
        case .invalidInput(let why): return "invalid input: \(why)"
        }
    }
}
