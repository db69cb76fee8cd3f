import Foundation
import Torch

public struct GenerationParameters: Sendable {
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    /// Ids that end generation (not included in the output).
    public var stopTokenIds: Set<Int>
    /// Prompt tokens processed per forward pass during prefill (bounds the attention-score memory).
    public var prefillChunk: Int
    /// Intra-op threads while decoding one token at a time; nil chooses (see `DecoderLM.automaticDecodeThreads`).
    public var decodeThreads: Int?
    /// When set, the reply copies one span of its sources (see `SpanCopyConstraint`).
    public var constraint: SpanCopyConstraint?

    public init(maxNewTokens: Int = 128, sampling: SamplingParameters = .greedy, stopTokenIds: Set<Int> = [],
                prefillChunk: Int = 512, decodeThreads: Int? = nil, constraint: SpanCopyConstraint? = nil) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.stopTokenIds = stopTokenIds
        self.prefillChunk = prefillChunk
        self.decodeThreads = decodeThreads
        self.constraint = constraint
    }

    /// Refuses settings no generation can run with (a negative token count, a nonsensical sampler).
    public func validate() throws {
        guard maxNewTokens >= 0 else {
            throw ModelError.invalidInput("max new tokens must not be negative, got \(maxNewTokens)")
        }
        guard prefillChunk > 0 else { throw ModelError.invalidInput("the prefill chunk must be positive, got \(prefillChunk)") }
        try sampling.validate()
    }
}

public struct GenerationResult: Sendable {
    public enum FinishReason: String, Sendable { case length, stopToken = "stop_token", stopString = "stop_string", stopped }

    public var outputIds: [Int]
    public var finishReason: FinishReason
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(outputIds.count) / decodeSeconds : 0 }
}

extension DecoderLM {
    /// Runs `ids` through the model in chunks, filling `cache`, and returns the last position's logits.
    public func prefill(_ ids: [Int], cache: KVCache, chunk: Int = 512) throws -> [Float] {
        guard !ids.isEmpty else { throw ModelError.invalidInput("empty prompt") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ModelError.invalidInput("token id \(bad) outside the vocabulary (0..<\(config.vocabSize))")
        }
        return try withNoGrad {
            var logits: Tensor?
            for start in stride(from: 0, to: ids.count, by: max(1, chunk)) {
                let piece = Array(ids[start..<min(ids.count, start + chunk)])
                let input = try Tensor(piece.map { Int64($0) }, shape: [1, piece.count])
                let isLast = start + chunk >= ids.count
                if isLast {
                    logits = try lastLogits(input, cache: cache)
                } else {
                    _ = try hiddenStates(input, cache: cache)
                }
            }
            return try logits!.reshape(-1).toArray(Float.self)
        }
    }

    /// Generates up to `maxNewTokens` after `promptIds`. `onToken` sees each new id and may return false to stop.
    /// A `cache` already holding a prefix (e.g. a memorized context) is continued; a fresh one is made otherwise.
    public func generate(
        promptIds: [Int], parameters: GenerationParameters = .init(), cache: KVCache? = nil,
        onToken: (Int) -> Bool = { _ in true }
    ) throws -> GenerationResult {
        let cache = cache ?? makeCache()
        // Positions past those RoPE was trained for give no useful text, and a prompt far past them costs hours of
        // quadratic attention: refuse the prompt at once, and stop generating at the last position.
        let free = positionBudget - cache.count - promptIds.count
        guard free >= 0 else {
            throw ModelError.invalidInput("the prompt is \(promptIds.count) tokens\(cache.count > 0 ? " after \(cache.count) cached" : ""), "
                + "more than the model's \(positionBudget) positions (max_position_embeddings)")
        }
        var parameters = parameters
        parameters.maxNewTokens = min(parameters.maxNewTokens, free + 1)
        return try decode(
            promptIds: promptIds, parameters: parameters, onToken: onToken,
            prefill: { try prefill(promptIds, cache: cache, chunk: parameters.prefillChunk) },
            step: { next in
                try lastLogits(try Tensor([Int64(next)], shape: [1, 1]), cache: cache).reshape(-1).toArray(Float.self)
            })
    }

    /// The decode loop every generator shares (plain KV cache, beacon memory): `prefill` reads the prompt and
    /// returns the next-token logits, `step` feeds one chosen token back and returns the logits after it. Sampling,
    /// stop ids, the callback, timing and the decode thread count live here once.
    func decode(
        promptIds: [Int], parameters: GenerationParameters, onToken: (Int) -> Bool,
        prefill: () throws -> [Float], step: (Int) throws -> [Float]
    ) throws -> GenerationResult {
        try parameters.validate()
        var sampler = Sampler(parameters.sampling)
        let clock = ContinuousClock()
        let prefillStart = clock.now
        var logits = try checkedLogits(withNoGrad { try prefill() })
        let prefillSeconds = (clock.now - prefillStart).seconds

        var context = promptIds
        var output: [Int] = []
        var reason = GenerationResult.FinishReason.length
        let decodeStart = clock.now
        // Decoding is one matrix-vector product after another; see automaticDecodeThreads for the thread count.
        let threads = LibTorch.numThreads
        let decodeThreads = parameters.decodeThreads ?? automaticDecodeThreads(available: threads)
        if decodeThreads != threads { try LibTorch.setNumThreads(decodeThreads) }
        defer { if decodeThreads != threads { try? LibTorch.setNumThreads(threads) } }
        try withNoGrad {
            while output.count < parameters.maxNewTokens {
                let next = sampler.next(logits: logits, context: context,
                                        allowed: parameters.constraint?.allowed(after: output))
                if parameters.stopTokenIds.contains(next) {
                    reason = .stopToken
                    break
                }
                output.append(next)
                context.append(next)
                if !onToken(next) {
                    reason = .stopped
                    break
                }
                if output.count == parameters.maxNewTokens { break }
                logits = try checkedLogits(step(next))
            }
        }
        return GenerationResult(outputIds: output, finishReason: reason, promptTokens: promptIds.count,
                                prefillSeconds: prefillSeconds, decodeSeconds: (clock.now - decodeStart).seconds)
    }
}

/// Logits with a NaN or an infinity mean the weights or the memory hold non-finite values (or the arithmetic
/// overflowed): no token can be chosen from them, so generation stops with an error instead of printing noise.
func checkedLogits(_ logits: [Float]) throws -> [Float] {
    guard logits.allSatisfy(\.isFinite) else {
        throw ModelError.invalidInput("the logits became non-finite (NaN or infinity): the model's weights or "
            + "memory hold non-finite values, or its arithmetic overflowed")
    }
    return logits
}

extension DecoderLM {
    /// Threads for token-by-token decoding. Each op of a decode step is small; under OpenMP's purely passive wait
    /// policy every parallel region pays a futex wake-up, which for a small model costs more than a second core gains
    /// (SmolLM2-135M, 2 vCPUs: 23.5 tokens/s on one thread vs 18 on two). With a short spin before sleeping
    /// (`GOMP_SPINCOUNT`, which the CLI sets) the wake-ups vanish and every thread helps (41 tokens/s on two).
    public func automaticDecodeThreads(available: Int,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        let spinning = (environment["GOMP_SPINCOUNT"].flatMap { Int($0) } ?? 0) > 0
            || environment["GOMP_SPINCOUNT"]?.lowercased().hasPrefix("inf") == true
            || environment["OMP_WAIT_POLICY"]?.lowercased() == "active"
        if spinning { return available }
        let c = config
        let perLayer = c.hiddenSize * (c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim
            + c.numAttentionHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize
        let parameters = c.numHiddenLayers * perLayer + c.vocabSize * c.hiddenSize
        return parameters < 1_000_000_000 ? 1 : available
    }
}

extension Duration {
    /// The duration in seconds, for rates and progress lines.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
