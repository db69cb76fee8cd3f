/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator whose whole state is one UInt64, so a trainer can
/// save and restore it exactly, and a sampler or a shuffle gives the same draws on every platform. It lives here, the
/// lowest module, so that data sampling, training and generation share one implementation. Uniform integers come from `uniform(below:)` (our own rejection sampling, not
/// `Int.random(in:using:)`, whose algorithm may change between Swift versions and would break resume).
public struct SplitMix64: RandomNumberGenerator, Codable, Sendable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for item `index` of a seeded stream: independent of how many draws earlier items made.
    public init(seed: UInt64, index: UInt64) {
        var mixer = SplitMix64(seed: seed ^ 0x6a09_e667_f3bc_c908)
        state = mixer.next() ^ (index &* 0x9e37_79b9_7f4a_7c15)
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform on [0, 1), from the top 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

extension RandomNumberGenerator {
    /// A uniform integer in `0..<bound` (bound > 0), by rejection so every value is equally likely.
    public mutating func uniform(below bound: Int) -> Int {
        precondition(bound > 0, "uniform(below:) needs a positive bound")
        let b = UInt64(bound)
        let limit = UInt64.max - (UInt64.max % b)  // values >= limit would bias the modulo
        while true {
            let x = next()
            if x < limit { return Int(x % b) }
        }
    }

    /// A uniform integer in `range` (inclusive).
    public mutating func uniform(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + uniform(below: range.count)
    }
}
