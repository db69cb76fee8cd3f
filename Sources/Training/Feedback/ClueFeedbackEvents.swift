import Foundation

/// Where a round of the clue-feedback stage's scoring stands (`TrainingEvent.feedback`, after each question).
public struct ClueFeedbackProgress: Sendable, Equatable {
    /// 1-based.
    public var round: Int
    public var rounds: Int
    public var scored: Int
    public var total: Int
    /// Questions whose own top-k passages miss the evidence: the ones clue sets are sampled for.
    public var eligible: Int
    /// Eligible questions whose best clue set gained more than `feedback.min_gain`: SFT examples of the round.
    public var kept: Int
    /// Mean gain in reciprocal rank of the kept questions' best clue sets.
    public var meanKeptGain: Double
}

/// A round's scoring, complete: its metrics.jsonl line (`TrainingEvent.feedbackRound`).
public struct ClueFeedbackRound: Codable, Sendable, Equatable {
    /// 1-based.
    public var round: Int
    /// Optimizer steps done when the round began (its training takes the steps after).
    public var step: Int
    public var questions: Int
    public var eligible: Int
    public var kept: Int
    /// Over eligible questions: the best of the sampled clue sets' gains (what rejection sampling finds), and every
    /// sampled set's gain (what the model writes on average: the figure the rounds should raise).
    public var meanBestGain: Double
    public var meanSampleGain: Double
    /// Over kept questions.
    public var meanKeptGain: Double
    /// Seconds the scoring took (resumed scoring: the part done by the process that finished it).
    public var scoringSeconds: Double

    enum CodingKeys: String, CodingKey {
        case round = "feedback_round", step, questions, eligible, kept, meanBestGain = "mean_best_gain"
        case meanSampleGain = "mean_sample_gain", meanKeptGain = "mean_kept_gain", scoringSeconds = "scoring_s"
    }
}

/// A data source with progress of its own while the trainer runs (the clue-feedback stage scores questions between
/// steps). `Trainer.run` sets `report` for the length of the run; a `.feedbackRound` event also becomes a line of
/// metrics.jsonl, written when it is reported, so a resumed run cuts it back with the other lines.
public protocol ReportingDataSource: TrainingDataSource {
    var report: ((TrainingEvent) throws -> Void)? { get set }
}
