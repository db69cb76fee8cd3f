import Datasets
import Foundation

extension Recipe {
    /// The `feedback` section: settings of the `clue-feedback` stage (rejection-sampling SFT or DPO on retrieval
    /// feedback, see `ClueFeedbackSource`). Every key has a default, so the section may be left out; other stages
    /// refuse it.
    public struct Feedback: Codable, Sendable, Equatable {
        /// How a round learns from its scored clue sets.
        public enum Method: String, Codable, Sendable, CaseIterable {
            /// SFT on each kept question's best clue set.
            case rejectionSampling = "rejection-sampling"
            /// DPO: each kept question's best set is preferred to its worst, against the round's starting weights.
            case dpo
        }
        /// DPO by default: on the same questions and samples it moved the clues further than rejection sampling
        /// (docs/training.md#dpo).
        public var method: Method = .dpo
        /// DPO's β: the inverse temperature of the preference (larger: the policy stays nearer its reference).
        public var beta = 0.1
        /// The sentence-transformers dir that scores clues (nil: the installed all-MiniLM-L6-v2, the pipeline's).
        public var retriever: String?
        /// A prompt-set JSON file (nil: the built-in English set, what `data synth-clues` writes by default): it
        /// reads the questions back out of the clue data and asks the model for clues.
        public var prompts: String?
        /// The clue prompt sampled and trained: `rewrite` (surrogate questions, the pipeline's default clue kind),
        /// `recall` (text spans) or `answer` (a draft answer).
        public var clueTask: ClueTask = .rewrite
        /// Clue sets sampled per question.
        public var samples = 4
        public var temperature = 0.8
        public var topP = 0.95
        /// As the pipeline's clue generation: a 135M memory model otherwise repeats one line to the limit.
        public var repetitionPenalty = 1.15
        /// Clue reply length in tokens.
        public var maxNewTokens = 64
        /// Compression ratio of the document's memory (MemoRAG's inference default).
        public var ratio = 4
        /// Passages each list (the question's, each clue's) contributes to the fusion: the pipeline's `hits`.
        public var depth = 3
        /// Weight of the question's list in reciprocal rank fusion: the pipeline's `queryWeight`.
        public var queryWeight = 3.0
        /// The passage budget scored: the evidence's reciprocal rank counts within the first `top_k` fused passages
        /// (about what the pipeline's 1,024 evidence tokens hold), and only questions whose own top `top_k` miss
        /// the evidence are scored (where clues matter).
        public var topK = 5
        /// A question trains on its best clue set when that set's gain in reciprocal rank exceeds this (with `dpo`,
        /// and its worst set gains less than the best).
        public var minGain = 0.0
        /// Sample-score-train rounds; each takes `max_steps / rounds` steps on what its scoring kept, and scores
        /// with the weights the previous round left.
        public var rounds = 1
        /// Questions scored per round, drawn (seeded) from the clue data; nil: all of them.
        public var questionsPerRound: Int?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case method, beta, retriever, prompts, clueTask = "clue_task", samples, temperature, topP = "top_p"
            case repetitionPenalty = "repetition_penalty", maxNewTokens = "max_new_tokens", ratio, depth
            case queryWeight = "query_weight", topK = "top_k", minGain = "min_gain", rounds
            case questionsPerRound = "questions_per_round"
        }

        /// Absent keys take the defaults above.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Feedback()
            method = try c.decodeIfPresent(Method.self, forKey: .method) ?? d.method
            beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
            retriever = try c.decodeIfPresent(String.self, forKey: .retriever)
            prompts = try c.decodeIfPresent(String.self, forKey: .prompts)
            clueTask = try c.decodeIfPresent(ClueTask.self, forKey: .clueTask) ?? d.clueTask
            samples = try c.decodeIfPresent(Int.self, forKey: .samples) ?? d.samples
            temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? d.temperature
            topP = try c.decodeIfPresent(Double.self, forKey: .topP) ?? d.topP
            repetitionPenalty = try c.decodeIfPresent(Double.self, forKey: .repetitionPenalty) ?? d.repetitionPenalty
            maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? d.maxNewTokens
            ratio = try c.decodeIfPresent(Int.self, forKey: .ratio) ?? d.ratio
            depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
            queryWeight = try c.decodeIfPresent(Double.self, forKey: .queryWeight) ?? d.queryWeight
            topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
            minGain = try c.decodeIfPresent(Double.self, forKey: .minGain) ?? d.minGain
            rounds = try c.decodeIfPresent(Int.self, forKey: .rounds) ?? d.rounds
            questionsPerRound = try c.decodeIfPresent(Int.self, forKey: .questionsPerRound)
        }

        /// The section's keys for `RecipeSchema` (all optional: absent keys take the defaults).
        static let schemaFields: [RecipeSchema.Field] = [
            .init(path: "feedback.method", kind: .choice(Method.allCases.map(\.rawValue)), optional: true),
            .init(path: "feedback.beta", kind: .float, optional: true),
            .init(path: "feedback.retriever", kind: .string, optional: true),
            .init(path: "feedback.prompts", kind: .string, optional: true),
            .init(path: "feedback.clue_task", kind: .choice(cluePrompts.map(\.rawValue)), optional: true),
            .init(path: "feedback.samples", kind: .int, optional: true),
            .init(path: "feedback.temperature", kind: .float, optional: true),
            .init(path: "feedback.top_p", kind: .float, optional: true),
            .init(path: "feedback.repetition_penalty", kind: .float, optional: true),
            .init(path: "feedback.max_new_tokens", kind: .int, optional: true),
            .init(path: "feedback.ratio", kind: .int, optional: true),
            .init(path: "feedback.depth", kind: .int, optional: true),
            .init(path: "feedback.query_weight", kind: .float, optional: true),
            .init(path: "feedback.top_k", kind: .int, optional: true),
            .init(path: "feedback.min_gain", kind: .float, optional: true),
            .init(path: "feedback.rounds", kind: .int, optional: true),
            .init(path: "feedback.questions_per_round", kind: .int, optional: true),
        ]

        /// The clue tasks whose prompt takes a question.
        static let cluePrompts: [ClueTask] = [.rewrite, .recall, .answer]

        /// Checks the values (and that `max_steps` divides into the rounds); the message names the key.
        func validate(maxSteps: Int) throws {
            func fail(_ key: String, _ why: String) -> RecipeError { .invalidValue(key: "feedback.\(key)", reason: why) }
            guard Self.cluePrompts.contains(clueTask) else {
                throw fail("clue_task", "must be one of \(Self.cluePrompts.map(\.rawValue).joined(separator: ", "))")
            }
            guard beta > 0, beta.isFinite else { throw fail("beta", "must be positive and finite, got \(beta)") }
            // DPO prefers one sampled set to another: it needs two.
            guard method != .dpo || samples >= 2 else {
                throw fail("samples", "must be at least 2 with method dpo (a best and a worst set), got \(samples)")
            }
            guard samples >= 1, samples <= 64 else { throw fail("samples", "must lie in 1…64, got \(samples)") }
            // Greedy decoding would write the same clue set N times: nothing to choose between.
            guard temperature > 0, temperature <= 10, temperature.isFinite else {
                throw fail("temperature", "must lie in (0, 10] (sampling; 0 would repeat one clue set), got \(temperature)")
            }
            guard topP > 0, topP <= 1 else { throw fail("top_p", "must lie in (0, 1], got \(topP)") }
            guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
                throw fail("repetition_penalty", "must be positive and finite (1: off), got \(repetitionPenalty)")
            }
            guard maxNewTokens >= 1, maxNewTokens <= 4096 else {
                throw fail("max_new_tokens", "must lie in 1…4096, got \(maxNewTokens)")
            }
            guard ratio >= 1, ratio <= 1024 else { throw fail("ratio", "must lie in 1…1024, got \(ratio)") }
            guard depth >= 1, depth <= 1000 else { throw fail("depth", "must lie in 1…1000, got \(depth)") }
            guard queryWeight > 0, queryWeight.isFinite else {
                throw fail("query_weight", "must be positive and finite, got \(queryWeight)")
            }
            guard topK >= 1, topK <= 1000 else { throw fail("top_k", "must lie in 1…1000, got \(topK)") }
            // A gain in reciprocal rank lies in [-1, 1].
            guard minGain >= 0, minGain < 1 else { throw fail("min_gain", "must lie in [0, 1), got \(minGain)") }
            guard rounds >= 1 else { throw fail("rounds", "must be positive, got \(rounds)") }
            guard maxSteps % rounds == 0 else {
                throw fail("rounds", "max_steps (\(maxSteps)) must be a multiple of the rounds (\(rounds)): each round "
                           + "trains max_steps / rounds steps")
            }
            if let n = questionsPerRound, n < 1 { throw fail("questions_per_round", "must be positive, got \(n)") }
        }
    }
}
