import Torch

/// Train/validation split by document: a seeded shuffle of the document ids, the first `round(fraction · n)` held out
/// (at least one when the fraction is positive and there are two or more documents; never all of them).
public enum DocumentSplit {
    public static func split(documentCount n: Int, validationFraction: Double, seed: UInt64)
        -> (training: [Int], validation: [Int])
    {
        precondition(validationFraction >= 0 && validationFraction < 1, "validation fraction must be in [0, 1)")
        guard n > 1, validationFraction > 0 else { return (Array(0..<max(0, n)), []) }
        var ids = Array(0..<n)
        var rng = SplitMix64(seed: seed)
        // Fisher–Yates with our own uniform draw (stable across Swift versions).
        for i in stride(from: n - 1, to: 0, by: -1) {
            ids.swapAt(i, rng.uniform(below: i + 1))
        }
        let held = min(n - 1, max(1, Int((validationFraction * Double(n)).rounded())))
        return (ids[held...].sorted(), ids[..<held].sorted())
    }
}
