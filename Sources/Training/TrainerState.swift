import Foundation
import Torch

/// `trainer_state.json` of a checkpoint: everything besides weights and optimizer moments that a resumed run needs
/// to continue bitwise.
public struct TrainerState: Codable, Sendable, Equatable {
    public var format = "memorag.trainer_state"
    public var version = 1
    /// Optimizer steps completed.
    public var step: Int
    /// libtorch's default CPU generator state (base64 of its bytes).
    public var rngState: String
    public var dataCursor: DataCursor
    /// Length in bytes of metrics.jsonl when the checkpoint was taken: a resumed run cuts the file back to it, so
    /// lines logged after the checkpoint by a killed process do not appear twice.
    public var metricsOffset: UInt64
    public var tokensSeen: Int
    /// Training seconds so far (excluding time the process was not running).
    public var elapsed: Double
    public var recipe: Recipe
    /// Ranks of the data-parallel run that wrote it (absent: one process).
    public var worldSize: Int?
    /// Each rank's data cursor and RNG state, in rank order (absent: one process; `dataCursor` and `rngState` are
    /// rank 0's).
    public var ranks: [RankState]?

    /// Where one rank of a data-parallel run stood at the checkpoint.
    public struct RankState: Codable, Sendable, Equatable {
        public var rank: Int
        public var dataCursor: DataCursor
        public var rngState: String

        enum CodingKeys: String, CodingKey { case rank, dataCursor = "data_cursor", rngState = "rng_state" }
    }

    enum CodingKeys: String, CodingKey {
        case format, version, step, rngState = "rng_state", dataCursor = "data_cursor", metricsOffset = "metrics_offset"
        case tokensSeen = "tokens_seen", elapsed, recipe, worldSize = "world_size", ranks
    }

    public static let fileName = "trainer_state.json"
    public static let optimizerFileName = "trainer_state.safetensors"

    public static func read(from checkpoint: URL) throws -> TrainerState {
        let url = checkpoint.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: url) else {
            throw TrainingError.checkpoint(path: url.path, reason: "missing or unreadable")
        }
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: data)
        } catch {
            throw TrainingError.checkpoint(path: url.path, reason: "not a trainer state (\(error))")
        }
        guard state.format == "memorag.trainer_state", state.version == 1 else {
            throw TrainingError.checkpoint(path: url.path, reason: "format \(state.format) v\(state.version) (expected memorag.trainer_state v1)")
        }
        return state
    }

    func write(to checkpoint: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(self), to: checkpoint.appendingPathComponent(Self.fileName))
    }

    static func encodeRNG(_ state: Tensor) throws -> String { Data(try state.bytes()).base64EncodedString() }

    static func decodeRNG(_ text: String) throws -> Tensor {
        guard let data = Data(base64Encoded: text) else {
            throw TrainingError.checkpoint(path: fileName, reason: "rng_state is not base64")
        }
        return try Tensor(Array(data), shape: [data.count])
    }
}

/// One line of metrics.jsonl and the payload of the progress callback's `.step` event.
public struct StepMetrics: Codable, Sendable, Equatable {
    public var step: Int
    public var maxSteps: Int
    /// Mean loss per counted token over the step's micro-batches.
    public var loss: Double
    public var lr: Double
    /// Counted (loss) tokens per second over the steps since the previous log line (preference pairs with DPO).
    public var tokensPerSecond: Double
    /// Input tokens read per second over the same steps (context and prompt included: in SFT most of them carry no
    /// loss, so this is the model's throughput).
    public var inputTokensPerSecond: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    /// Seconds of training so far.
    public var elapsed: Double

    enum CodingKeys: String, CodingKey {
        case step, maxSteps = "max_steps", loss, lr, tokensPerSecond = "tokens_per_s"
        case inputTokensPerSecond = "input_tokens_per_s", gradNorm = "grad_norm", elapsed
    }
}

/// What the trainer reports while it runs (the CLI turns these into terminal lines; the library never prints).
public enum TrainingEvent: Sendable {
    case resumed(step: Int, from: URL, removedLeftovers: [String])
    /// A checkpoint written by `from` ranks resumed on `to`: the data continues from the same global position,
    /// re-sharded over the new ranks (not bitwise the run that would have continued on `from`).
    case resharded(from: Int, to: Int)
    /// A `step-N/` dir that is not resumed from (what it lacks, or why its state is unreadable); reported before
    /// `resumed` (or before a fresh start when no checkpoint is left).
    case skippedCheckpoint(name: String, reason: String)
    /// Samples of a step whose loss depends on no trainable parameter (an SFT sample that fits in one beacon window
    /// while only beacon parameters train): counted in the loss, no gradient.
    case untrainableSamples(step: Int, count: Int)
    case step(StepMetrics)
    case validation(step: Int, loss: Double, tokens: Int)
    case checkpoint(step: Int, url: URL)
    /// Stage clue-feedback: a question of the current round scored.
    case feedback(ClueFeedbackProgress)
    /// Stage clue-feedback: a round's scoring is complete (or, on resume, its saved result is taken up); its
    /// training steps follow.
    case feedbackRound(ClueFeedbackRound)
}
