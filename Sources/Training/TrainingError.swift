import Foundation

public enum TrainingError: Error, LocalizedError, Equatable {
    /// Writing or reading a checkpoint failed.
    case checkpoint(path: String, reason: String)
    /// The output dir already holds a run and the recipe does not say `resume=true`.
    case outputExists(path: String)
    /// No parameter would train (e.g. `only_beacon` on a model without beacon parameters).
    case nothingToTrain(String)
    /// The loss became NaN or infinite.
    case nonFiniteLoss(step: Int, loss: Double)
    case invalidModel(path: String, reason: String)
    case unsupported(String)
    /// Rendezvous, agreement between ranks or a collective failed (a peer died, timed out or runs another recipe).
    case distributed(String)

    public var errorDescription: String? {
        switch self {
        case .checkpoint(let path, let reason): return "checkpoint \(path): \(reason)"
        case .outputExists(let path):
            return "\(path) already holds checkpoints: pass resume=true to continue, or choose another output_dir"
        case .nothingToTrain(let why): return "nothing to train: \(why)"
        case .nonFiniteLoss(let step, let loss): return "step \(step): loss is \(loss); lower optimizer.lr or check the data"
        case .invalidModel(let path, let reason): return "\(path): \(reason)"
        case .unsupported(let why): return why
        case .distributed(let why): return "distributed: \(why)"
        }
    }
}
