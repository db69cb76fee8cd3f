import Foundation
import Models
import NN
import Torch

/// Direct preference optimisation (Rafailov et al. 2023) on the memory model's beacon loss: for a pair of replies to
/// one prompt, chosen c and rejected r, with the reference model's log-probabilities of both,
///
///     z = β · ((log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))),   loss = −log σ(z) = softplus(−z).
///
/// Batches hold pairs as consecutive rows (chosen, then rejected) with `referenceLogProbs`; a batch without them
/// (the SFT validation data of a clue-feedback run) gets the beacon objective's loss. Each pair counts as one in the
/// trainer's mean, so a step's loss is the mean DPO loss of its pairs.
///
/// The gradient, −β σ(−z) (∇log π(c) − ∇log π(r)), is the chosen reply's NLL gradient scaled by w = β σ(−z) minus
/// the rejected one's: `accumulateGradients` measures z without gradients first, then back-propagates each reply's
/// summed NLL through the beacon objective's window-by-window recomputation with that weight, so memory stays
/// bounded by one window however long the document.
public final class DPOObjective: TrainingObjective {
    public let base: BeaconObjective
    public let beta: Double
    public var model: Module { base.model }

    public init(base: BeaconObjective, beta: Double) throws {
        guard beta > 0, beta.isFinite else { throw TrainingError.unsupported("DPO's beta must be positive, got \(beta)") }
        self.base = base
        self.beta = beta
    }

    public func configJSON(dtype: DType) throws -> Data { try base.configJSON(dtype: dtype) }

    /// softplus(−z), stably: relu(−z) + log(1 + exp(−|z|)).
    static func pairLoss(_ z: Double) -> Double { max(-z, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(z))) }

    /// The weight of the chosen reply's NLL gradient (and, negated, the rejected one's): β σ(−z).
    func gradientWeight(_ z: Double) -> Double { beta / (1 + Foundation.exp(z)) }

    /// z of a pair from its policy and reference log-probabilities.
    func margin(policy: (Double, Double), reference: (Double, Double)) -> Double {
        beta * ((policy.0 - reference.0) - (policy.1 - reference.1))
    }

    public func loss(_ batch: TrainingBatch) throws -> ObjectiveLoss {
        guard let reference = try pairs(batch) else { return try base.loss(batch) }
        let decoder = base.decoder
        let rows = try base.rows(batch)
        var total: Tensor?
        for p in 0..<rows.count / 2 {
            let logProbs = try rows[2 * p...2 * p + 1].map { ids, labels -> Tensor in
                let (mean, valid) = try decoder.beaconLoss(inputIds: ids, labels: labels, rule: base.rule(for: ids))
                return try mean * Double(-valid)
            }
            let z = try (logProbs[0] - logProbs[1] - (reference[2 * p] - reference[2 * p + 1])) * beta
            // softplus(−z) as `pairLoss` computes it.
            let loss = try (z * -1.0).relu() + ((z.abs() * -1.0).exp() + 1.0).log()
            total = try total.map { try $0 + loss } ?? loss
        }
        return ObjectiveLoss(sum: total!, tokens: rows.count / 2)
    }

    public func accumulateGradients(_ batch: TrainingBatch) throws
        -> (lossSum: Double, tokens: Int, untrainableSamples: Int)
    {
        guard let reference = try pairs(batch) else { return try base.accumulateGradients(batch) }
        let decoder = base.decoder
        let givesGradient = base.gradientTest()
        let policy = try base.logProbabilities(batch)
        let rows = try base.rows(batch)
        var lossSum = 0.0, untrainable = 0
        for p in 0..<rows.count / 2 {
            let pair = [rows[2 * p], rows[2 * p + 1]]
            let z = margin(policy: (policy[2 * p], policy[2 * p + 1]), reference: (reference[2 * p], reference[2 * p + 1]))
            lossSum += Self.pairLoss(z)
            let weight = gradientWeight(z)
            // With only beacon parameters training, a reply read without beacons (a prompt within the first
            // window) has no gradient to give; a pair neither of whose replies reads them counts as untrainable.
            let trainable = pair.map { givesGradient($0.1) }
            guard trainable.contains(true) else {
                untrainable += 1
                continue
            }
            // A weight that underflowed to 0 (the pair is separated by far more than 1/β) has nothing to give.
            guard weight > 0 else { continue }
            for (row, (ids, labels)) in pair.enumerated() where trainable[row] {
                // beaconLossBackward back-propagates (summed NLL) / divisor: ±1/w gives ±w ∇NLL.
                _ = try decoder.beaconLossBackward(inputIds: ids, labels: labels, rule: base.rule(for: ids),
                                                   lossDivisor: (row == 0 ? 1 : -1) / weight)
            }
        }
        return (lossSum, rows.count / 2, untrainable)
    }

    /// The reference log-probabilities of a pair batch, checked; nil for a batch of plain SFT rows.
    private func pairs(_ batch: TrainingBatch) throws -> [Double]? {
        guard let reference = batch.referenceLogProbs else { return nil }
        let rows = batch.inputIds.dim(0)
        guard rows % 2 == 0, reference.count == rows else {
            throw TrainingDataError.tooLittleData("a preference batch holds (chosen, rejected) pairs with a reference "
                                                  + "log-probability per row; got \(rows) rows and \(reference.count) values")
        }
        return reference
    }
}
