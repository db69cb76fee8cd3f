import Torch

extension DecoderLM {
    /// The training loss of a beacon model on one sample, differentiable: the whole sample goes through the window
    /// loop at once; labels (default: the input itself) are shifted on the raw stream before beacons are inserted,
    /// so a raw token predicts the next raw token even across a beacon; beacons get no label; the last window gets
    /// no beacons; the summed token losses of all windows are divided by the number of labelled tokens. Gradients
    /// flow through the beacon memory into earlier windows. `rule` overrides the config's ratio rule (step-random).
    public func beaconLoss(inputIds: [Int], labels: [Int]? = nil, rule: BeaconRatioRule? = nil)
        throws -> (loss: Tensor, validTokens: Int)
    {
        let (memory, shifted) = try beaconTrainingStart(inputIds: inputIds, labels: labels, rule: rule)
        var total: Tensor?
        var valid = 0
        _ = try runBeaconSteps(inputIds, memory: memory, labels: shifted, progress: nil) { plan, output in
            let stepLabels = plan.labels!
            let rows = stepLabels.indices.filter { stepLabels[$0] != -100 }
            guard !rows.isEmpty else { return }
            // lm_head only on labelled rows.
            let index = try Tensor(rows.map { Int64($0) }, shape: [rows.count], device: self.device)
            let hidden = try self.body.norm(try output.hidden.squeeze(0).indexSelect(dim: 0, index))
            let targets = try Tensor(rows.map { Int64(stepLabels[$0]) }, shape: [rows.count], device: self.device)
            let loss = try self.summedTokenLoss(hidden, targets: targets)
            total = try total.map { try $0 + loss } ?? loss
            valid += rows.count
        }
        guard let total, valid > 0 else {
            throw ModelError.invalidInput("the sample has no labelled token (it needs at least two tokens)")
        }
        return (try total / Double(valid), valid)
    }

    /// What both training paths start from: checked labels (default: the input itself) shifted on the raw stream,
    /// and an empty training memory under `rule` (default: the config's).
    func beaconTrainingStart(inputIds: [Int], labels: [Int]?, rule: BeaconRatioRule?) throws
        -> (memory: BeaconMemory, shiftedLabels: [Int])
    {
        let settings = try requireBeacon()
        let labels = labels ?? inputIds
        guard labels.count == inputIds.count else {
            throw ModelError.invalidInput("\(labels.count) labels for \(inputIds.count) input tokens")
        }
        if let bad = labels.first(where: { $0 != -100 && ($0 < 0 || $0 >= config.vocabSize) }) {
            throw ModelError.invalidInput("label \(bad) outside the vocabulary (0..<\(config.vocabSize), or -100)")
        }
        let memory = BeaconMemory(layerCount: config.numHiddenLayers, settings: settings,
                                  rule: try rule ?? settings.ratioRule(fixed: nil), modelFingerprint: nil, training: true)
        try checkBeaconInput(inputIds, memory)
        return (memory, Array(labels.dropFirst()) + [-100])
    }
}
