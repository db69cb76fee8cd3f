import Foundation
import Torch

/// How the next token is chosen from the logits.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Double
    /// Keep only the k most likely tokens (0: off).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches p (1: off).
    public var topP: Double
    /// > 1 discourages tokens already in the context (CTRL-style, as transformers applies it).
    public var repetitionPenalty: Double
    public var seed: UInt64

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, repetitionPenalty: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    public static let greedy = SamplingParameters()

    /// Refuses values that sample nothing meaningful (what `--temperature -1` or `--top-p nan` would give).
    public func validate() throws {
        func fail(_ why: String) -> ModelError { .invalidInput(why) }
        guard temperature.isFinite, temperature >= 0 else {
            throw fail("temperature must be a finite number >= 0 (0: greedy), got \(temperature)")
        }
        guard topK >= 0 else { throw fail("top-k must be >= 0 (0: off), got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw fail("top-p must be in (0, 1] (1: off), got \(topP)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw fail("the repetition penalty must be a finite number > 0 (1: off), got \(repetitionPenalty)")
        }
    }
}

/// Picks tokens from logits on the CPU side (one vocabulary-sized array per step), deterministically for a seed.
public struct Sampler {
    public let parameters: SamplingParameters
    private var random: SplitMix64

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        self.random = SplitMix64(seed: parameters.seed)
    }

    /// The next id after `context`; with `allowed`, only one of those ids (the others' logits count as -inf).
    public mutating func next(logits input: [Float], context: [Int], allowed: Set<Int>? = nil) -> Int {
        var logits = input
        if let allowed, !allowed.isEmpty {
            logits = [Float](repeating: -.infinity, count: input.count)
            for id in allowed where id >= 0 && id < input.count { logits[id] = input[id] }
        }
        let p = parameters
        if p.repetitionPenalty != 1 {
            let penalty = Float(p.repetitionPenalty)
            for id in Set(context) where id >= 0 && id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty
            }
        }
        if p.temperature <= 0 { return argmax(logits) }

        // Candidates sorted by logit, cut by top-k, softmax at the temperature, cut by top-p, then one draw.
        var order = Array(logits.indices)
        if p.topK > 0 && p.topK < order.count {
            order = Array(order.sorted { logits[$0] > logits[$1] }.prefix(p.topK))
        } else {
            order.sort { logits[$0] > logits[$1] }
        }
        let top = Double(logits[order[0]])
        var weights = order.map { Foundation.exp((Double(logits[$0]) - top) / p.temperature) }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
        if p.topP < 1 {
            var cumulative = 0.0, keep = 0
            while keep < weights.count {
                cumulative += weights[keep]
                keep += 1
                if cumulative >= p.topP { break }
            }
            order = Array(order.prefix(keep))
            weights = Array(weights.prefix(keep))
        }
        let draw = random.nextUnit() * weights.reduce(0, +)
        var running = 0.0
        for (i, w) in weights.enumerated() {
            running += w
            if draw < running { return order[i] }
        }
        return order[order.count - 1]
    }

    private func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}
