import CTorch

// Reverse-mode autograd, as in PyTorch: leaves with `requiresGrad` accumulate `.grad` on `backward()`.
extension Tensor {
    public var requiresGrad: Bool {
        var flag: Int32 = 0
        precondition(mr_requires_grad(handle, &flag) == 0, String(cString: mr_last_error()))
        return flag != 0
    }

    /// Marks the tensor as a leaf whose gradient should be kept (`requires_grad_`). Returns self for chaining.
    @discardableResult
    public func setRequiresGrad(_ flag: Bool = true) throws -> Tensor {
        try check(mr_set_requires_grad(handle, flag ? 1 : 0))
        return self
    }

    /// Back-propagates from this tensor; `gradient` is required unless it has one element.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        try check(mr_backward(handle, gradient?.handle, retainGraph ? 1 : 0))
    }

    /// The accumulated gradient, nil before any backward pass reached this tensor.
    public var grad: Tensor? {
        get throws {
            var out: mr_tensor?
            try check(mr_grad(&out, handle))
            return out.map(Tensor.init(owning:))
        }
    }

    /// Replaces the gradient (nil removes it).
    public func setGrad(_ gradient: Tensor?) throws {
        try check(mr_set_grad(handle, gradient?.handle))
    }

    /// The same data cut out of the graph.
    public func detach() throws -> Tensor { try makeTensor { mr_detach($0, handle) } }

    /// Drops the gradient (`setToNone`, the cheap default) or zeroes it in place.
    public func zeroGrad(setToNone: Bool = true) throws {
        try check(mr_zero_grad(handle, setToNone ? 1 : 0))
    }
}

/// Runs `body` with gradient recording off on this thread (`torch.no_grad()`), restoring the previous mode after.
/// Grad mode is thread-local in libtorch, so keep the body synchronous.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try withGradMode(enabled: false, body)
}

/// Runs `body` with gradient recording set as given, restoring the previous mode after.
public func withGradMode<R>(enabled: Bool, _ body: () throws -> R) rethrows -> R {
    var previous: Int32 = 1
    precondition(mr_set_grad_enabled(enabled ? 1 : 0, &previous) == 0, String(cString: mr_last_error()))
    defer { _ = mr_set_grad_enabled(previous, nil) }
    return try body()
}

/// Whether operations on this thread currently record gradients.
public var isGradEnabled: Bool {
    var flag: Int32 = 0
    precondition(mr_is_grad_enabled(&flag) == 0, String(cString: mr_last_error()))
    return flag != 0
}
