import Foundation
import Models
import NN
import Torch

/// A loss over a batch, summed (not averaged) over the tokens that count, with their number. The trainer adds the
/// sums of all micro-batches of a step and divides the gradients by the total count once, so a step's loss is the
/// mean over every counted token whatever the accumulation (the reference beacon loss is defined the same way).
public struct ObjectiveLoss {
    public var sum: Tensor
    public var tokens: Int

    public init(sum: Tensor, tokens: Int) {
        self.sum = sum
        self.tokens = tokens
    }
}

/// What the trainer trains: a model (whose parameter names are the checkpoint's tensor names) and its loss.
/// `CausalLMObjective` is the plain next-token loss of a `DecoderLM`; the beacon objective implements the same three
/// members around the memory model.
public protocol TrainingObjective: AnyObject {
    /// The module whose trainable parameters the optimizer updates and whose parameters checkpoints hold.
    var model: Module { get }
    /// `config.json` for a checkpoint whose weights are in `dtype` (HF names, plus beacon keys where there are any).
    func configJSON(dtype: DType) throws -> Data
    /// The summed loss of `batch` with gradients recorded, and the number of tokens it covers.
    func loss(_ batch: TrainingBatch) throws -> ObjectiveLoss
    /// Accumulates into the trainable parameters' `.grad` the gradients of `batch`'s summed loss and returns the
    /// summed loss value and token count. The default back-propagates `loss(batch)`; an objective that bounds its
    /// memory by recomputation (the beacon objective) runs its own backward pass. A sample whose loss depends on no
    /// trainable parameter adds its loss and tokens but no gradient, and is counted in `untrainableSamples`: it
    /// never stops the run.
    func accumulateGradients(_ batch: TrainingBatch) throws -> (lossSum: Double, tokens: Int, untrainableSamples: Int)
}

extension TrainingObjective {
    public func accumulateGradients(_ batch: TrainingBatch) throws
        -> (lossSum: Double, tokens: Int, untrainableSamples: Int)
    {
        let out = try loss(batch)
        // A loss that reaches no trainable parameter has no graph to back-propagate through.
        guard out.sum.requiresGrad else { return (try out.sum.item(), out.tokens, batch.inputIds.dim(0)) }
        try out.sum.backward()
        return (try out.sum.item(), out.tokens, 0)
    }
}

/// Next-token cross entropy of a decoder: position t predicts label t+1; labels of −100 do not count.
public final class CausalLMObjective: TrainingObjective {
    public let decoder: DecoderLM
    public var model: Module { decoder }

    public init(decoder: DecoderLM) { self.decoder = decoder }

    public func configJSON(dtype: DType) throws -> Data { try decoder.hfConfigJSON(dtype: dtype) }

    public func loss(_ batch: TrainingBatch) throws -> ObjectiveLoss {
        let length = batch.inputIds.dim(1)
        guard length > 1 else { throw TrainingDataError.tooLittleData("a causal-LM batch needs at least 2 positions") }
        let hidden = try decoder.hiddenStates(batch.inputIds).narrow(dim: 1, start: 0, length: length - 1)
        let targets = try batch.labels.narrow(dim: 1, start: 1, length: length - 1).reshape([-1])
            .to(device: decoder.device)
        let sum = try decoder.summedTokenLoss(try hidden.reshape([-1, hidden.dim(2)]), targets: targets)
        let tokens = try targets.ne(Double(TrainingBatch.ignoreIndex)).sum().itemInt()
        return ObjectiveLoss(sum: sum, tokens: tokens)
    }
}
