import Foundation
import NN
import Torch

/// The compressed memory of a beacon model: per layer the pre-RoPE keys/values of the attention sink, of the
/// beacons of every finished window, and of the raw (and beacon) positions of the unfinished window, plus the
/// window cursor (where the window starts, the tokens seen, the interleave remainder, the unfinished window's
/// ratio and beacon layout). Stored tensors are never modified in place (inference appends raw entries past the end
/// of its own buffers, which no earlier view covers), so `copy()` is cheap and leaves this one as it is.
public final class BeaconMemory {
    public let settings: BeaconSettings
    public let rule: BeaconRatioRule
    /// The fingerprint of the model that made it (nil for the throw-away memories of training steps).
    public let modelFingerprint: String?
    /// Training mode: the last window gets no beacons (they would serve no later window).
    let training: Bool
    var layers: [BeaconLayerState]
    var cursor: BeaconCursor
    /// Inference: the dtype the attend cache keeps the rotated memory in (nil: the model's compute dtype). Each
    /// decoded token reads the whole memory once per layer, so bfloat16 halves the bytes of that read; the scores
    /// and the softmax stay in float32. The stored entries keep their own dtype.
    public var attendDType: DType?

    init(layerCount: Int, settings: BeaconSettings, rule: BeaconRatioRule, modelFingerprint: String?, training: Bool) {
        self.settings = settings
        self.rule = rule
        self.modelFingerprint = modelFingerprint
        self.training = training
        self.layers = Array(repeating: BeaconLayerState(), count: layerCount)
        self.cursor = BeaconCursor(chooser: BeaconRatioChooser(rule: rule))
    }

    /// An independent copy: what a query continues from, so the stored memory serves the next query unchanged.
    public func copy() throws -> BeaconMemory {
        let other = BeaconMemory(layerCount: layers.count, settings: settings, rule: rule,
                                 modelFingerprint: modelFingerprint, training: training)
        // Buffers written in place stay with their memory: the copy reads this one's rotated entries where they lie
        // and appends into its own (see BeaconAttendCache); its raw buffer starts afresh on its first append.
        other.layers = try layers.map { state in
            var s = state
            s.rawCache = nil
            s.attendCache = try state.attendCache?.sharingCopy()
            return s
        }
        other.cursor = cursor
        other.attendDType = attendDType
        return other
    }

    /// Beacon key/value entries per layer.
    public var beaconEntries: [Int] { layers.map { $0.beaconKeys?.dim(2) ?? 0 } }
    /// Raw entries per layer: the unfinished window (its raw tokens and the beacons already interleaved in it).
    public var rawEntries: [Int] { layers.map { $0.rawKeys?.dim(2) ?? 0 } }
    /// Attention-sink entries per layer (`beacon_sink_size`).
    public var sinkEntries: [Int] { layers.map { $0.sinkKeys?.dim(2) ?? 0 } }
    /// Raw tokens memorized so far.
    public var tokensSeen: Int { cursor.consumed }
    /// The ratio of the current (or, right after a window filled, the last) window.
    public var currentRatio: Int? { cursor.windowRatio }

    /// Keys and values a step attends to before its own: sink, beacons, raw, in that order (the reference's order).
    func memoryKeysValues(layer: Int) throws -> (Tensor, Tensor)? {
        let s = layers[layer]
        let keys = [s.sinkKeys, s.beaconKeys, s.rawKeys].compactMap { $0 }
        let values = [s.sinkValues, s.beaconValues, s.rawValues].compactMap { $0 }
        if keys.isEmpty { return nil }
        if keys.count == 1 { return (keys[0], values[0]) }
        return (try Tensor.cat(keys, dim: 2), try Tensor.cat(values, dim: 2))
    }

    /// Memory positions every layer holds (the same for all layers).
    var memoryLength: Int { entryCount(layer: 0) }

    /// Lays out the next window step for `pending` (the raw tokens given but not yet consumed; their first one is
    /// raw token number `tokensSeen`), advancing the cursor as the reference's `Memory._step` does.
    func planStep(pending: ArraySlice<Int>, labels: ArraySlice<Int>?, positions: Int) throws -> BeaconStepPlan {
        var c = cursor
        let total = c.consumed + pending.count
        var end = c.windowStart + settings.window
        var full = true
        if end > total {
            end = total
            full = false
        }
        let inputSize = end - c.consumed
        var ratio: Int?
        var nextStart = full ? c.windowStart + settings.stride : c.windowStart
        if training && end == total {
            // The last window of a training sample: no beacons, nothing carried on.
            full = false
            nextStart = c.windowStart
        } else {
            if c.previousWindowFull {
                c.windowRatio = try c.chooser.next(rule: rule, window: settings.stride, knownTokens: total,
                                                   positions: positions)
            }
            ratio = c.windowRatio
        }
        var tokens: [Int] = []
        var beacon: [Bool] = []
        var stepLabels: [Int]? = labels == nil ? nil : []
        tokens.reserveCapacity(inputSize + inputSize / max(1, ratio ?? inputSize + 1) + 1)
        var counter = c.remainder
        for i in 0..<inputSize {
            tokens.append(pending[pending.startIndex + i])
            beacon.append(false)
            stepLabels?.append(labels![labels!.startIndex + i])
            guard let ratio else { continue }
            counter += 1
            if counter == ratio {
                tokens.append(-1)
                beacon.append(true)
                stepLabels?.append(-100)
                counter = 0
            }
        }
        if let ratio { c.remainder = (inputSize + c.remainder) % ratio }
        c.windowBeacons = (c.previousWindowFull ? [] : c.windowBeacons) + beacon
        c.previousWindowFull = full
        c.windowStart = nextStart
        c.consumed = end
        c.steps += 1
        cursor = c
        return BeaconStepPlan(tokens: tokens, isBeacon: beacon, labels: stepLabels, rawCount: inputSize,
                              windowFull: full, windowBeacons: c.windowBeacons, memoryLength: memoryLength)
    }

    /// Takes in a step's new pre-RoPE keys/values ([1, kvHeads, stepLength, headDim]) for `layer`, as the
    /// reference's `update_memory`: a full window keeps only its beacons and drops its raw entries; an unfinished
    /// one keeps everything as raw entries until it fills.
    func absorb(layer: Int, keys: Tensor, values: Tensor, plan: BeaconStepPlan, beaconIndex: Tensor?) throws {
        var s = layers[layer]
        if settings.sinkSize > 0 && s.beaconKeys == nil {
            let n = min(settings.sinkSize, keys.dim(2))
            s.sinkKeys = try keys.narrow(dim: 2, start: 0, length: n)
            s.sinkValues = try values.narrow(dim: 2, start: 0, length: n)
        }
        if !plan.windowFull && !training {
            // Decoding appends one entry per token: in place, not by copying the window's entries every time.
            try s.appendRaw(keys: keys, values: values)
            layers[layer] = s
            return
        }
        let allKeys = try s.rawKeys.map { try Tensor.cat([$0, keys], dim: 2) } ?? keys
        let allValues = try s.rawValues.map { try Tensor.cat([$0, values], dim: 2) } ?? values
        if !plan.windowFull {
            (s.rawKeys, s.rawValues) = (allKeys, allValues)
        } else {
            if let beaconIndex {
                let k = try allKeys.indexSelect(dim: 2, beaconIndex)
                let v = try allValues.indexSelect(dim: 2, beaconIndex)
                s.beaconKeys = try s.beaconKeys.map { try Tensor.cat([$0, k], dim: 2) } ?? k
                s.beaconValues = try s.beaconValues.map { try Tensor.cat([$0, v], dim: 2) } ?? v
            }
            (s.rawKeys, s.rawValues, s.rawCache) = (nil, nil, nil)
        }
        layers[layer] = s
    }
}

/// One layer's stored keys/values, each [1, kvHeads, entries, headDim] before RoPE.
struct BeaconLayerState {
    var sinkKeys: Tensor?
    var sinkValues: Tensor?
    var beaconKeys: Tensor?
    var beaconValues: Tensor?
    var rawKeys: Tensor?
    var rawValues: Tensor?
    /// Inference only; see `BeaconAttendCache`.
    var attendCache: BeaconAttendCache?
    /// Inference only: growable buffers whose views `rawKeys`/`rawValues` are, so a decoded token's entry is written
    /// in place (the buffers are only ever written past the entries handed out). `copy()` leaves it behind, and
    /// whatever sets the raw entries otherwise drops it.
    var rawCache: KVCacheLayer?

    /// Appends raw entries [1, kvHeads, n, headDim] through `rawCache`, starting one from the current entries when
    /// there is none holding them.
    mutating func appendRaw(keys: Tensor, values: Tensor) throws {
        if rawCache?.count != (rawKeys?.dim(2) ?? 0) {
            rawCache = if let rawKeys, let rawValues { KVCacheLayer(keys: rawKeys, values: rawValues) } else { KVCacheLayer() }
        }
        (rawKeys, rawValues) = try rawCache!.append(keys: keys, values: values)
    }
}

/// The window cursor (the reference's `_start_idx`, `_end_idx`, `_interleave_remainder`,
/// `_interleave_compression_ratio`, `_is_full_window`, `_beacon_indices`, `_step_idx`).
struct BeaconCursor: Codable, Equatable {
    var windowStart = 0
    var consumed = 0
    var remainder = 0
    var windowRatio: Int?
    var previousWindowFull = true
    /// Which entries of the unfinished window (cached and new) are beacons.
    var windowBeacons: [Bool] = []
    var steps = 0
    var chooser: BeaconRatioChooser
}

/// One window step: the tokens with beacons interleaved (−1 marks a beacon), and how the memory takes it in.
struct BeaconStepPlan {
    var tokens: [Int]
    var isBeacon: [Bool]
    /// Labels aligned with `tokens` (−100 at beacons), in training.
    var labels: [Int]?
    var rawCount: Int
    var windowFull: Bool
    var windowBeacons: [Bool]
    /// Memory entries the step attends to before its own.
    var memoryLength: Int

    var beaconCount: Int { isBeacon.lazy.filter { $0 }.count }
    /// Row of the last raw token (where the next-token logits come from).
    var lastRawRow: Int { isBeacon.lastIndex(of: false)! }
}
