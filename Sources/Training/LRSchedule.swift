import Foundation

/// Learning rate as a pure function of the step: linear warmup from 0, then cosine, linear or no decay to `minLR`
/// at `totalSteps` (nanoGPT's `get_lr`, with the decay shape a choice).
public struct LRSchedule: Sendable, Equatable {
    public enum Decay: String, Codable, Sendable, CaseIterable {
        case cosine, linear, constant
    }

    public var peak: Double
    public var minLR: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay

    public init(peak: Double, minLR: Double, warmupSteps: Int, totalSteps: Int, decay: Decay) {
        self.peak = peak
        self.minLR = minLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
    }

    /// The rate for optimizer step `step` (0-based): warmup reaches `peak` at step `warmupSteps`, the decay reaches
    /// `minLR` at step `totalSteps`, and it stays there after.
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps + 1) }
        if decay == .constant { return peak }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        let factor = decay == .cosine ? 0.5 * (1 + cos(Double.pi * progress)) : 1 - progress
        return minLR + factor * (peak - minLR)
    }
}
