import Torch

/// Keys and values of the positions an attention layer has seen, after RoPE and before the GQA expansion
/// ([batch, kvHeads, positions, headDim]). Filled by `Attention` during prefill and decoding.
public final class KVCacheLayer {
    // Buffers with room to grow: appending a decoded token writes one row in place instead of copying everything
    // cached (a concatenation per token costs time linear in the context). Only this layer writes into them, and
    // only past `count`, so views handed out earlier (`keys`, a `copy()` of the cache) never change.
    private var keyBuffer: Tensor?
    private var valueBuffer: Tensor?
    /// Number of cached positions.
    public private(set) var count = 0
    /// False while the buffers are tensors handed in from outside (a restored or copied cache), which are never
    /// written into.
    private var owned = true
    /// Positions the first buffer holds at least, and the dtype the buffers keep (nil: the appended tensors').
    private let reserve: Int
    private let storageDType: DType?

    public init(reserving reserve: Int = 0, dtype: DType? = nil) {
        (self.reserve, storageDType) = (reserve, dtype)
    }

    /// A layer holding `keys`/`values` [batch, kvHeads, positions, headDim] (a restored or copied cache). They are
    /// not written into: the first append moves to a buffer of this layer's own.
    public init(keys: Tensor, values: Tensor) {
        (keyBuffer, valueBuffer, count) = (keys, values, keys.dim(2))
        (owned, reserve, storageDType) = (false, 0, nil)
    }

    /// The cached keys and values [batch, kvHeads, count, headDim] (views; nil when empty).
    public var keys: Tensor? { count == 0 ? nil : try? keyBuffer?.narrow(dim: 2, start: 0, length: count) }
    public var values: Tensor? { count == 0 ? nil : try? valueBuffer?.narrow(dim: 2, start: 0, length: count) }

    /// Appends new positions and returns the full keys and values.
    public func append(keys k: Tensor, values v: Tensor) throws -> (Tensor, Tensor) {
        try extend(keys: k, values: v)
        return (keys!, values!)
    }

    /// Appends new positions without handing out views of the whole.
    public func extend(keys k: Tensor, values v: Tensor) throws {
        let n = k.dim(2)
        if !owned || keyBuffer == nil || count + n > keyBuffer!.dim(2) {
            // Grow geometrically (at least 256 positions) so appends stay amortised O(new rows).
            var shape = k.shape
            shape[2] = max(count + n, 2 * count, 256, reserve)
            // On the device of the keys they cache (the model's).
            let newKeys = try Tensor.empty(shape, dtype: storageDType ?? k.dtype, device: k.device)
            let newValues = try Tensor.empty(shape, dtype: storageDType ?? v.dtype, device: v.device)
            if count > 0, let keys, let values {
                try newKeys.narrow(dim: 2, start: 0, length: count).copyFrom(keys)
                try newValues.narrow(dim: 2, start: 0, length: count).copyFrom(values)
            }
            (keyBuffer, valueBuffer, owned) = (newKeys, newValues, true)
        }
        try keyBuffer!.narrow(dim: 2, start: count, length: n).copyFrom(k)
        try valueBuffer!.narrow(dim: 2, start: count, length: n).copyFrom(v)
        count += n
    }

    public func reset() { (keyBuffer, valueBuffer, count, owned) = (nil, nil, 0, true) }
}

/// Multi-head self-attention of the Llama family with grouped-query heads: `kvHeads` key/value heads are shared by
/// `heads / kvHeads` query heads each. HF keys `q_proj`, `k_proj`, `v_proj`, `o_proj`; Qwen2 puts biases on q/k/v.
public final class Attention: Module {
    @ModuleInfo(key: "q_proj") public var qProj: Linear
    @ModuleInfo(key: "k_proj") public var kProj: Linear
    @ModuleInfo(key: "v_proj") public var vProj: Linear
    @ModuleInfo(key: "o_proj") public var oProj: Linear
    // Activation Beacon models project beacon positions with their own copies (nil in plain models).
    @ModuleInfo(key: "beacon_q_proj") public var beaconQProj: Linear?
    @ModuleInfo(key: "beacon_k_proj") public var beaconKProj: Linear?
    @ModuleInfo(key: "beacon_v_proj") public var beaconVProj: Linear?
    @ModuleInfo(key: "beacon_o_proj") public var beaconOProj: Linear?

    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    /// q/k/v packed as one int8 product for inference (`packFusedInt8`).
    public private(set) var fusedQKV: FusedInt8Linears?

    public init(dims: Int, heads: Int, kvHeads: Int, headDim: Int? = nil, qkvBias: Bool = false, outputBias: Bool = false,
                dtype: DType = .float32, initialization: Initialization = .default) throws {
        guard heads % kvHeads == 0 else { throw TorchError("\(heads) attention heads are not a multiple of \(kvHeads) KV heads") }
        let headDim = headDim ?? dims / heads
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        super.init()
        self.qProj = try Linear(dims, heads * headDim, bias: qkvBias, dtype: dtype, initialization: initialization)
        self.kProj = try Linear(dims, kvHeads * headDim, bias: qkvBias, dtype: dtype, initialization: initialization)
        self.vProj = try Linear(dims, kvHeads * headDim, bias: qkvBias, dtype: dtype, initialization: initialization)
        self.oProj = try Linear(heads * headDim, dims, bias: outputBias, dtype: dtype, initialization: initialization)
        (beaconQProj, beaconKProj, beaconVProj, beaconOProj) = (nil, nil, nil, nil)
    }

    /// Adds beacon projections for the named ones of "q", "k", "v", "o", each a copy of its plain projection (the
    /// reference's initialisation when a checkpoint has none).
    public func addBeaconProjections(_ names: Set<String>) throws {
        func copy(_ plain: Linear) throws -> Linear {
            let result = try Linear(plain.weight.dim(1), plain.weight.dim(0), bias: plain.bias != nil, dtype: plain.weight.dtype,
                                    initialization: .uninitialized)
            try withNoGrad {
                result.weight = try plain.weight.detach().clone()
                result.bias = try plain.bias?.detach().clone()
            }
            return result
        }
        beaconQProj = names.contains("q") ? try copy(qProj) : nil
        beaconKProj = names.contains("k") ? try copy(kProj) : nil
        beaconVProj = names.contains("v") ? try copy(vProj) : nil
        beaconOProj = names.contains("o") ? try copy(oProj) : nil
    }

    /// Packs q/k/v as one int8 product (after `quantizeInt8` of the projections; see `FusedInt8Linears`).
    public func packFusedInt8() throws { fusedQKV = try FusedInt8Linears([qProj, kProj, vProj]) }

    public func dropFusedInt8() { fusedQKV = nil }

    /// Uses a q/k/v product packed elsewhere (see `FusedInt8Linears.init(packed:for:)`).
    public func useFusedInt8(_ packed: Int8Linear) throws { fusedQKV = try FusedInt8Linears(packed: packed, for: [qProj, kProj, vProj]) }

    /// The plain q, k and v projections of x [..., dims] (one packed product where `packFusedInt8` made one).
    public func projectQKV(_ x: Tensor) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        if let fusedQKV, fusedQKV.serves(x) {
            let qkv = try fusedQKV(x)
            return (qkv[0], qkv[1], qkv[2])
        }
        if let qkv = try FusedFloatLinears.outputs([qProj, kProj, vProj], x) { return (qkv[0], qkv[1], qkv[2]) }
        return (try qProj(x), try kProj(x), try vProj(x))
    }

    /// x [batch, seq, dims] → [batch, seq, dims]. `cos`/`sin` are rotary tables for the new positions ([seq, headDim]).
    /// With a `cache`, the new keys/values are appended to it and the queries attend to everything cached (the
    /// causal mask is aligned at the bottom right). Without a `mask` the attention is causal.
    public func callAsFunction(_ x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor? = nil, cache: KVCacheLayer? = nil)
        throws -> Tensor
    {
        let (batch, length) = (x.dim(0), x.dim(1))
        func split(_ t: Tensor, _ n: Int) throws -> Tensor {
            try t.reshape(batch, length, n, headDim).transpose(1, 2)
        }
        let projected = try projectQKV(x)
        let q = try Functional.applyRotary(try split(projected.q, heads), cos: cos, sin: sin)
        var k = try Functional.applyRotary(try split(projected.k, kvHeads), cos: cos, sin: sin)
        var v = try split(projected.v, kvHeads)
        if let cache { (k, v) = try cache.append(keys: k, values: v) }
        // Grouped K/V heads go to the fused attention as they are; it shares them across the query groups.
        let attended = try Functional.scaledDotProductAttention(q, k, v, mask: mask, causal: mask == nil)
        return try oProj(attended.transpose(1, 2).reshape(batch, length, heads * headDim))
    }
}
