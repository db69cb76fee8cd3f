import Foundation
import Models
import NN
import Torch

/// The memory model's training loss (stages `beacon-pretrain` and `sft`): each sample of the batch goes through the
/// beacon window loop (labels shifted on the raw stream, none on beacons, no beacons in the last window), with each
/// window's compression ratio drawn from `ratios` (step-random). Gradients are accumulated window by window with
/// recomputation, so memory stays bounded by one window whatever the sample length.
public final class BeaconObjective: TrainingObjective {
    public let decoder: DecoderLM
    public let ratios: [Int]
    public let seed: UInt64
    public var model: Module { decoder }

    /// A model without beacon parameters gets fresh ones (`BeaconSettings.memoryModelDefault`).
    public init(decoder: DecoderLM, ratios: [Int]?, seed: UInt64) throws {
        if decoder.config.beacon == nil { try decoder.addBeacon(.memoryModelDefault) }
        self.decoder = decoder
        self.ratios = ratios ?? decoder.config.beacon!.ratios
        self.seed = seed
        guard !self.ratios.isEmpty, self.ratios.allSatisfy({ $0 > 0 }) else {
            throw TrainingError.unsupported("beacon ratios must be positive, got \(self.ratios)")
        }
    }

    public func configJSON(dtype: DType) throws -> Data { try decoder.hfConfigJSON(dtype: dtype) }

    public func loss(_ batch: TrainingBatch) throws -> ObjectiveLoss {
        var total: Tensor?
        var tokens = 0
        for (ids, labels) in try rows(batch) {
            let (mean, valid) = try decoder.beaconLoss(inputIds: ids, labels: labels, rule: rule(for: ids))
            let sum = try mean * Double(valid)
            if let previous = total { total = try previous + sum } else { total = sum }
            tokens += valid
        }
        guard let total else { throw TrainingError.unsupported("an empty batch") }
        return ObjectiveLoss(sum: total, tokens: tokens)
    }

    public func accumulateGradients(_ batch: TrainingBatch) throws
        -> (lossSum: Double, tokens: Int, untrainableSamples: Int)
    {
        var lossSum = 0.0
        var tokens = 0, untrainable = 0
        let givesGradient = gradientTest()
        for (ids, labels) in try rows(batch) {
            if !givesGradient(labels) {
                // Its loss is measured (it counts in the step's mean) but has no gradient to give.
                let (mean, valid) = try withNoGrad {
                    try decoder.beaconLoss(inputIds: ids, labels: labels, rule: rule(for: ids))
                }
                lossSum += try mean.item() * Double(valid)
                tokens += valid
                untrainable += 1
                continue
            }
            let (mean, valid) = try decoder.beaconLossBackward(inputIds: ids, labels: labels, rule: rule(for: ids),
                                                               lossDivisor: 1)
            lossSum += mean * Double(valid)
            tokens += valid
        }
        return (lossSum, tokens, untrainable)
    }

    /// Each row's summed log-probability of its labelled tokens under the model as it is now, without gradients:
    /// what a preference objective compares (`DPOObjective`). Ratios are drawn as the loss draws them.
    public func logProbabilities(_ batch: TrainingBatch) throws -> [Double] {
        try withNoGrad {
            try rows(batch).map { ids, labels in
                let (mean, valid) = try decoder.beaconLoss(inputIds: ids, labels: labels, rule: rule(for: ids))
                return -(try mean.item()) * Double(valid)
            }
        }
    }

    /// Whether a row with these labels has a gradient to give, with the model's parameters as they are trainable
    /// now: always, unless only beacon parameters train and no labelled position reads beacons.
    func gradientTest() -> (_ labels: [Int]) -> Bool {
        let onlyBeaconsTrain = decoder.trainableParameters().allSatisfy { $0.name.contains("beacon") }
        return { [self] labels in !onlyBeaconsTrain || readsBeacons(labels: labels) }
    }

    /// Whether some labelled position reads the memory of beacons. Only then does the loss depend on the beacon
    /// parameters: a window's raw tokens do not attend to the beacons the same window makes, so the first window
    /// (positions `0..<window`) is read with the frozen weights alone, and a sample that fits in it (a short SFT
    /// example) gets no beacon at all. Position i predicts `labels[i + 1]`.
    private func readsBeacons(labels: [Int]) -> Bool {
        guard let window = decoder.config.beacon?.window else { return true }
        return labels.count > window + 1 && labels[(window + 1)...].contains { $0 != TrainingBatch.ignoreIndex }
    }

    /// The ratio draws of a sample depend on its tokens, so a resumed run draws exactly what an uninterrupted one did.
    func rule(for ids: [Int]) -> BeaconRatioRule {
        var hash = seed ^ 0x9E37_79B9_7F4A_7C15
        for id in ids.prefix(64) { hash = (hash ^ UInt64(truncatingIfNeeded: id)) &* 0x0000_0100_0000_01B3 }
        return ratios.count == 1 ? .fixed(ratios[0]) : .stepRandom(ratios, seed: hash)
    }

    func rows(_ batch: TrainingBatch) throws -> [([Int], [Int])] {
        let n = batch.inputIds.dim(0)
        let ids = try batch.inputIds.toArray(Int64.self).map(Int.init)
        let labels = try batch.labels.toArray(Int64.self).map(Int.init)
        let length = batch.inputIds.dim(1)
        return (0..<n).map { r in
            let rowLabels = labels[r * length..<(r + 1) * length]
            // Positions after the last labelled one (the padding of a shorter row of a batch) predict nothing and
            // are read by no labelled position: dropping them leaves the row exactly the sample it was alone.
            let end = (rowLabels.lastIndex { $0 != TrainingBatch.ignoreIndex } ?? (rowLabels.endIndex - 1)) + 1
            return (Array(ids[r * length..<end]), Array(labels[r * length..<end]))
        }
    }
}
