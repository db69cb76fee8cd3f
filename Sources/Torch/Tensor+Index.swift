import CTorch

// Indexing by tensors of indices or masks.
extension Tensor {
    public func indexSelect(dim: Int, _ index: Tensor) throws -> Tensor {
        try makeTensor { mr_index_select($0, handle, Int64(dim), index.handle) }
    }

    public func gather(dim: Int, _ index: Tensor) throws -> Tensor {
        try makeTensor { mr_gather($0, handle, Int64(dim), index.handle) }
    }

    /// A copy with `source` written at `index` along `dim` (`accumulate`: added instead, `scatter_add`).
    public func scatter(dim: Int, _ index: Tensor, _ source: Tensor, accumulate: Bool = false) throws -> Tensor {
        try makeTensor { mr_scatter($0, handle, Int64(dim), index.handle, source.handle, accumulate ? 1 : 0) }
    }

    /// A copy with `values` put at the rows chosen by `index` (int64 positions or a bool mask) along dim 0.
    public func indexPut(_ index: Tensor, _ values: Tensor, accumulate: Bool = false) throws -> Tensor {
        try makeTensor { mr_index_put($0, handle, index.handle, values.handle, accumulate ? 1 : 0) }
    }

    /// Writes `values` at the rows chosen by `index` along dim 0, in place (through a view, into its base).
    public func indexPutInPlace(_ index: Tensor, _ values: Tensor) throws {
        try check(mr_index_put_(handle, index.handle, values.handle))
    }

    /// One [Σ rows, cols] view over 2-D contiguous `tensors` that lie one after another in the same storage (as
    /// `narrow`s of one buffer do), nil when they do not.
    public static func adjacentRowsView(_ tensors: [Tensor]) throws -> Tensor? {
        var out: mr_tensor?
        try withHandles(tensors) { handles, n in try check(mr_adjacent_rows_view(&out, handles, n)) }
        return out.map(Tensor.init(owning:))
    }

    /// Indices of the non-zero elements, [count, rank].
    public func nonzero() throws -> Tensor { try makeTensor { mr_nonzero($0, handle) } }
}
