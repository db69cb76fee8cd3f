import Foundation
import Torch

/// `recipes/adapt.yaml`: the settings of `memorag adapt` — how the domain is split, how many clue examples the base
/// model writes, the budgets of the three short training stages (applied as overrides to their stage recipes), and
/// the before/after evaluation. Read with the recipe loader: dotted `key=value` overrides, unknown keys rejected.
public struct AdaptationConfig: Codable, Sendable, Equatable {
    public struct Model: Codable, Sendable, Equatable {
        /// The model to adapt (a beacon delta, HF dir or GGUF); absent: the caller's default (the shipped model).
        public var path: String?
    }

    public struct Split: Codable, Sendable, Equatable {
        /// Share of the documents held out (at least one); a single document holds out this share of its text, as
        /// its last paragraphs.
        public var heldOutFraction: Double

        enum CodingKeys: String, CodingKey { case heldOutFraction = "held_out_fraction" }
    }

    public struct Clues: Codable, Sendable, Equatable {
        /// Window-sized contexts drawn (seeded) from the training documents for clue examples.
        public var contexts: Int
        /// Contexts drawn from the held-out text for the held-out clue loss (0: none).
        public var heldOutContexts: Int
        /// Passages asked about per training context, and per held-out context (held-out questions are what the
        /// retrieval evaluation asks, so they come denser).
        public var passages: Int
        public var heldOutPassages: Int
        public var contextTokens: Int
        public var maxNewTokens: Int
        public var temperature: Double
        /// Who writes the questions: `base`, the base model under a beacon delta (what `data synth-clues` uses by
        /// default: question writing reads the passage in its prompt and needs no memory), or `model`, the model
        /// being adapted itself. A model that is not a delta writes its own either way.
        public var writer: String

        enum CodingKeys: String, CodingKey {
            case contexts, passages, temperature, writer
            case heldOutContexts = "held_out_contexts", heldOutPassages = "held_out_passages"
            case contextTokens = "context_tokens", maxNewTokens = "max_new_tokens"
        }
    }

    /// A training stage: its recipe file and the budget laid over it.
    public struct Stage: Codable, Sendable, Equatable {
        /// The stage recipe, relative to this file's directory (or absolute).
        public var recipe: String
        public var maxSteps: Int
        public var minLength: Int
        public var maxLength: Int
        public var gradAccumulation: Int
        public var lr: Double
        public var warmupSteps: Int
        public var ratios: [Int]
        public var checkpointEvery: Int
        /// Any other key=value overrides of the stage recipe.
        public var overrides: [String]?

        enum CodingKeys: String, CodingKey {
            case recipe, lr, ratios, overrides
            case maxSteps = "max_steps", minLength = "min_length", maxLength = "max_length"
            case gradAccumulation = "grad_accumulation", warmupSteps = "warmup_steps", checkpointEvery = "checkpoint_every"
        }
    }

    public struct Evaluation: Codable, Sendable, Equatable {
        /// Tokens per held-out segment (the last beacon window is read raw after the compressed rest).
        public var length: Int
        public var segments: Int
        public var ratios: [Int]
        /// Held-out clue examples scored before and after (0: skip that loss).
        public var clueExamples: Int
        /// Held-out clue questions whose evidence retrieval is measured before and after, with the model's clues
        /// and by the question alone (0: skip; `ClueRetrievalEvaluation`).
        public var retrievalQuestions: Int
        /// The retriever of that measurement (nil: the installed all-MiniLM-L6-v2, the pipeline's).
        public var retriever: String?

        enum CodingKeys: String, CodingKey {
            case length, segments, ratios, retriever, clueExamples = "clue_examples"
            case retrievalQuestions = "retrieval_questions"
        }
    }

    public struct Export: Codable, Sendable, Equatable {
        /// fp32, bf16 or fp16.
        public var dtype: String
    }

    /// Absent or without a path: the caller's default model.
    public var model: Model?
    public var split: Split
    public var clues: Clues
    public var pretrain: Stage
    public var sft: Stage
    /// Clue training on retrieval feedback (stage clue-feedback) over the training clue data, after SFT.
    public var feedback: Stage
    public var eval: Evaluation
    public var export: Export
    /// fp32 or bf16 for training and evaluation.
    public var dtype: String
    public var seed: Int
    public var threads: Int?
    /// `auto`, `cpu`, `cuda` or `cuda:N` for every stage (absent: `auto`); the stage recipes take it as `device`.
    public var device: String?

    public static let schema: ConfigSchema = {
        typealias F = RecipeSchema.Field
        var fields: [F] = [
            F(path: "model.path", kind: .string, optional: true),
            F(path: "split.held_out_fraction", kind: .float, optional: false),
            F(path: "clues.contexts", kind: .int, optional: false),
            F(path: "clues.held_out_contexts", kind: .int, optional: false),
            F(path: "clues.passages", kind: .int, optional: false),
            F(path: "clues.held_out_passages", kind: .int, optional: false),
            F(path: "clues.context_tokens", kind: .int, optional: false),
            F(path: "clues.max_new_tokens", kind: .int, optional: false),
            F(path: "clues.temperature", kind: .float, optional: false),
            F(path: "clues.writer", kind: .choice(["base", "model"]), optional: false),
        ]
        for stage in ["pretrain", "sft", "feedback"] {
            fields += [
                F(path: "\(stage).recipe", kind: .string, optional: false),
                F(path: "\(stage).max_steps", kind: .int, optional: false),
                F(path: "\(stage).min_length", kind: .int, optional: false),
                F(path: "\(stage).max_length", kind: .int, optional: false),
                F(path: "\(stage).grad_accumulation", kind: .int, optional: false),
                F(path: "\(stage).lr", kind: .float, optional: false),
                F(path: "\(stage).warmup_steps", kind: .int, optional: false),
                F(path: "\(stage).ratios", kind: .intList, optional: false),
                F(path: "\(stage).checkpoint_every", kind: .int, optional: false),
                F(path: "\(stage).overrides", kind: .stringList, optional: true),
            ]
        }
        fields += [
            F(path: "eval.length", kind: .int, optional: false),
            F(path: "eval.segments", kind: .int, optional: false),
            F(path: "eval.ratios", kind: .intList, optional: false),
            F(path: "eval.clue_examples", kind: .int, optional: false),
            F(path: "eval.retrieval_questions", kind: .int, optional: false),
            F(path: "eval.retriever", kind: .string, optional: true),
            F(path: "export.dtype", kind: .choice(["fp32", "bf16", "fp16"]), optional: false),
            F(path: "dtype", kind: .choice(["fp32", "bf16"]), optional: false),
            F(path: "seed", kind: .int, optional: false),
            F(path: "threads", kind: .int, optional: true),
            F(path: "device", kind: .string, optional: true),
        ]
        return ConfigSchema(fields: fields)
    }()

    /// `laterOverrides` may set keys of `overrides` again (see `RecipeLoader.load`).
    public static func load(file: URL, overrides: [String] = [], laterOverrides: [String] = []) throws -> AdaptationConfig {
        let config: AdaptationConfig = try RecipeLoader.decode(yaml: try RecipeLoader.readText(file), source: file.path,
                                                                overrides: overrides, laterOverrides: laterOverrides,
                                                                schema: schema)
        try config.validate()
        return config
    }

    /// The config as YAML (saved in the run dir, and compared on a re-run).
    public func yaml() throws -> String { try RecipeLoader.yaml(self, schema: Self.schema) }

    public func validate() throws {
        func fail(_ key: String, _ why: String) -> RecipeError { .invalidValue(key: key, reason: why) }
        guard split.heldOutFraction > 0, split.heldOutFraction < 1 else {
            throw fail("split.held_out_fraction", "must lie in (0, 1)")
        }
        guard clues.contexts >= 0, clues.heldOutContexts >= 0 else { throw fail("clues.contexts", "must not be negative") }
        guard clues.passages > 0 else { throw fail("clues.passages", "must be positive") }
        guard clues.heldOutPassages > 0 else { throw fail("clues.held_out_passages", "must be positive") }
        guard clues.contextTokens > 0 else { throw fail("clues.context_tokens", "must be positive") }
        guard clues.maxNewTokens > 0 else { throw fail("clues.max_new_tokens", "must be positive") }
        guard clues.temperature >= 0 else { throw fail("clues.temperature", "must not be negative") }
        for (name, stage) in [("pretrain", pretrain), ("sft", sft), ("feedback", feedback)] {
            guard stage.maxSteps >= 0 else { throw fail("\(name).max_steps", "must not be negative (0 skips the stage)") }
            guard stage.checkpointEvery > 0 else { throw fail("\(name).checkpoint_every", "must be positive") }
            guard !stage.ratios.isEmpty, stage.ratios.allSatisfy({ $0 > 0 }) else {
                throw fail("\(name).ratios", "needs positive ratios")
            }
        }
        guard eval.length >= 2, eval.segments >= 1 else { throw fail("eval.length", "needs length ≥ 2 and segments ≥ 1") }
        guard eval.ratios.allSatisfy({ $0 > 0 }) else { throw fail("eval.ratios", "must be positive") }
        guard eval.clueExamples >= 0 else { throw fail("eval.clue_examples", "must not be negative") }
        guard eval.retrievalQuestions >= 0 else { throw fail("eval.retrieval_questions", "must not be negative") }
        if let threads, threads <= 0 || threads > Recipe.maxThreads { throw fail("threads", "must lie in 1…\(Recipe.maxThreads)") }
        if let device, (try? DeviceChoice(parsing: device)) == nil {
            throw fail("device", "must be auto, cpu, cuda or cuda:N (N a GPU index), got '\(device)'")
        }
        // The stage recipes take the seed, and they refuse a negative one: say so before any stage runs.
        guard seed >= 0 else { throw fail("seed", "must not be negative, got \(seed)") }
    }
}
