/// Every key a recipe may hold, with its type and whether it may be absent. The override parser checks files and
/// `key=value` arguments against this table, so a typo is an error that lists the valid keys; a test keeps the table
/// and the `Recipe` struct in step.
public enum RecipeSchema {
    public enum Kind: Sendable, Equatable {
        case int, float, bool, string
        case intList, floatList, stringList
        case choice([String])

        var name: String {
            switch self {
            case .int: return "int"
            case .float: return "float"
            case .bool: return "bool"
            case .string: return "string"
            case .intList: return "list of int"
            case .floatList: return "list of float"
            case .stringList: return "list of string"
            case .choice(let values): return "one of \(values.joined(separator: " | "))"
            }
        }
    }

    public struct Field: Sendable {
        public let path: String
        public let kind: Kind
        public let optional: Bool
    }

    public static let fields: [Field] = [
        Field(path: "model.path", kind: .string, optional: false),
        Field(path: "data.train", kind: .string, optional: false),
        Field(path: "data.validation", kind: .string, optional: true),
        Field(path: "data.ratios", kind: .intList, optional: true),
        Field(path: "data.ratio_mix", kind: .string, optional: true),
        Field(path: "data.min_length", kind: .int, optional: false),
        Field(path: "data.max_length", kind: .int, optional: false),
        Field(path: "stage", kind: .choice(Recipe.Stage.allCases.map(\.rawValue)), optional: false),
        Field(path: "trainable.mode", kind: .choice(Recipe.Trainable.Mode.allCases.map(\.rawValue)), optional: false),
        Field(path: "trainable.patterns", kind: .stringList, optional: true),
        Field(path: "trainable.lora_modules", kind: .stringList, optional: true),
        Field(path: "trainable.lora_rank", kind: .int, optional: true),
        Field(path: "trainable.lora_alpha", kind: .float, optional: true),
        Field(path: "optimizer.lr", kind: .float, optional: false),
        Field(path: "optimizer.betas", kind: .floatList, optional: false),
        Field(path: "optimizer.weight_decay", kind: .float, optional: false),
        Field(path: "optimizer.eps", kind: .float, optional: false),
        Field(path: "schedule.warmup_steps", kind: .int, optional: false),
        Field(path: "schedule.decay", kind: .choice(LRSchedule.Decay.allCases.map(\.rawValue)), optional: false),
        Field(path: "schedule.min_lr", kind: .float, optional: false),
        Field(path: "max_steps", kind: .int, optional: false),
        Field(path: "batch_size", kind: .int, optional: false),
        Field(path: "grad_accumulation", kind: .int, optional: false),
        Field(path: "clip_grad_norm", kind: .float, optional: true),
        Field(path: "dtype", kind: .choice(["fp32", "bf16", "auto"]), optional: false),
        Field(path: "device", kind: .string, optional: true),
        Field(path: "checkpoint.every", kind: .int, optional: false),
        Field(path: "checkpoint.keep_last", kind: .int, optional: false),
        Field(path: "validation.every", kind: .int, optional: false),
        Field(path: "validation.batches", kind: .int, optional: false),
        Field(path: "log.every", kind: .int, optional: false),
        Field(path: "seed", kind: .int, optional: false),
        Field(path: "threads", kind: .int, optional: true),
        Field(path: "output_dir", kind: .string, optional: false),
        Field(path: "resume", kind: .bool, optional: false),
        Field(path: "distributed.backend", kind: .choice(Recipe.Distributed.Backend.allCases.map(\.rawValue)), optional: true),
        Field(path: "distributed.timeout_s", kind: .float, optional: true),
        Field(path: "distributed.bucket_mb", kind: .float, optional: true),
    ] + Recipe.Feedback.schemaFields

    /// The recipe's keys as a schema the loader checks files and overrides against.
    public static let schema = ConfigSchema(fields: fields)

    static var byPath: [String: Field] { schema.byPath }
    static var sections: Set<String> { schema.sections }
    static func suggestions(for key: String) -> [String] { schema.suggestions(for: key) }

    static func editDistance(_ a: String, _ b: String) -> Int { ConfigSchema.editDistance(a, b) }
}

/// A table of dotted keys (`section.key` or `key`) with their kinds: what `RecipeLoader` checks a YAML file and its
/// `key=value` overrides against. Recipes use `RecipeSchema.schema`; other configs (the adaptation's) bring their own.
public struct ConfigSchema: Sendable {
    public let fields: [RecipeSchema.Field]
    let byPath: [String: RecipeSchema.Field]
    /// Sections (`optimizer`, `data`, …): keys that hold other keys.
    let sections: Set<String>

    public init(fields: [RecipeSchema.Field]) {
        self.fields = fields
        byPath = Dictionary(uniqueKeysWithValues: fields.map { ($0.path, $0) })
        sections = Set(fields.compactMap { field in
            field.path.contains(".") ? String(field.path.split(separator: ".")[0]) : nil
        })
    }

    /// Valid keys that look like `key`: its siblings under the same section, then the closest spellings overall.
    func suggestions(for key: String) -> [String] {
        let parent = key.split(separator: ".").dropLast().joined(separator: ".")
        let topLevel = fields.map(\.path).filter { !$0.contains(".") } + sections.sorted()
        let siblings = parent.isEmpty ? topLevel : fields.map(\.path).filter { $0.hasPrefix(parent + ".") }
        let close = fields.map(\.path)
            .map { ($0, Self.editDistance($0, key)) }
            .filter { $0.1 <= max(3, key.count / 3) }
            .sorted { $0.1 < $1.1 }
            .map(\.0)
        var result: [String] = []
        for path in close + siblings where !result.contains(path) { result.append(path) }
        if result.isEmpty { result = topLevel }
        return Array(result.prefix(8))
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
