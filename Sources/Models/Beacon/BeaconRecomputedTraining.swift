import Torch

extension DecoderLM {
    /// The beacon training loss with its gradients accumulated into the trainable parameters' `.grad`, in memory
    /// bounded by one window whatever the sample length: a first pass without gradients records every window's
    /// layout and the memory entries it produces; then windows are recomputed one at a time from the last to the
    /// first, each with its memory inputs as leaves, back-propagating its own loss plus the gradient later windows
    /// sent to the entries it produced (window-level activation recomputation). Same loss and gradients as
    /// `beaconLoss(...).loss.backward()`. Returns the loss value and the number of labelled tokens. `lossDivisor`
    /// replaces the labelled-token count as what the summed loss is divided by before back-propagating (1: the
    /// gradients of the sum, for a trainer that normalises over several samples itself).
    public func beaconLossBackward(inputIds: [Int], labels: [Int]? = nil, rule: BeaconRatioRule? = nil,
                                   lossDivisor: Double? = nil)
        throws -> (loss: Double, validTokens: Int)
    {
        let (memory, shifted) = try beaconTrainingStart(inputIds: inputIds, labels: labels, rule: rule)

        // Pass 1, no gradients: the plans and, per step, the memory entries it adds (sink and/or beacons).
        var steps: [(plan: BeaconStepPlan, before: [BeaconLayerState], after: [BeaconLayerState])] = []
        try withNoGrad {
            var before = memory.layers
            _ = try runBeaconSteps(inputIds, memory: memory, labels: shifted, needHidden: false, progress: nil) { plan, _ in
                steps.append((plan, before, memory.layers))
                before = memory.layers
            }
        }
        let valid = steps.reduce(0) { $0 + $1.plan.labels!.filter { $0 != -100 }.count }
        guard valid > 0 else { throw ModelError.invalidInput("the sample has no labelled token (it needs at least two tokens)") }
        // In training every window but the last is full, so a step's memory is [sink ; beacons of earlier steps]
        // and never holds raw entries.
        guard steps.allSatisfy({ $0.before.allSatisfy { $0.rawKeys == nil } }) else {
            throw ModelError.invalidInput("unexpected raw memory in a training step")
        }

        let layerCount = config.numHiddenLayers
        // Gradient waiting for the beacon entries of step t (per layer, keys and values), and for the sink.
        var beaconGrads: [[(Tensor, Tensor)?]] = Array(repeating: Array(repeating: nil, count: layerCount), count: steps.count)
        var sinkGrads: [(Tensor, Tensor)?] = Array(repeating: nil, count: layerCount)
        var totalLoss = 0.0
        for t in steps.indices.reversed() {
            let (plan, before, _) = steps[t]
            // The memory input as leaves: the sink and each earlier step's beacon block separately.
            let replay = BeaconMemory(layerCount: layerCount, settings: memory.settings, rule: memory.rule, modelFingerprint: nil,
                                      training: true)
            var sinkLeaves: [(Tensor, Tensor)?] = []
            var beaconLeaves: [[(Tensor, Tensor)]] = []  // [layer][earlier step]
            for l in 0..<layerCount {
                var state = BeaconLayerState()
                if let k = before[l].sinkKeys, let v = before[l].sinkValues {
                    let leaf = (try k.detach().setRequiresGrad(true), try v.detach().setRequiresGrad(true))
                    (state.sinkKeys, state.sinkValues) = leaf
                    sinkLeaves.append(leaf)
                } else {
                    sinkLeaves.append(nil)
                }
                var blocks: [(Tensor, Tensor)] = []
                for s in 0..<t {
                    guard let block = try beaconBlock(of: steps[s], layer: l) else { continue }
                    blocks.append((try block.0.detach().setRequiresGrad(true), try block.1.detach().setRequiresGrad(true)))
                }
                if !blocks.isEmpty {
                    state.beaconKeys = try blocks.count == 1 ? blocks[0].0 : Tensor.cat(blocks.map(\.0), dim: 2)
                    state.beaconValues = try blocks.count == 1 ? blocks[0].1 : Tensor.cat(blocks.map(\.1), dim: 2)
                }
                beaconLeaves.append(blocks)
                replay.layers[l] = state
            }
            let hadBeacons = replay.layers.map { $0.beaconKeys?.dim(2) ?? 0 }
            let hadSink = replay.layers.map { $0.sinkKeys != nil }

            let output = try beaconStep(plan, memory: replay, needHidden: true)
            var objective: Tensor?
            func add(_ term: Tensor) throws { objective = try objective.map { try $0 + term } ?? term }
            let stepLabels = plan.labels!
            let rows = stepLabels.indices.filter { stepLabels[$0] != -100 }
            if !rows.isEmpty {
                let index = try Tensor(rows.map { Int64($0) }, shape: [rows.count], device: device)
                let hidden = try body.norm(try output.hidden.squeeze(0).indexSelect(dim: 0, index))
                let targets = try Tensor(rows.map { Int64(stepLabels[$0]) }, shape: [rows.count], device: device)
                let loss = try summedTokenLoss(hidden, targets: targets)
                totalLoss += try loss.item()
                try add(try loss / (lossDivisor ?? Double(valid)))
            }
            // What later steps sent back to the entries this step produced.
            for l in 0..<layerCount {
                let state = replay.layers[l]
                if let (gk, gv) = beaconGrads[t][l], let keys = state.beaconKeys, let values = state.beaconValues {
                    let n = keys.dim(2) - hadBeacons[l]
                    let k = try keys.narrow(dim: 2, start: hadBeacons[l], length: n)
                    let v = try values.narrow(dim: 2, start: hadBeacons[l], length: n)
                    try add(try (k * gk).sum() + (v * gv).sum())
                }
                if !hadSink[l], let (gk, gv) = sinkGrads[l], let k = state.sinkKeys, let v = state.sinkValues {
                    try add(try (k * gk).sum() + (v * gv).sum())
                }
            }
            guard let objective else { continue }
            try objective.backward()
            // Hand the memory inputs' gradients to the steps that produced them.
            for l in 0..<layerCount {
                if let (k, v) = sinkLeaves[l], let gk = try k.grad, let gv = try v.grad {
                    sinkGrads[l] = try sinkGrads[l].map { (try $0.0 + gk, try $0.1 + gv) } ?? (gk, gv)
                }
                var s = 0
                for producer in 0..<t where try beaconBlock(of: steps[producer], layer: l) != nil {
                    let (k, v) = beaconLeaves[l][s]
                    s += 1
                    guard let gk = try k.grad, let gv = try v.grad else { continue }
                    beaconGrads[producer][l] = try beaconGrads[producer][l].map { (try $0.0 + gk, try $0.1 + gv) } ?? (gk, gv)
                }
            }
        }
        return (totalLoss / Double(valid), valid)
    }

    /// The beacon entries a recorded step appended for one layer (nil when it appended none).
    private func beaconBlock(of step: (plan: BeaconStepPlan, before: [BeaconLayerState], after: [BeaconLayerState]),
                             layer: Int) throws -> (Tensor, Tensor)? {
        let had = step.before[layer].beaconKeys?.dim(2) ?? 0
        guard let keys = step.after[layer].beaconKeys, let values = step.after[layer].beaconValues, keys.dim(2) > had
        else { return nil }
        return (try keys.narrow(dim: 2, start: had, length: keys.dim(2) - had),
                try values.narrow(dim: 2, start: had, length: keys.dim(2) - had))
    }
}
