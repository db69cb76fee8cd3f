import Foundation

/// What can be wrong with a recipe file or a `key=value` override; each message names the key and the source.
public enum RecipeError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case unknownKey(key: String, source: String, validNearby: [String])
    case malformedOverride(String)
    case wrongType(key: String, expected: String, got: String, source: String)
    case missingKey(key: String, source: String)
    case notDeletable(key: String)
    case invalidValue(key: String, reason: String)
    case unknownRecipe(name: String, directory: String, known: [String])
    /// A key given twice: in one YAML mapping (`source` is FILE:LINE of the second, `firstLine` that of the first) or
    /// in one list of overrides (`firstLine` 0).
    case duplicateKey(key: String, source: String, firstLine: Int)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): \(reason)"
        case .unknownKey(let key, let source, let nearby):
            return "\(source): unknown key '\(key)'; valid keys near it: \(nearby.joined(separator: ", "))"
        case .malformedOverride(let text):
            return "override '\(text)' is not key=value or ~key (e.g. optimizer.lr=3e-4, ~clip_grad_norm)"
        case .wrongType(let key, let expected, let got, let source):
            return "\(source): '\(key)' must be \(expected), got '\(got)'"
        case .missingKey(let key, let source):
            return "\(source): required key '\(key)' is missing"
        case .notDeletable(let key):
            return "'~\(key)': only optional keys can be deleted, and '\(key)' is required"
        case .invalidValue(let key, let reason):
            return "'\(key)': \(reason)"
        case .unknownRecipe(let name, let directory, let known):
            return "no recipe '\(name)' in \(directory) (recipes: \(known.joined(separator: ", ")))"
        case .duplicateKey(let key, let source, let firstLine):
            return "\(source): key '\(key)' is given twice" + (firstLine > 0 ? " (first on line \(firstLine))" : "")
                + "; keep one"
        }
    }
}
