import Foundation

/// The `beacon_*` keys of a beacon model's `config.json`, with the reference implementation's names and defaults
/// (FlagEmbedding activation_beacon `configuration_qwen2.py`). We run the layout MemoRAG's models use: beacons
/// interleaved every `ratio` raw tokens (`beacon_pos = interleave`), plain causal attention over memory and window
/// (`beacon_attn = full-coverage`), stride = window, no parallel windows; other values are refused when decoded.
public struct BeaconSettings: Codable, Sendable, Equatable {
    /// Raw tokens per window.
    public var window: Int
    public var stride: Int
    public var attention: String
    /// Candidate compression ratios (raw tokens per beacon).
    public var ratios: [Int]
    /// How a window's ratio is chosen among `ratios`: `step-random`, `instance-random`, `sequence`, `adapt-X`.
    public var ratioMix: String
    /// Which projections have beacon copies: any of "q", "k", "v", "o".
    public var parameters: [String]
    /// `eos` or `bos`: the token whose embedding initialises `beacon_embed_tokens`.
    public var embedInit: String
    /// Leading raw positions kept as an attention sink.
    public var sinkSize: Int
    public var attendPrevious: Bool
    public var position: String
    public var parallelWindow: Int

    public init(window: Int = 1024, stride: Int? = nil, ratios: [Int] = [2, 4, 8, 16, 32], ratioMix: String = "step-random",
                parameters: [String] = ["q", "k", "v"], embedInit: String = "eos", sinkSize: Int = 0) {
        self.window = window
        self.stride = stride ?? window
        self.attention = "full-coverage"
        self.ratios = ratios
        self.ratioMix = ratioMix
        self.parameters = parameters
        self.embedInit = embedInit
        self.sinkSize = sinkSize
        self.attendPrevious = true
        self.position = "interleave"
        self.parallelWindow = 1
    }

    enum Keys: String, CodingKey, CaseIterable {
        case window = "beacon_window", stride = "beacon_stride", attention = "beacon_attn", ratios = "beacon_ratio"
        case ratioMix = "beacon_ratio_mix", parameters = "beacon_param", embedInit = "beacon_embed_init"
        case sinkSize = "beacon_sink_size", attendPrevious = "beacon_attend_prev", position = "beacon_pos"
        case parallelWindow = "beacon_parallel_window"
    }

    /// True when a config container holds any beacon key (a plain model's config.json has none).
    static func present(in decoder: Decoder) throws -> Bool {
        let c = try decoder.container(keyedBy: Keys.self)
        return Keys.allCases.contains { c.contains($0) }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let defaults = BeaconSettings(parameters: [])
        window = try c.decodeIfPresent(Int.self, forKey: .window) ?? defaults.window
        stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? defaults.stride
        attention = try c.decodeIfPresent(String.self, forKey: .attention) ?? defaults.attention
        if let single = try? c.decodeIfPresent(Int.self, forKey: .ratios) {
            ratios = [single]
        } else {
            ratios = try c.decodeIfPresent([Int].self, forKey: .ratios) ?? defaults.ratios
        }
        ratioMix = try c.decodeIfPresent(String.self, forKey: .ratioMix) ?? defaults.ratioMix
        parameters = try c.decodeIfPresent([String].self, forKey: .parameters) ?? defaults.parameters
        embedInit = try c.decodeIfPresent(String.self, forKey: .embedInit) ?? defaults.embedInit
        sinkSize = try c.decodeIfPresent(Int.self, forKey: .sinkSize) ?? defaults.sinkSize
        attendPrevious = try c.decodeIfPresent(Bool.self, forKey: .attendPrevious) ?? defaults.attendPrevious
        position = try c.decodeIfPresent(String.self, forKey: .position) ?? defaults.position
        parallelWindow = try c.decodeIfPresent(Int.self, forKey: .parallelWindow) ?? defaults.parallelWindow
        do {
            try validate()
        } catch let error as ModelError {
            throw DecodingError.dataCorruptedError(forKey: .window, in: c, debugDescription: error.localizedDescription)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(window, forKey: .window)
        try c.encode(stride, forKey: .stride)
        try c.encode(attention, forKey: .attention)
        try c.encode(ratios, forKey: .ratios)
        try c.encode(ratioMix, forKey: .ratioMix)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(embedInit, forKey: .embedInit)
        try c.encode(sinkSize, forKey: .sinkSize)
        try c.encode(attendPrevious, forKey: .attendPrevious)
        try c.encode(position, forKey: .position)
        try c.encode(parallelWindow, forKey: .parallelWindow)
    }

    /// Refuses settings this implementation does not run (rather than silently running something else).
    public func validate() throws {
        func fail(_ why: String) -> ModelError { .invalidConfig(why) }
        guard window > 0 else { throw fail("beacon_window must be positive, got \(window)") }
        guard stride == window else { throw fail("beacon_stride \(stride) must equal beacon_window \(window) (interleaved beacons)") }
        guard attention == "full-coverage" else { throw fail("beacon_attn '\(attention)' is not supported (only full-coverage)") }
        guard position == "interleave" else { throw fail("beacon_pos '\(position)' is not supported (only interleave)") }
        guard parallelWindow == 1 else { throw fail("beacon_parallel_window \(parallelWindow) is not supported (only 1)") }
        guard !ratios.isEmpty, ratios.allSatisfy({ $0 > 0 }) else {
            throw fail("beacon_ratio must list positive ratios, got \(ratios) (ratio 0, no compression, is not supported)")
        }
        guard sinkSize >= 0 else { throw fail("beacon_sink_size must not be negative") }
        guard ["eos", "bos"].contains(embedInit) else { throw fail("beacon_embed_init must be eos or bos, got '\(embedInit)'") }
        let unknown = parameters.filter { !["q", "k", "v", "o"].contains($0) }
        guard unknown.isEmpty else { throw fail("beacon_param has unknown entries \(unknown) (allowed: q, k, v, o)") }
        _ = try ratioRule(fixed: nil)
    }

    /// The configured way of choosing a window's ratio, or a fixed `ratio` when one is given.
    public func ratioRule(fixed ratio: Int?) throws -> BeaconRatioRule {
        if let ratio {
            guard ratio > 0 else { throw ModelError.invalidConfig("the compression ratio must be positive, got \(ratio)") }
            return .fixed(ratio)
        }
        if ratios.count == 1 { return .fixed(ratios[0]) }
        switch ratioMix {
        case "step-random": return .stepRandom(ratios, seed: 42)
        case "instance-random": return .instanceRandom(ratios, seed: 42)
        case "sequence": return .sequence(ratios)
        case let mix where mix.hasPrefix("adapt-"):
            guard let future = Int(mix.dropFirst("adapt-".count)), future >= 0 else {
                throw ModelError.invalidConfig("beacon_ratio_mix '\(mix)': adapt-X needs a token count X")
            }
            return .adapt(ratios, futureTokens: future)
        default:
            throw ModelError.invalidConfig("beacon_ratio_mix '\(ratioMix)' is not supported "
                + "(step-random, instance-random, sequence, adapt-X)")
        }
    }
}

/// How each window's compression ratio is chosen.
public enum BeaconRatioRule: Sendable, Equatable, Codable {
    /// The same ratio for every window (MemoRAG inference).
    case fixed(Int)
    /// A seeded random pick among the valid ratios for every window (pretraining and SFT).
    case stepRandom([Int], seed: UInt64)
    /// One seeded random pick per memory, kept for all its windows.
    case instanceRandom([Int], seed: UInt64)
    /// The ratios in turn, cycling.
    case sequence([Int])
    /// The smallest ratio whose position budget fits the input plus `futureTokens` (decided at the first window).
    case adapt([Int], futureTokens: Int)
    /// The given ratios window after window, then the last one (replaying another run's choices).
    case schedule([Int])
}
