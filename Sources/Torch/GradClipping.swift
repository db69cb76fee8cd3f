import CTorch

/// `torch.nn.utils.clip_grad_norm_`: the global L2 norm of the gradients of `parameters` (those without a gradient
/// are skipped), returned as it was before clipping; gradients are scaled down in place only when it exceeds
/// `maxNorm`. `maxNorm` ≤ 0 measures without clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double) throws -> Double {
    var total = 0.0
    try withHandles(parameters) { handles, n in try check(mr_clip_grad_norm(handles, n, maxNorm, &total)) }
    return total
}

/// The global L2 norm of the gradients of `parameters` (those without a gradient are skipped), gradients untouched.
public func gradNorm(_ parameters: [Tensor]) throws -> Double { try clipGradNorm(parameters, maxNorm: 0) }
