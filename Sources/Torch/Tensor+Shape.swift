import CTorch

// Views and shape manipulation. Views share storage with their base, as in PyTorch.
extension Tensor {
    /// `-1` in `shape` is inferred.
    public func reshape(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_reshape($0, handle, dims, n) } }
    }

    public func reshape(_ shape: Int...) throws -> Tensor { try reshape(shape) }

    public func permute(_ dims: [Int]) throws -> Tensor {
        try withInt64s(dims) { d, n in try makeTensor { mr_permute($0, handle, d, n) } }
    }

    public func permute(_ dims: Int...) throws -> Tensor { try permute(dims) }

    public func transpose(_ dim0: Int, _ dim1: Int) throws -> Tensor {
        try makeTensor { mr_transpose($0, handle, Int64(dim0), Int64(dim1)) }
    }

    /// `self[..., start:end:step, ...]` along `dim` (Python bounds: negative counts from the end, clamped).
    public func slice(dim: Int, start: Int = 0, end: Int = Int.max, step: Int = 1) throws -> Tensor {
        try makeTensor { mr_slice($0, handle, Int64(dim), Int64(start), Int64(end), Int64(step)) }
    }

    /// `length` elements from `start` along `dim`.
    public func narrow(dim: Int, start: Int, length: Int) throws -> Tensor {
        try makeTensor { mr_narrow($0, handle, Int64(dim), Int64(start), Int64(length)) }
    }

    /// `self[..., index, ...]` along `dim`, removing that dimension.
    public func select(dim: Int, index: Int) throws -> Tensor {
        try makeTensor { mr_select($0, handle, Int64(dim), Int64(index)) }
    }

    public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        try withHandles(tensors) { hs, n in try makeTensor { mr_cat($0, hs, n, Int64(dim)) } }
    }

    public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        try withHandles(tensors) { hs, n in try makeTensor { mr_stack($0, hs, n, Int64(dim)) } }
    }

    /// Pieces of `size` along `dim` (the last may be shorter).
    public func split(size: Int, dim: Int = 0) throws -> [Tensor] {
        precondition(size > 0, "split size must be positive")
        let capacity = (shape[dim < 0 ? dim + rank : dim] + size - 1) / size + 1
        var outs = [mr_tensor?](repeating: nil, count: capacity)
        var count: Int64 = 0
        try check(mr_split(&outs, Int64(capacity), &count, handle, Int64(size), Int64(dim)))
        return outs.prefix(Int(count)).compactMap { $0.map(Tensor.init(owning:)) }
    }

    public func contiguous() throws -> Tensor { try makeTensor { mr_contiguous($0, handle) } }

    public func unsqueeze(_ dim: Int) throws -> Tensor { try makeTensor { mr_unsqueeze($0, handle, Int64(dim)) } }

    public func squeeze(_ dim: Int) throws -> Tensor { try makeTensor { mr_squeeze($0, handle, Int64(dim)) } }

    /// Broadcasts size-1 dimensions to `shape` without copying (`-1` keeps a size).
    public func expand(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_expand($0, handle, dims, n) } }
    }

    /// Tiles the tensor (`Tensor.repeat`).
    public func tiled(_ repeats: [Int]) throws -> Tensor {
        try withInt64s(repeats) { r, n in try makeTensor { mr_repeat($0, handle, r, n) } }
    }

    /// Repeats each element `repeats` times along `dim` (used to share K/V heads in GQA).
    public func repeatInterleave(_ repeats: Int, dim: Int) throws -> Tensor {
        try makeTensor { mr_repeat_interleave($0, handle, Int64(repeats), Int64(dim)) }
    }

    public func flatten(startDim: Int = 0, endDim: Int = -1) throws -> Tensor {
        try makeTensor { mr_flatten($0, handle, Int64(startDim), Int64(endDim)) }
    }
}
