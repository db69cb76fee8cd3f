import Foundation
import Torch

/// One micro-batch. `labels` are aligned with `inputIds` (Hugging Face's convention): the objective shifts them, so a
/// position's label is the token itself and −100 marks positions that must not count (prompts, padding, beacons).
public struct TrainingBatch {
    /// int64 [batch, length]
    public var inputIds: Tensor
    /// int64 [batch, length]; `ignoreIndex` where no loss is taken.
    public var labels: Tensor
    /// For a preference objective (`DPOObjective`): each row's summed log-probability of its labels under the
    /// reference model. Rows come in pairs, chosen then rejected.
    public var referenceLogProbs: [Double]?

    public static let ignoreIndex = -100

    public init(inputIds: Tensor, labels: Tensor, referenceLogProbs: [Double]? = nil) {
        self.inputIds = inputIds
        self.labels = labels
        self.referenceLogProbs = referenceLogProbs
    }
}

/// Where a data source stands, as named integers, so it can be saved in `trainer_state.json` and restored: e.g.
/// `["epoch": 3, "index": 17]` for a shuffled pass over windows, or a sampler's RNG words.
public struct DataCursor: Codable, Sendable, Equatable {
    public var fields: [String: Int]

    public init(_ fields: [String: Int] = [:]) { self.fields = fields }

    public subscript(key: String) -> Int? { fields[key] }
}

/// A stream of training batches with a resumable position. Implementations: `InMemoryTokenSource` (token arrays, for
/// tests and small JSON corpora); the HDF5 token store and the seeded long-context sampler of the `Data` target plug
/// in through the same three members.
public protocol TrainingDataSource: AnyObject {
    /// The next batch; sources cycle forever (a new shuffled epoch after the last batch).
    func next() throws -> TrainingBatch
    /// The position before the batch `next()` would return.
    var cursor: DataCursor { get }
    /// Continues exactly where `cursor` was taken; an unreadable cursor is an error naming the problem.
    func restore(_ cursor: DataCursor) throws
}

public enum TrainingDataError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case tooLittleData(String)
    /// A clue-feedback round found no question whose best clue set gained more than `minGain`: nothing to train.
    case feedbackKeptNothing(round: Int, questions: Int, eligible: Int, minGain: Double)
    case badCursor(String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path, let reason): return "\(path): \(reason)"
        case .tooLittleData(let why): return "not enough data: \(why)"
        case .feedbackKeptNothing(let round, let questions, let eligible, let minGain):
            return "not enough data: feedback round \(round) kept none of its \(questions) questions (\(eligible) missed "
                + "their evidence alone; no clue set of theirs gained more than feedback.min_gain \(minGain)); add "
                + "questions, raise feedback.samples or lower feedback.min_gain"
        case .badCursor(let why): return "cannot restore the data cursor: \(why)"
        }
    }
}
