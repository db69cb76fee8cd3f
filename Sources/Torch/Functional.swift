import CTorch

/// Neural-network functions over tensors (PyTorch's `torch.nn.functional`), each one shim call.
public enum Functional {
    /// `x · weightᵀ + bias`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try makeTensor { mr_linear($0, x.handle, weight.handle, bias?.handle) }
    }

    /// Rows of `weight` chosen by the integer `indices`.
    public static func embedding(_ indices: Tensor, weight: Tensor) throws -> Tensor {
        try makeTensor { mr_embedding($0, weight.handle, indices.handle) }
    }

    public enum Reduction: Int32, Sendable { case none = 0, mean = 1, sum = 2 }

    /// `crossEntropy(linear(hidden, weight), targets, reduction: .sum)` without the [N, vocab] logits: rows go
    /// through in chunks of `chunkRows` (0: about 24 MB of logits each), each chunk's gradients made with its loss.
    /// hidden [N, D], weight [V, D], targets [N] (int64, `ignoreIndex` skipped). The loss is float32.
    public static func linearCrossEntropy(_ hidden: Tensor, weight: Tensor, targets: Tensor, ignoreIndex: Int = -100,
                                          chunkRows: Int = 0) throws -> Tensor {
        try makeTensor {
            mr_linear_cross_entropy($0, hidden.handle, weight.handle, targets.handle, Int64(ignoreIndex), Int64(chunkRows))
        }
    }

    /// Cross entropy of `logits` [N, C] against class indices `targets` [N]; targets equal to `ignoreIndex` do not
    /// count (the mean is over the others).
    public static func crossEntropy(
        _ logits: Tensor, targets: Tensor, ignoreIndex: Int = -100, reduction: Reduction = .mean,
        labelSmoothing: Double = 0
    ) throws -> Tensor {
        try makeTensor {
            mr_cross_entropy($0, logits.handle, targets.handle, Int64(ignoreIndex), reduction.rawValue, labelSmoothing)
        }
    }

    /// `softmax(q kᵀ · scale + mask) v` over the last two dimensions. A bool `mask` is true where attention is
    /// allowed; a floating one is added to the scores. `causal` masks future keys (aligned at the bottom right when
    /// there are more keys than queries). `scale` defaults to 1/√head_dim. k and v may have fewer heads than q
    /// (grouped-query attention).
    public static func scaledDotProductAttention(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, causal: Bool = false, scale: Double? = nil
    ) throws -> Tensor {
        try makeTensor { mr_sdpa($0, q.handle, k.handle, v.handle, mask?.handle, causal ? 1 : 0, scale ?? 0) }
    }

    /// Attention of a beacon window step, for inference: `q` [B, H, L, D] attends to all of `memory` (keys and values
    /// [B, KV, M, D]) and causally to `window` ([B, KV, L, D]) — the same as `scaledDotProductAttention` over the
    /// concatenation with a bottom-right causal mask, without materialising the mask. No gradient.
    public static func memoryWindowAttention(
        _ q: Tensor, memory: (keys: Tensor, values: Tensor)?, window: (keys: Tensor, values: Tensor), scale: Double? = nil
    ) throws -> Tensor {
        try memoryWindowAttention(q, memorySegments: memory.map { [$0] } ?? [], window: window, scale: scale)
    }

    /// `memoryWindowAttention` over a memory held in pieces (their concatenation along the entries, in order), read
    /// where they lie: a memory shared by several continuations plus each one's own entries.
    public static func memoryWindowAttention(
        _ q: Tensor, memorySegments: [(keys: Tensor, values: Tensor)], window: (keys: Tensor, values: Tensor),
        scale: Double? = nil
    ) throws -> Tensor {
        try withHandles(memorySegments.map(\.keys)) { keys, n in
            try withHandles(memorySegments.map(\.values)) { values, _ in
                try makeTensor {
                    mr_attention_memory_window($0, q.handle, keys, values, n, window.keys.handle, window.values.handle,
                                               scale ?? 0)
                }
            }
        }
    }

    /// Whether a single query position (decoding) attends through the chunked decoding kernel (AVX-512 CPUs) rather
    /// than libtorch's flash attention, in `memoryWindowAttention` and `scaledDotProductAttention` without a mask.
    public static var decodeAttentionKernelAvailable: Bool {
        var flag: Int32 = 0
        return mr_decode_attention_supported(&flag) == 0 && flag == 1
    }

    /// Llama/HF RMSNorm: normalised in float32, cast back to `x`'s dtype, then scaled by `weight`.
    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Double) throws -> Tensor {
        try makeTensor { mr_rms_norm($0, x.handle, weight.handle, eps) }
    }

    /// Layer norm over the last dimension.
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        try makeTensor { mr_layer_norm($0, x.handle, weight?.handle, bias?.handle, eps) }
    }

    /// HF rotary embedding (rotate-half layout): `x · cos + rotate_half(x) · sin`.
    public static func applyRotary(_ x: Tensor, cos: Tensor, sin: Tensor) throws -> Tensor {
        try makeTensor { mr_rope($0, x.handle, cos.handle, sin.handle) }
    }

    /// `silu(gate) · up`, the gated product of a SwiGLU feed-forward (one pass each way for float32).
    public static func siluMul(_ gate: Tensor, _ up: Tensor) throws -> Tensor {
        try makeTensor { mr_silu_mul($0, gate.handle, up.handle) }
    }

    public static func dropout(_ x: Tensor, p: Double, training: Bool) throws -> Tensor {
        try makeTensor { mr_dropout($0, x.handle, p, training ? 1 : 0) }
    }
}
