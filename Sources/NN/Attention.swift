import Torch

/// Multi-head self-attention of the Llama family with grouped-query heads: `kvHeads` key/value heads are shared by
/// `heads / kvHeads` query heads each. HF keys `q_proj`, `k_proj`, `v_proj`, `o_proj`; Qwen2 puts biases on q/k/v.
public final class Attention: Module {
    @ModuleInfo(key: "q_proj") public var qProj: Linear
    @ModuleInfo(key: "k_proj") public var kProj: Linear
    @ModuleInfo(key: "v_proj") public var vProj: Linear
    @ModuleInfo(key: "o_proj") public var oProj: Linear

    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int

    public init(dims: Int, heads: Int, kvHeads: Int, headDim: Int? = nil, qkvBias: Bool = false, outputBias: Bool = false,
                dtype: DType = .float32) throws {
        guard heads % kvHeads == 0 else { throw TorchError("\(heads) attention heads are not a multiple of \(kvHeads) KV heads") }
        let headDim = headDim ?? dims / heads
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        super.init()
        self.qProj = try Linear(dims, heads * headDim, bias: qkvBias, dtype: dtype)
        self.kProj = try Linear(dims, kvHeads * headDim, bias: qkvBias, dtype: dtype)
        self.vProj = try Linear(dims, kvHeads * headDim, bias: qkvBias, dtype: dtype)
        self.oProj = try Linear(heads * headDim, dims, bias: outputBias, dtype: dtype)
    }

    /// x [batch, seq, dims] → [batch, seq, dims]. `cos`/`sin` are rotary tables for the sequence's positions
    /// ([seq, headDim]); without a `mask` the attention is causal.
    public func callAsFunction(_ x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor? = nil) throws -> Tensor {
        let (batch, length) = (x.dim(0), x.dim(1))
        func heads(_ t: Tensor, _ n: Int) throws -> Tensor {
            try t.reshape(batch, length, n, headDim).transpose(1, 2)
        }
        let q = try Functional.applyRotary(try heads(qProj(x), self.heads), cos: cos, sin: sin)
        var k = try Functional.applyRotary(try heads(kProj(x), kvHeads), cos: cos, sin: sin)
        var v = try heads(vProj(x), kvHeads)
        let groups = self.heads / kvHeads
        if groups > 1 {
            k = try k.repeatInterleave(groups, dim: 1)
            v = try v.repeatInterleave(groups, dim: 1)
        }
        let attended = try Functional.scaledDotProductAttention(q, k, v, mask: mask, causal: mask == nil)
        return try oProj(attended.transpose(1, 2).reshape(batch, length, self.heads * headDim))
    }
}
