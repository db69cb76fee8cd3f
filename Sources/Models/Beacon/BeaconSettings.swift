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

    /// What a plain decoder gets when it becomes a memory model here (the shipped default): windows of 1024 raw
    /// tokens, ratios drawn from {2, 4, 8, 16, 32} per window in training (inference fixes one), q/k/v beacon
    /// projections, beacon embedding from EOS.
    public static let memoryModelDefault = BeaconSettings(window: 1024, ratios: [2, 4, 8, 16, 32], ratioMix: "step-random")

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
        window = try c.decodeIntegerIfPresent(.window) ?? defaults.window
        stride = try c.decodeIntegerIfPresent(.stride) ?? defaults.stride
        attention = try c.decodeIfPresent(String.self, forKey: .attention) ?? defaults.attention
        if let single = try? c.decodeIntegerIfPresent(.ratios) {
            ratios = [single]
        } else {
            ratios = try c.decodeIntegersIfPresent(.ratios) ?? defaults.ratios
        }
        ratioMix = try c.decodeIfPresent(String.self, forKey: .ratioMix) ?? defaults.ratioMix
        parameters = try c.decodeIfPresent([String].self, forKey: .parameters) ?? defaults.parameters
        embedInit = try c.decodeIfPresent(String.self, forKey: .embedInit) ?? defaults.embedInit
        sinkSize = try c.decodeIntegerIfPresent(.sinkSize) ?? defaults.sinkSize
        attendPrevious = try c.decodeIfPresent(Bool.self, forKey: .attendPrevious) ?? defaults.attendPrevious
        position = try c.decodeIfPresent(String.self, forKey: .position) ?? defaults.position
        parallelWindow = try c.decodeIntegerIfPresent(.parallelWindow) ?? defaults.parallelWindow
        if let (key, why) = problem() {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why)
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
        if let (_, why) = problem() { throw ModelError.invalidConfig(why) }
    }

    /// The first key whose value this implementation cannot run, and why.
    func problem() -> (Keys, String)? {
        guard window > 0 else { return (.window, "beacon_window must be positive, got \(window)") }
        guard window <= 1 << 20 else { return (.window, "beacon_window \(window) is beyond any supported model") }
        guard stride == window else {
            return (.stride, "beacon_stride \(stride) must equal beacon_window \(window) (interleaved beacons)")
        }
        guard attention == "full-coverage" else {
            return (.attention, "beacon_attn '\(attention)' is not supported (only full-coverage)")
        }
        guard position == "interleave" else { return (.position, "beacon_pos '\(position)' is not supported (only interleave)") }
        guard parallelWindow == 1 else {
            return (.parallelWindow, "beacon_parallel_window \(parallelWindow) is not supported (only 1)")
        }
        guard !ratios.isEmpty, ratios.allSatisfy({ $0 > 0 }) else {
            return (.ratios, "beacon_ratio must list positive ratios, got \(ratios) (ratio 0, no compression, is not supported)")
        }
        guard sinkSize >= 0 else { return (.sinkSize, "beacon_sink_size must not be negative") }
        guard ["eos", "bos"].contains(embedInit) else {
            return (.embedInit, "beacon_embed_init must be eos or bos, got '\(embedInit)'")
        }
        let unknown = parameters.filter { !["q", "k", "v", "o"].contains($0) }
        guard unknown.isEmpty else { return (.parameters, "beacon_param has unknown entries \(unknown) (allowed: q, k, v, o)") }
        do {
            _ = try ratioRule(fixed: nil)
        } catch ModelError.invalidConfig(let why) {
            return (.ratioMix, why)
        } catch {
            return (.ratioMix, "\(error)")
        }
        return nil
    }

    /// How generation reads a prompt when no ratio is given: a single configured ratio is fixed; the training mix
    /// (`step-random`, a fresh random ratio per window) becomes the smallest configured ratio whose memory holds the
    /// prompt plus `futureTokens` within the model's positions (`adapt`), since random picks only add noise at
    /// inference and a long prompt must still fit; other mixes run as configured.
    public func inferenceRule(futureTokens: Int) throws -> BeaconRatioRule {
        let rule = try ratioRule(fixed: nil)
        if case .stepRandom(let ratios, _) = rule { return .adapt(ratios, futureTokens: max(0, futureTokens)) }
        return rule
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
