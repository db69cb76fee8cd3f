import Foundation

/// Reads a recipe YAML file, applies `key=value` / `~key` overrides, and decodes the result into a `Recipe`.
///
/// Overrides use dotted paths (`optimizer.lr=3e-4`) and are typed by `RecipeSchema`: ints, floats, bools, strings,
/// lists (`data.ratios=[2,4,8]` or `data.ratios=2,4,8`) and closed choices. Unknown keys — in the file or in an
/// override — are errors listing the valid keys near them; `~key` deletes an optional key.
public enum RecipeLoader {
    ///
    /// A key may appear once in the file and once in `overrides`. `laterOverrides` are applied after `overrides`
    /// and may set their keys again (a caller's generated overrides, then the user's).
    public static func load(file: URL, overrides: [String] = [], laterOverrides: [String] = []) throws -> Recipe {
        try resolve(yaml: try readText(file), source: file.path, overrides: overrides, laterOverrides: laterOverrides)
    }

    /// A config file's text, refused before it is read whole when it is larger than any config.
    static func readText(_ file: URL) throws -> String {
        let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= RecipeYAML.maxBytes else {
            throw RecipeError.unreadable(path: file.path, reason: "\(size) bytes is larger than any config "
                                             + "(at most \(RecipeYAML.maxBytes))")
        }
        do {
            return try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw RecipeError.unreadable(path: file.path, reason: "cannot read the file (\(error.localizedDescription))")
        }
    }

    /// `source` names the text in error messages (its file path).
    public static func resolve(yaml text: String, source: String, overrides: [String] = [],
                               laterOverrides: [String] = []) throws -> Recipe {
        let recipe: Recipe = try decode(yaml: text, source: source, overrides: overrides, laterOverrides: laterOverrides,
                                        schema: RecipeSchema.schema)
        try recipe.validate()
        return recipe
    }

    /// Any config described by `schema`, read the way recipes are: the file's keys and the overrides checked against
    /// the schema (unknown keys are errors naming the valid ones near them), typed, then decoded into `T`.
    public static func decode<T: Decodable>(yaml text: String, source: String, overrides: [String] = [],
                                            laterOverrides: [String] = [], schema: ConfigSchema) throws -> T {
        var values = try flatten(parseYAML(text, source: source), source: source, schema: schema)
        for layer in [overrides, laterOverrides] {
            try refuseRepeatedKeys(layer)
            for override in layer { try apply(override, to: &values, schema: schema) }
        }
        for field in schema.fields where !field.optional && values[field.path] == nil {
            throw RecipeError.missingKey(key: field.path, source: source)
        }
        do {
            let json = try JSONSerialization.data(withJSONObject: nest(values))
            return try JSONDecoder().decode(T.self, from: json)
        } catch {
            // The schema already checked every key and type, so this is a disagreement between schema and struct.
            throw RecipeError.unreadable(path: source, reason: "does not decode as \(T.self) (\(error))")
        }
    }

    /// The recipe as YAML in the schema's key order (what `memorag train` prints and saves as recipe.yaml).
    public static func yaml(_ recipe: Recipe) throws -> String { try yaml(recipe, schema: RecipeSchema.schema) }

    /// A config as YAML in its schema's key order. Written by hand rather than by YAMLEncoder so floats keep a
    /// decimal point (`3.0e-05`, `0.9`), which YAML 1.1 readers such as PyYAML take as numbers, and strings are
    /// always quoted.
    public static func yaml<T: Encodable>(_ value: T, schema: ConfigSchema) throws -> String {
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
        var lines: [String] = [], openSection: String?
        for field in schema.fields {
            let parts = field.path.split(separator: ".").map(String.init)
            let value = parts.count == 1 ? object[parts[0]] : (object[parts[0]] as? [String: Any])?[parts[1]]
            guard let value, !(value is NSNull) else { continue }
            if parts.count == 2, openSection != parts[0] {
                lines.append("\(parts[0]):")
                openSection = parts[0]
            } else if parts.count == 1 {
                openSection = nil
            }
            lines.append((parts.count == 2 ? "  " : "") + "\(parts.last!): " + scalar(value, kind: field.kind))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func scalar(_ value: Any, kind: RecipeSchema.Kind) -> String {
        switch kind {
        case .int: return "\(value)"
        case .bool: return (value as? Bool) == true ? "true" : "false"
        case .float: return float(value)
        case .string, .choice: return quoted("\(value)")
        case .intList: return "[" + ((value as? [Any]) ?? []).map { "\($0)" }.joined(separator: ", ") + "]"
        case .floatList: return "[" + ((value as? [Any]) ?? []).map(float).joined(separator: ", ") + "]"
        case .stringList: return "[" + ((value as? [Any]) ?? []).map { quoted("\($0)") }.joined(separator: ", ") + "]"
        }
    }

    private static func float(_ value: Any) -> String {
        let number = (value as? Double) ?? Double("\(value)") ?? .nan
        var text = "\(number)"
        if text.contains("e"), !text.contains(".") { text = text.replacingOccurrences(of: "e", with: ".0e") }
        return text
    }

    private static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    // MARK: - Parsing

    private static func parseYAML(_ text: String, source: String) throws -> [String: Any] {
        guard let loaded = try RecipeYAML.load(text, source: source) else { return [:] }
        guard let map = stringKeyed(loaded) else {
            throw RecipeError.unreadable(path: source, reason: "the top level must be a mapping of keys to values")
        }
        return map
    }

    private static func stringKeyed(_ value: Any) -> [String: Any]? {
        if let map = value as? [String: Any] { return map }
        guard let map = value as? [AnyHashable: Any] else { return nil }
        var result: [String: Any] = [:]
        for (key, value) in map { result["\(key.base)"] = value }
        return result
    }

    /// Dotted path → typed leaf value, checking every key against the schema.
    private static func flatten(_ map: [String: Any], prefix: String = "", source: String, schema: ConfigSchema) throws
        -> [String: Any]
    {
        var result: [String: Any] = [:]
        for (key, value) in map {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if prefix.isEmpty, schema.sections.contains(key) {
                guard let inner = stringKeyed(value) else {
                    throw RecipeError.wrongType(key: path, expected: "a mapping of keys", got: "\(value)", source: source)
                }
                result.merge(try flatten(inner, prefix: path, source: source, schema: schema)) { $1 }
                continue
            }
            guard let field = schema.byPath[path] else {
                throw RecipeError.unknownKey(key: path, source: source, validNearby: schema.suggestions(for: path))
            }
            if value is NSNull {
                guard field.optional else { throw RecipeError.missingKey(key: path, source: source) }
                continue
            }
            result[path] = try coerce(value, to: field, source: source)
        }
        return result
    }

    /// One list of overrides sets each key once (`seed=1 seed=2` is a mistake, not a choice).
    private static func refuseRepeatedKeys(_ overrides: [String]) throws {
        var seen: Set<String> = []
        for override in overrides {
            let key = override.hasPrefix("~") ? String(override.dropFirst())
                : String(override.prefix { $0 != "=" })
            guard seen.insert(key).inserted else {
                throw RecipeError.duplicateKey(key: key, source: "override '\(override)'", firstLine: 0)
            }
        }
    }

    private static func apply(_ override: String, to values: inout [String: Any], schema: ConfigSchema) throws {
        let source = "override '\(override)'"
        if override.hasPrefix("~") {
            let key = String(override.dropFirst())
            guard let field = schema.byPath[key] else {
                throw RecipeError.unknownKey(key: key, source: source, validNearby: schema.suggestions(for: key))
            }
            guard field.optional else { throw RecipeError.notDeletable(key: key) }
            values[key] = nil
            return
        }
        guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
            throw RecipeError.malformedOverride(override)
        }
        let key = String(override[..<eq]), text = String(override[override.index(after: eq)...])
        guard let field = schema.byPath[key] else {
            throw RecipeError.unknownKey(key: key, source: source, validNearby: schema.suggestions(for: key))
        }
        values[key] = try coerce(overrideValue(text, kind: field.kind), to: field, source: source)
    }

    /// An override's text as a YAML value, except where the key is a string (kept verbatim: `model.path=1.0` is a path).
    private static func overrideValue(_ text: String, kind: RecipeSchema.Kind) -> Any {
        switch kind {
        case .string, .choice: return text
        case .intList, .floatList, .stringList:
            // YAML flow lists first (quoted items); globs such as [*q_proj*] are not YAML, so fall back to commas.
            if text.hasPrefix("["), let list = (try? RecipeYAML.load(text, source: "")).flatMap({ $0 }) as? [Any] {
                return list
            }
            var inner = Substring(text)
            if inner.hasPrefix("["), inner.hasSuffix("]") { inner = inner.dropFirst().dropLast() }
            return inner.isEmpty ? [] : inner.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        case .int, .float, .bool:
            return (try? RecipeYAML.load(text, source: "")).flatMap { $0 } ?? text
        }
    }

    /// Checks (and where lossless, converts) a value to the field's kind: JSON-ready output.
    private static func coerce(_ value: Any, to field: RecipeSchema.Field, source: String) throws -> Any {
        let wrong = RecipeError.wrongType(key: field.path, expected: field.kind.name, got: "\(value)", source: source)
        switch field.kind {
        case .int: guard let v = int(value) else { throw wrong }; return v
        case .float: guard let v = double(value) else { throw wrong }; return v
        case .bool: guard let v = value as? Bool else { throw wrong }; return v
        case .string: guard let v = scalarString(value) else { throw wrong }; return v
        case .choice(let options):
            guard let v = scalarString(value), options.contains(v) else { throw wrong }
            return v
        case .intList:
            guard let list = value as? [Any] else { throw wrong }
            return try list.map { guard let v = int($0) else { throw wrong }; return v }
        case .floatList:
            guard let list = value as? [Any] else { throw wrong }
            return try list.map { guard let v = double($0) else { throw wrong }; return v }
        case .stringList:
            guard let list = value as? [Any] else { throw wrong }
            return try list.map { guard let v = scalarString($0) else { throw wrong }; return v }
        }
    }

    private static func int(_ value: Any) -> Int? {
        if value is Bool { return nil }
        if let v = value as? Int { return v }
        if let s = value as? String { return Int(s.replacingOccurrences(of: "_", with: "")) }
        return nil
    }

    /// YAML 1.1 reads `3e-4` (no dot) as a string, so numeric strings count as floats. `.inf` and `.nan` are no
    /// setting's value.
    private static func double(_ value: Any) -> Double? {
        if value is Bool { return nil }
        if let v = value as? Double { return v.isFinite ? v : nil }
        if let v = value as? Int { return Double(v) }
        if let s = value as? String, let v = Double(s), v.isFinite { return v }
        return nil
    }

    private static func scalarString(_ value: Any) -> String? {
        if value is [Any] || stringKeyed(value) != nil || value is NSNull { return nil }
        if let s = value as? String { return s }
        return "\(value)"
    }

    private static func nest(_ values: [String: Any]) -> [String: Any] {
        var root: [String: Any] = [:]
        for (path, value) in values {
            let parts = path.split(separator: ".").map(String.init)
            if parts.count == 1 {
                root[path] = value
            } else {
                var section = root[parts[0]] as? [String: Any] ?? [:]
                section[parts[1]] = value
                root[parts[0]] = section
            }
        }
        return root
    }
}
