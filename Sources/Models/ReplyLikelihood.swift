import Foundation
import NN
import Torch

extension DecoderLM {
    /// How likely the model finds each prefix of each continuation as its *whole* reply to `promptIds`:
    /// `result[i][k - 1]` = log P(c[0..<k] | prompt) + log P(a stop token | prompt, c[0..<k]) for continuation
    /// `c = continuations[i]` and k = 1 … c.count, where the stop term is the log of the summed probability of
    /// `stopTokenIds`. Comparing whole replies this way, rather than decoding greedily, keeps a reply from being
    /// decided by its first token alone.
    ///
    /// The prompt is read once; the continuations then run `batchSize` at a time against views of its cache
    /// (right-padded: causal attention never lets a position see the padding after it).
    public func replyLogLikelihoods(promptIds: [Int], continuations: [[Int]], stopTokenIds: Set<Int>,
                                    batchSize: Int = 16) throws -> [[Float]] {
        guard !stopTokenIds.isEmpty else { throw ModelError.invalidInput("no stop token to end a reply with") }
        let stops = stopTokenIds.sorted()
        for id in Array(continuations.joined()) + stops where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidInput("token id \(id) outside the vocabulary (0..<\(config.vocabSize))")
        }
        let longest = continuations.map(\.count).max() ?? 0
        guard promptIds.count + longest <= config.maxPositionEmbeddings else {
            throw ModelError.invalidInput("a prompt of \(promptIds.count) tokens and a reply of \(longest) need more than "
                + "the model's \(config.maxPositionEmbeddings) positions")
        }
        let cache = makeCache()
        let firstLogits = try checkedLogits(prefill(promptIds, cache: cache))
        let firstNorm = Self.logSumExp(firstLogits)
        var scores: [[Float]] = []
        let step = max(1, batchSize)
        for batchStart in stride(from: 0, to: continuations.count, by: step) {
            let batch = Array(continuations[batchStart..<min(continuations.count, batchStart + step)])
            let length = batch.map(\.count).max() ?? 0
            guard length > 0 else {
                scores += batch.map { _ in [] }
                continue
            }
            // Row b, position j: the log-probabilities (after c[0...j]) of c[j + 1] (any id past the end) and of
            // each stop token.
            let picked = try withNoGrad { () -> [Float] in
                let padded = batch.flatMap { c in (c + Array(repeating: stops[0], count: length - c.count)).map { Int64($0) } }
                let ids = try Tensor(padded, shape: [batch.count, length])
                let shared = KVCache(layers: try cache.layers.map { layer in
                    guard let keys = layer.keys, let values = layer.values else { return KVCacheLayer() }
                    return KVCacheLayer(keys: try keys.expand([batch.count, -1, -1, -1]),
                                        values: try values.expand([batch.count, -1, -1, -1]))
                })
                let logProbs = try logits(hiddenStates(ids, cache: shared)).to(.float32).logSoftmax(dim: 2)
                let targets = batch.flatMap { c in
                    (0..<length).flatMap { j in [Int64(j + 1 < c.count ? c[j + 1] : stops[0])] + stops.map { Int64($0) } }
                }
                let index = try Tensor(targets, shape: [batch.count, length, 1 + stops.count]).to(device: logProbs.device)
                return try checkedLogits(logProbs.gather(dim: 2, index).to(device: .cpu).toArray(Float.self))
            }
            let width = 1 + stops.count
            for (b, c) in batch.enumerated() {
                guard let first = c.first else {
                    scores.append([])
                    continue
                }
                var prefix = firstLogits[first] - firstNorm
                var row: [Float] = []
                for k in 1...c.count {
                    let at = (b * length + (k - 1)) * width
                    if k > 1 { prefix += picked[(b * length + (k - 2)) * width] }
                    row.append(prefix + Self.logSumExp(Array(picked[(at + 1)..<(at + width)])))
                }
                scores.append(row)
            }
        }
        return scores
    }

    private static func logSumExp(_ values: [Float]) -> Float {
        guard let top = values.max() else { return -.infinity }  // the values are checked finite
        return top + log(values.reduce(0) { $0 + exp($1 - top) })
    }
}

extension DecoderLM {
    /// log P(`continuation` | prompt) for each of `prompts`: the summed log-probabilities of the continuation's
    /// tokens read after that prompt (no stop term: every prompt is scored on the same text, so its length cancels
    /// out). What UPR re-ranking asks of a model: how likely it finds the question after each passage.
    ///
    /// Rows run `batchSize` at a time, right-padded (causal attention never lets a position see the padding after
    /// it), prompts of similar length together so that little of a batch is padding; only the continuation's
    /// positions go through the head, so memory grows with the continuation, not with prompt length times the
    /// vocabulary.
    public func continuationLogLikelihoods(prompts: [[Int]], continuation: [Int], batchSize: Int = 8) throws -> [Float] {
        guard !continuation.isEmpty else { throw ModelError.invalidInput("no continuation to score") }
        for id in Array(prompts.joined()) + continuation where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidInput("token id \(id) outside the vocabulary (0..<\(config.vocabSize))")
        }
        guard prompts.allSatisfy({ !$0.isEmpty }) else {
            throw ModelError.invalidInput("an empty prompt: the continuation's first token needs a position before it")
        }
        let longest = prompts.map(\.count).max() ?? 0
        guard longest + continuation.count <= config.maxPositionEmbeddings else {
            throw ModelError.invalidInput("a prompt of \(longest) tokens and a continuation of \(continuation.count) need "
                + "more than the model's \(config.maxPositionEmbeddings) positions")
        }
        let n = continuation.count
        let byLength = prompts.indices.sorted { prompts[$0].count < prompts[$1].count }
        var scores = [Float](repeating: 0, count: prompts.count)
        for batchStart in stride(from: 0, to: prompts.count, by: max(1, batchSize)) {
            let members = Array(byLength[batchStart..<min(prompts.count, batchStart + max(1, batchSize))])
            let batch = members.map { prompts[$0] }
            let length = (batch.map(\.count).max() ?? 0) + n
            let picked = try withNoGrad { () -> [Float] in
                let rows = batch.flatMap { p in
                    (p + continuation + Array(repeating: continuation[0], count: length - p.count - n)).map { Int64($0) }
                }
                let hidden = try hiddenStates(try Tensor(rows, shape: [batch.count, length]))
                // Row b predicts continuation[j] from position prompt.count - 1 + j.
                let positions = batch.enumerated().flatMap { b, p in (0..<n).map { Int64(b * length + p.count - 1 + $0) } }
                let flat = try hidden.reshape([batch.count * length, -1])
                    .indexSelect(dim: 0, try Tensor(positions, shape: [positions.count]).to(device: hidden.device))
                let logProbs = try logits(flat).to(.float32).logSoftmax(dim: 1)
                let targets = batch.flatMap { _ in continuation.map { Int64($0) } }
                let index = try Tensor(targets, shape: [targets.count, 1]).to(device: logProbs.device)
                return try checkedLogits(logProbs.gather(dim: 1, index).to(device: .cpu).toArray(Float.self))
            }
            for (b, member) in members.enumerated() { scores[member] = picked[(b * n)..<((b + 1) * n)].reduce(0, +) }
        }
        return scores
    }
}
