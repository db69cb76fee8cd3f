import NN
import Torch

/// The small Llama of `bench ops` (mirrors `TinyLlama` in Benchmarks/peer/torch_ops.py): vocab 8192, hidden 384,
/// 6 layers, 6 heads of 64, 2 KV heads, SwiGLU 1024, RMSNorm 1e-5, RoPE θ = 10000, untied lm_head, no biases.
final class BenchLlama: Module {
    static let vocab = 8192, hidden = 384, layerCount = 6, heads = 6, kvHeads = 2, headDim = 64, intermediate = 1024

    final class Block: Module {
        @ModuleInfo(key: "input_layernorm") var inputNorm: RMSNorm
        @ModuleInfo(key: "self_attn") var attention: Attention
        @ModuleInfo(key: "post_attention_layernorm") var postNorm: RMSNorm
        @ModuleInfo(key: "mlp") var mlp: SwiGLU

        init(dtype: DType) throws {
            super.init()
            inputNorm = try RMSNorm(hidden, eps: 1e-5, dtype: dtype)
            attention = try Attention(dims: hidden, heads: heads, kvHeads: kvHeads, headDim: headDim, dtype: dtype)
            postNorm = try RMSNorm(hidden, eps: 1e-5, dtype: dtype)
            mlp = try SwiGLU(dims: hidden, hiddenDims: intermediate, dtype: dtype)
        }

        func callAsFunction(_ h: Tensor, cos: Tensor, sin: Tensor) throws -> Tensor {
            let h = try h + attention(inputNorm(h), cos: cos, sin: sin)
            return try h + mlp(postNorm(h))
        }
    }

    @ModuleInfo(key: "embed_tokens") var embed: Embedding
    @ModuleInfo(key: "layers") var layers: [Block]
    @ModuleInfo(key: "norm") var norm: RMSNorm
    @ModuleInfo(key: "lm_head") var lmHead: Linear
    let rope: RotaryEmbedding
    let dtype: DType

    init(dtype: DType) throws {
        self.rope = try RotaryEmbedding(headDim: Self.headDim, theta: 10_000)
        self.dtype = dtype
        super.init()
        embed = try Embedding(Self.vocab, Self.hidden, dtype: dtype)
        layers = try (0..<Self.layerCount).map { _ in try Block(dtype: dtype) }
        norm = try RMSNorm(Self.hidden, eps: 1e-5, dtype: dtype)
        lmHead = try Linear(Self.hidden, Self.vocab, bias: false, dtype: dtype)
    }

    /// Mean next-token cross entropy over `tokens` [batch, seq].
    func loss(_ tokens: Tensor) throws -> Tensor {
        let length = tokens.dim(1)
        let (cos, sin) = try rope.cosSin(positions: try Tensor.arange(length), dtype: dtype)
        var h = try embed(tokens)
        for layer in layers { h = try layer(h, cos: cos, sin: sin) }
        let logits = try lmHead(norm(h))
        let predicted = try logits.slice(dim: 1, end: -1).reshape(-1, Self.vocab)
        let targets = try tokens.slice(dim: 1, start: 1).reshape(-1)
        return try Functional.crossEntropy(predicted, targets: targets)
    }
}
