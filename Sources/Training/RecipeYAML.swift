import Foundation
import Yams

/// YAML read with bounds, for recipe and adaptation files and the values of `key=value` overrides.
///
/// Yams composes nested collections recursively (a text nested 100,000 levels deep overflows the stack) and turns
/// every alias into a fresh copy of its anchor's contents (nine levels of ten aliases — "billion laughs" — make 10⁹
/// values). So the nesting is measured on the raw text before Yams sees it, and the composed tree (where an alias
/// still shares its anchor's node) is walked with a budget of values before it is turned into Swift values. Keys
/// that appear twice in one mapping are refused with their line: YAML forbids them and Yams keeps one silently.
enum RecipeYAML {
    /// Far deeper than any config needs (a recipe is section → key → list: 3), far shallower than the stack allows.
    static let maxDepth = 200
    /// Values (scalars and collections, aliases counted as the copies they become) a document may expand to.
    static let maxValues = 100_000
    /// Recipes are a few kilobytes; a larger file is not a recipe.
    static let maxBytes = 1 << 20

    /// The document's root value (nil for an empty document). `source` names the text in errors.
    static func load(_ text: String, source: String) throws -> Any? {
        guard text.utf8.count <= maxBytes else {
            throw RecipeError.unreadable(path: source, reason: "\(text.utf8.count) bytes is larger than any config "
                                             + "(at most \(maxBytes))")
        }
        let depth = nestingBound(text)
        guard depth <= maxDepth else {
            throw RecipeError.unreadable(path: source, reason: "may nest lists and mappings \(depth) levels deep (block "
                                             + "levels plus every '[' and '{'), more than the \(maxDepth) a config may have")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw RecipeError.unreadable(path: source, reason: "not valid YAML (\(error))")
        }
        guard let root else { return nil }
        var budget = maxValues
        try check(root, budget: &budget, source: source)
        return Constructor.default.any(from: root)
    }

    /// Counts the values under `node` against `budget` (aliases count again each time they appear) and refuses
    /// duplicate keys. Recursion is bounded by `maxDepth`, checked before composing.
    private static func check(_ node: Node, budget: inout Int, source: String) throws {
        budget -= 1
        guard budget >= 0 else {
            throw RecipeError.unreadable(path: source, reason: "expands to more than \(maxValues) values (aliases "
                                             + "repeat their anchor's contents each time they appear)")
        }
        switch node {
        case .scalar: return
        case .sequence(let sequence):
            for item in sequence { try check(item, budget: &budget, source: source) }
        case .mapping(let mapping):
            var seen: [String: Int] = [:]
            for (key, value) in mapping {
                let name = key.scalar?.string ?? "\(key)"
                let line = key.mark?.line ?? 0
                if let first = seen[name] {
                    throw RecipeError.duplicateKey(key: name, source: "\(source):\(line)", firstLine: first)
                }
                seen[name] = line
                try check(key, budget: &budget, source: source)
                try check(value, budget: &budget, source: source)
            }
        }
    }

    /// An upper bound on how deeply `text` nests collections, from one pass over its lines: the open block
    /// indentation levels, the `- ` / `? ` indicators that start a line's content (`- - x` nests on one line), one
    /// for a mapping key, plus every `[` and `{` in the whole text. Counting every bracket (in quotes and comments
    /// too) is crude but can never under-count, whatever the quoting; a real config has a handful.
    static func nestingBound(_ text: String) -> Int {
        var brackets = 0, deepestBlock = 0
        var indents: [Int] = []  // the open block indentation levels
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let bytes = Array(line)
            brackets += bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "[") || $1 == UInt8(ascii: "{") ? 1 : 0) }
            var i = 0
            while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
            guard i < bytes.count, bytes[i] != UInt8(ascii: "#"), bytes[i] != UInt8(ascii: "\r") else { continue }
            while let last = indents.last, last >= i { indents.removeLast() }
            indents.append(i)
            var indicators = 0
            while i + 1 < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "?"),
                  bytes[i + 1] == UInt8(ascii: " ") || bytes[i + 1] == UInt8(ascii: "\t") {
                indicators += 1
                i += 2
                while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
            }
            deepestBlock = max(deepestBlock, indents.count + indicators + 1)
        }
        return deepestBlock + brackets
    }
}
