import Foundation
import Torch

extension DecoderLM {
    /// An empty memory for this beacon model. `ratio` fixes the compression ratio; nil applies the config's rule
    /// (`beacon_ratio` with `beacon_ratio_mix`).
    public func makeBeaconMemory(ratio: Int?) throws -> BeaconMemory {
        let settings = try requireBeacon()
        return try makeBeaconMemory(rule: settings.ratioRule(fixed: ratio))
    }

    /// An empty memory whose windows take their ratios by `rule`.
    public func makeBeaconMemory(rule: BeaconRatioRule) throws -> BeaconMemory {
        let settings = try requireBeacon()
        return BeaconMemory(layerCount: config.numHiddenLayers, settings: settings, rule: rule,
                            modelFingerprint: try fingerprint, training: false)
    }

    /// Reads `ids` into `memory` window by window (no logits are computed). `progress` sees (tokens done, total).
    public func memorize(_ ids: [Int], into memory: BeaconMemory, progress: ((Int, Int) -> Void)? = nil) throws {
        try checkBeaconInput(ids, memory)
        try withNoGrad {
            _ = try runBeaconSteps(ids, memory: memory, needHidden: false, progress: progress)
        }
    }

    /// Reads `ids` into `memory` as a prompt is read, without logits: unlike `memorize`, every layer runs to the
    /// end, so the rotated memory each layer attends to stays current for the continuations made from `memory`.
    public func read(_ ids: [Int], into memory: BeaconMemory) throws {
        try checkBeaconInput(ids, memory)
        try withNoGrad {
            _ = try runBeaconSteps(ids, memory: memory, progress: nil)
        }
    }

    /// Final (normalised) hidden states [stepLength, hidden] of the last window step after reading `ids` into
    /// `memory`, beacon rows included (what the parity tests compare with the reference).
    public func beaconHiddenStates(_ ids: [Int], memory: BeaconMemory) throws -> Tensor {
        try checkBeaconInput(ids, memory)
        return try withNoGrad {
            let (output, _) = try runBeaconSteps(ids, memory: memory, progress: nil)
            return try body.norm(output.hidden).squeeze(0)
        }
    }

    /// Generates after `promptIds`, continuing from `memory` (which advances: pass `memory.copy()` to keep a stored
    /// memory for more queries). Beacons keep being interleaved while decoding, as in the reference.
    /// `alreadyRead` leading prompt ids are in `memory` already (a copy of a memory that read a prefix many prompts
    /// share): only the rest is read, while all of them are the prompt the sampler sees (repetition penalty).
    public func generate(promptIds: [Int], alreadyRead: Int = 0, parameters: GenerationParameters = .init(),
                         memory: BeaconMemory, onToken: (Int) -> Bool = { _ in true }) throws -> GenerationResult {
        guard alreadyRead >= 0, alreadyRead < promptIds.count else {
            throw ModelError.invalidInput("\(alreadyRead) of \(promptIds.count) prompt ids said to be read already; "
                + "at least the last one must be left to read")
        }
        let unread = Array(promptIds[alreadyRead...])
        try checkBeaconInput(unread, memory)
        let capacity = beaconCapacity(memory.rule, settings: memory.settings)
        guard memory.tokensSeen + unread.count <= capacity.tokens else {
            throw ModelError.invalidInput("the prompt is \(memory.tokensSeen + unread.count) tokens; even compressed "
                + "\(capacity.ratio)× this beacon model holds at most \(capacity.tokens) in its \(positionBudget) "
                + "positions (max_position_embeddings)")
        }
        // The prompt goes through the window loop like any text (compressed when it fills a window); so does each
        // new token, one at a time.
        return try decode(promptIds: promptIds, parameters: parameters, onToken: onToken,
                          prefill: { try nextTokenLogits(unread, memory: memory) },
                          step: { try nextTokenLogits([$0], memory: memory) })
    }

    /// Reads `ids` and returns the logits after the last one.
    func nextTokenLogits(_ ids: [Int], memory: BeaconMemory) throws -> [Float] {
        let (output, plan) = try runBeaconSteps(ids, memory: memory, progress: nil)
        let last = try output.hidden.select(dim: 1, index: plan.lastRawRow)
        return try logits(try body.norm(last)).reshape(-1).toArray(Float.self)
    }

    /// The window loop: steps until every id is consumed; returns the last step.
    func runBeaconSteps(_ ids: [Int], memory: BeaconMemory, labels: [Int]? = nil, needHidden: Bool = true,
                        progress: ((Int, Int) -> Void)?,
                        onStep: ((BeaconStepPlan, BeaconStepOutput) throws -> Void)? = nil,
                        probe: ((BeaconStepPlan) throws -> BeaconAttentionProbe?)? = nil)
        throws -> (BeaconStepOutput, BeaconStepPlan)
    {
        let start = memory.tokensSeen
        var last: (BeaconStepOutput, BeaconStepPlan)?
        while memory.tokensSeen < start + ids.count {
            let offset = memory.tokensSeen - start
            let plan = try memory.planStep(pending: ids[offset...], labels: labels.map { $0[offset...] },
                                           positions: positionBudget)
            // Hidden states are needed for the last step (logits) and every step of training.
            let isLast = memory.tokensSeen == start + ids.count
            let output = try beaconStep(plan, memory: memory, needHidden: labels != nil || (needHidden && isLast),
                                        probe: try probe?(plan))
            try onStep?(plan, output)
            last = (output, plan)
            progress?(memory.tokensSeen - start, ids.count)
        }
        return last!
    }

    /// The most raw tokens a memory whose windows take their ratios by `rule` can read within `positionBudget`:
    /// finished windows keep one entry per `ratio` tokens and the unfinished one its raw tokens, so at best (every
    /// window at the largest ratio the rule can pick) (positions − sink − window) beacons of `ratio` tokens each
    /// plus a window.
    func beaconCapacity(_ rule: BeaconRatioRule, settings: BeaconSettings) -> (tokens: Int, ratio: Int) {
        let ratio: Int
        switch rule {
        case .fixed(let r): ratio = r
        case .stepRandom(let rs, _), .instanceRandom(let rs, _), .sequence(let rs), .adapt(let rs, _), .schedule(let rs):
            ratio = rs.max() ?? 1
        }
        let beacons = max(0, positionBudget - settings.sinkSize - settings.window)
        let (product, overflow) = beacons.multipliedReportingOverflow(by: ratio)
        return (overflow ? .max : product + settings.window + settings.sinkSize, ratio)
    }

    /// Positions RoPE was trained for (scaled by rope_scaling's factor), what the `adapt-X` ratio rule budgets.
    var positionBudget: Int {
        Int(Double(config.maxPositionEmbeddings) * (config.ropeScaling?.factor ?? 1))
    }

    func requireBeacon() throws -> BeaconSettings {
        guard let settings = config.beacon else {
            throw ModelError.invalidConfig("this model has no beacon settings (add them with addBeacon or a beacon config.json)")
        }
        return settings
    }

    func checkBeaconInput(_ ids: [Int], _ memory: BeaconMemory) throws {
        _ = try requireBeacon()
        guard !ids.isEmpty else { throw ModelError.invalidInput("empty input") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ModelError.invalidInput("token id \(bad) outside the vocabulary (0..<\(config.vocabSize))")
        }
        guard memory.layers.count == config.numHiddenLayers, memory.settings == config.beacon else {
            throw ModelError.invalidInput("the beacon memory was made for another model")
        }
    }
}
