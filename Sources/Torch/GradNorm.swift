import CTorch

/// The global L2 norm of the gradients of `parameters` (those without a gradient are skipped), as
/// `torch.nn.utils.clip_grad_norm_` measures it. Gradients are not changed: clipping is a scale that
/// `AdamW.step(gradScale:)` applies as it reads them.
public func gradNorm(_ parameters: [Tensor]) throws -> Double {
    var total = 0.0
    try withHandles(parameters) { handles, n in try check(mr_grad_norm(handles, n, &total)) }
    return total
}
