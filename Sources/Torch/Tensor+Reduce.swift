import CTorch

// Reductions. `dims: []` reduces over every dimension.
extension Tensor {
    @inline(__always)
    func reduce(_ op: mr_reduce_op, _ dims: [Int], keepDim: Bool) throws -> Tensor {
        try withInt64s(dims) { d, n in try makeTensor { mr_reduce($0, Int32(op.rawValue), handle, d, n, keepDim ? 1 : 0) } }
    }

    public func sum(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_SUM, dims, keepDim: keepDim) }
    public func sum(dim: Int, keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_SUM, [dim], keepDim: keepDim) }
    public func mean(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_MEAN, dims, keepDim: keepDim) }
    public func mean(dim: Int, keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_MEAN, [dim], keepDim: keepDim) }
    public func max(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_AMAX, dims, keepDim: keepDim) }
    public func min(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_AMIN, dims, keepDim: keepDim) }
    public func logSumExp(dims: [Int], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_LOGSUMEXP, dims, keepDim: keepDim) }
    /// Population variance (unbiased: false).
    public func variance(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_VAR, dims, keepDim: keepDim) }
    public func std(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_STD, dims, keepDim: keepDim) }
    /// Euclidean norm.
    public func norm(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_NORM2, dims, keepDim: keepDim) }
    public func prod(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_PROD, dims, keepDim: keepDim) }
    public func any(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_ANY, dims, keepDim: keepDim) }
    public func all(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(MR_REDUCE_ALL, dims, keepDim: keepDim) }

    public func argmax(dim: Int, keepDim: Bool = false) throws -> Tensor {
        try makeTensor { mr_argmax($0, handle, Int64(dim), keepDim ? 1 : 0) }
    }

    /// Maximum values and their indices along `dim`.
    public func max(dim: Int, keepDim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try makeTensorPair { mr_max_dim($0, $1, handle, Int64(dim), keepDim ? 1 : 0) }
    }

    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) throws
        -> (values: Tensor, indices: Tensor)
    {
        try makeTensorPair { mr_topk($0, $1, handle, Int64(k), Int64(dim), largest ? 1 : 0, sorted ? 1 : 0) }
    }

    public func sort(dim: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try makeTensorPair { mr_sort($0, $1, handle, Int64(dim), descending ? 1 : 0) }
    }

    public func cumsum(dim: Int) throws -> Tensor { try makeTensor { mr_cumsum($0, handle, Int64(dim)) } }

    public func softmax(dim: Int) throws -> Tensor { try makeTensor { mr_softmax($0, handle, Int64(dim)) } }

    public func logSoftmax(dim: Int) throws -> Tensor { try makeTensor { mr_log_softmax($0, handle, Int64(dim)) } }

    /// `n` samples per row from the unnormalised probabilities, int64 indices.
    public func multinomial(_ n: Int, replacement: Bool = false) throws -> Tensor {
        try makeTensor { mr_multinomial($0, handle, Int64(n), replacement ? 1 : 0) }
    }
}
