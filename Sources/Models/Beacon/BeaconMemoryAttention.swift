import Foundation
import Torch

/// Sees one layer of an inference window step: the layer, the step's queries [1, heads, L, headDim] and its own keys
/// [1, kvHeads, L, headDim] (both rotated at their positions), and the memory the step attends to before them
/// (rotated keys and values, in pieces).
typealias BeaconAttentionProbe = (_ layer: Int, _ queries: Tensor, _ memory: [(keys: Tensor, values: Tensor)],
                                  _ windowKeys: Tensor) throws -> Void

// Where in a memory a prompt looks: the attention a task prompt pays to each entry of a memorized document, and
// which tokens of the document each entry stands for. A beacon entry summarizes `ratio` tokens, so the attention the
// question pays it says how relevant the model finds that stretch of the text.
extension DecoderLM {
    /// The attention `promptIds` (from `alreadyRead` on; the rest is in `memory` already) pays to each of the first
    /// `entries` entries of `memory`, per layer: `[layer][entry]`, each row's attention probability (softmax over
    /// everything it attends to, the whole memory and the prompt's earlier tokens) summed over heads and averaged
    /// over the prompt's raw rows. `memory` reads the prompt (pass a copy). Once a step fills a window the memory's
    /// entries are re-laid out, so later steps are not counted. Only `layers` are measured (all when nil); the
    /// others' rows are empty.
    public func memoryAttention(promptIds: [Int], alreadyRead: Int, memory: BeaconMemory, entries: Int,
                                layers: ClosedRange<Int>? = nil) throws -> [[Float]]
    {
        guard alreadyRead >= 0, alreadyRead < promptIds.count else {
            throw ModelError.invalidInput("\(alreadyRead) of \(promptIds.count) prompt ids said to be read already")
        }
        guard entries > 0, entries <= memory.memoryLength else {
            throw ModelError.invalidInput("\(entries) memory entries asked for; the memory holds \(memory.memoryLength)")
        }
        let unread = Array(promptIds[alreadyRead...])
        try checkBeaconInput(unread, memory)
        var sums = [Tensor?](repeating: nil, count: config.numHiddenLayers)
        var rows = 0
        var relaidOut = false
        let device = self.device
        try withNoGrad {
            _ = try runBeaconSteps(unread, memory: memory, progress: nil, probe: { plan in
                defer { relaidOut = relaidOut || plan.windowFull }
                guard !relaidOut else { return nil }
                let raw = plan.isBeacon.indices.filter { !plan.isBeacon[$0] }.map { Int64($0) }
                rows += raw.count
                let rowIndex = try Tensor(raw, shape: [raw.count], device: device)
                return { layer, queries, memorySegments, windowKeys in
                    guard layers?.contains(layer) ?? true else { return }
                    let share = try Self.attentionShare(queries, memory: memorySegments, windowKeys: windowKeys,
                                                        entries: entries, rows: rowIndex)
                    sums[layer] = try sums[layer].map { try $0 + share } ?? share
                }
            })
        }
        return try sums.enumerated().map { layer, sum in
            guard layers?.contains(layer) ?? true else { return [] }
            guard let sum, rows > 0 else { return [Float](repeating: 0, count: entries) }
            return try (sum / Double(rows)).toArray(Float.self)
        }
    }

    /// One layer's attention probabilities on the memory's first `entries` entries, summed over heads and over the
    /// query rows `rows`: [entries]. Scores in float32 whatever the memory's dtype; the step's own keys are read
    /// causally, as attention reads them.
    static func attentionShare(_ q: Tensor, memory: [(keys: Tensor, values: Tensor)], windowKeys: Tensor,
                               entries: Int, rows: Tensor) throws -> Tensor {
        let (heads, length, headDim) = (q.dim(1), q.dim(2), q.dim(3))
        let kvHeads = windowKeys.dim(1)
        let group = heads / kvHeads
        let scale = 1 / Foundation.sqrt(Double(headDim))
        // Heads sharing a key/value head are adjacent (head h reads kv head h / group), so one matmul per kv head.
        let queries = try q.to(.float32).reshape(1, kvHeads, group * length, headDim)
        let memoryKeys = try Tensor.cat(try memory.map { try $0.keys.to(.float32) }, dim: 2)
        guard memoryKeys.dim(2) >= entries else {
            throw ModelError.invalidInput("the step attends to \(memoryKeys.dim(2)) memory entries, fewer than \(entries)")
        }
        let memoryScores = try queries.matmul(memoryKeys.transpose(2, 3)) * scale
        let causal = try Tensor.full([length, length], -Double.infinity, device: q.device).triu(1)
        let windowScores = try (try queries.matmul(windowKeys.to(.float32).transpose(2, 3)) * scale)
            .reshape(1, kvHeads, group, length, length)
        let masked = try (windowScores + causal).reshape(1, kvHeads, group * length, length)
        let logNorm = try Tensor.cat([memoryScores, masked], dim: 3).logSumExp(dims: [3], keepDim: true)
        let share = try (memoryScores.narrow(dim: 3, start: 0, length: entries) - logNorm).exp()
        return try share.reshape(heads, length, entries).indexSelect(dim: 1, rows).sum(dims: [0, 1])
    }
}

extension BeaconMemory {
    /// The tokens (indices into what the memory read) each entry stands for, in entry order: a sink entry its own
    /// token, a beacon the `ratio` tokens before it, a raw entry of the unfinished window its token. Only a memory
    /// read at a fixed ratio can say: under a random rule the ratio of each past window is not kept.
    public func entryTokenRanges() throws -> [Range<Int>] {
        guard case .fixed(let ratio) = rule else {
            throw ModelError.invalidInput("entry positions are known only for a memory read at a fixed ratio")
        }
        let state = layers[0]
        let sink = state.sinkKeys?.dim(2) ?? 0
        let beacons = state.beaconKeys?.dim(2) ?? 0
        let raw = state.rawKeys?.dim(2) ?? 0
        var ranges = (0..<sink).map { $0..<($0 + 1) }
        ranges += (0..<beacons).map { ($0 * ratio)..<(($0 + 1) * ratio) }
        guard raw > 0 else { return ranges }
        guard cursor.windowBeacons.count == raw else {
            throw ModelError.invalidInput("the unfinished window holds \(raw) entries but its layout lists "
                + "\(cursor.windowBeacons.count)")
        }
        var token = cursor.windowStart
        for isBeacon in cursor.windowBeacons {
            if isBeacon {
                ranges.append(max(cursor.windowStart, token - ratio)..<token)
            } else {
                ranges.append(token..<(token + 1))
                token += 1
            }
        }
        return ranges
    }
}
