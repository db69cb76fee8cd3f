import Foundation
import Torch

/// The pipeline's figure minus a baseline's over the same questions, with a 95% paired bootstrap interval and how
/// many questions went each way. With a few dozen questions a gap of a few points is often one question; the
/// interval says when a difference could be the draw of questions rather than the method.
public struct PairedDifference: Codable, Sendable, Equatable {
    /// Mean of the per-question differences.
    public var mean: Double
    /// The 2.5th and 97.5th percentiles of the mean over resampled question sets.
    public var low: Double
    public var high: Double
    /// Questions whose difference is above / below zero.
    public var better: Int
    public var worse: Int
    public var questions: Int

    public static let resamples = 2000

    /// `differences` one per question; resampled with a fixed seed, so a report repeats exactly.
    public init(_ differences: [Double], resamples: Int = Self.resamples, seed: UInt64 = 0) {
        questions = differences.count
        better = differences.filter { $0 > 0 }.count
        worse = differences.filter { $0 < 0 }.count
        guard !differences.isEmpty else {
            (mean, low, high) = (0, 0, 0)
            return
        }
        let n = differences.count
        mean = differences.reduce(0, +) / Double(n)
        var generator = SplitMix64(seed: seed)
        let means = (0..<max(1, resamples)).map { _ in
            (0..<n).reduce(0.0) { sum, _ in sum + differences[generator.uniform(below: n)] } / Double(n)
        }.sorted()
        func percentile(_ q: Double) -> Double { means[min(means.count - 1, Int((Double(means.count - 1) * q).rounded()))] }
        (low, high) = (percentile(0.025), percentile(0.975))
    }

    /// "+0.021 [−0.040, +0.083]; better on 3, worse on 2 of 24".
    public var description: String {
        String(format: "%+.3f [%+.3f, %+.3f]; better on %d, worse on %d of %d", mean, low, high, better, worse, questions)
    }
}
