/// Chooses each window's compression ratio by a `BeaconRatioRule`, as the reference's `set_compression_ratio` does
/// (its random picks come from numpy; ours from a seeded SplitMix64, so a run is reproducible but not the same
/// sequence as the reference's — replay the reference's choices with `.schedule`).
struct BeaconRatioChooser: Codable, Equatable {
    var rngState: UInt64
    /// The ratio fixed for the whole memory (instance-random, adapt), once chosen.
    var chosen: Int?
    /// Windows decided so far (sequence and schedule cursor).
    var decisions: Int = 0

    init(rule: BeaconRatioRule) {
        switch rule {
        case .stepRandom(_, let seed), .instanceRandom(_, let seed): rngState = seed
        default: rngState = 0
        }
    }

    /// The ratio for the window starting now. `knownTokens` is every raw token given so far (the reference's
    /// `all_input_ids`), `positions` the model's (scaled) position budget.
    mutating func next(rule: BeaconRatioRule, window: Int, knownTokens: Int, positions: Int) throws -> Int {
        defer { decisions += 1 }
        switch rule {
        case .fixed(let ratio):
            return ratio
        case .schedule(let ratios):
            guard let last = ratios.last else { throw ModelError.invalidConfig("empty ratio schedule") }
            return decisions < ratios.count ? ratios[decisions] : last
        case .stepRandom(let ratios, _):
            let valid = try Self.valid(ratios, window: window)
            return valid[randomIndex(valid.count)]
        case .instanceRandom(let ratios, _):
            if let chosen { return chosen }
            let valid = try Self.valid(ratios, window: window)
            chosen = valid[randomIndex(valid.count)]
            return chosen!
        case .sequence(let ratios):
            let valid = try Self.valid(ratios, window: window)
            return valid[decisions % valid.count]
        case .adapt(let ratios, let future):
            if let chosen { return chosen }
            let valid = try Self.valid(ratios, window: window)
            let needed = knownTokens + future
            // The longest input a ratio can hold: (positions − window) beacons of `ratio` tokens each plus a window.
            let fitting = valid.filter { (positions - window) * $0 + window >= needed }
            chosen = fitting.min() ?? valid.max()!
            return chosen!
        }
    }

    /// Ratios usable with this window: at most the window and dividing it (the reference's `filter_ratio`).
    static func valid(_ ratios: [Int], window: Int) throws -> [Int] {
        if ratios.count == 1 { return ratios }
        let valid = ratios.filter { $0 > 0 && $0 <= window && window % $0 == 0 }
        guard !valid.isEmpty else {
            throw ModelError.invalidConfig("no compression ratio among \(ratios) fits a window of \(window) tokens")
        }
        return valid
    }

    private mutating func randomIndex(_ count: Int) -> Int {
        rngState &+= 0x9E37_79B9_7F4A_7C15
        var z = rngState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(count))
    }
}
