// A Llama-family causal LM (Llama, Mistral, Qwen2, SmolLM2) in the layout of transformers' *ForCausalLM, so that
// parameter names are the checkpoint keys: model.embed_tokens, model.layers.N.{self_attn,mlp,…}, model.norm, lm_head.
import NN
import Torch

final class DecoderLayer: Module {
    @ModuleInfo(key: "self_attn") var attention: Attention
    @ModuleInfo(key: "mlp") var mlp: SwiGLU
    @ModuleInfo(key: "input_layernorm") var inputNorm: RMSNorm
    @ModuleInfo(key: "post_attention_layernorm") var postAttentionNorm: RMSNorm

    init(_ c: DecoderConfig, dtype: DType, initialization: Initialization) throws {
        super.init()
        attention = try Attention(dims: c.hiddenSize, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                  headDim: c.headDim, qkvBias: c.qkvBias, outputBias: c.outputBias, dtype: dtype,
                                  initialization: initialization)
        mlp = try SwiGLU(dims: c.hiddenSize, hiddenDims: c.intermediateSize, bias: c.mlpBias, dtype: dtype,
                         initialization: initialization)
        inputNorm = try RMSNorm(c.hiddenSize, eps: c.rmsNormEps, dtype: dtype)
        postAttentionNorm = try RMSNorm(c.hiddenSize, eps: c.rmsNormEps, dtype: dtype)
    }

    func callAsFunction(_ h: Tensor, cos: Tensor, sin: Tensor, cache: KVCacheLayer?) throws -> Tensor {
        let h = try h + attention(inputNorm(h), cos: cos, sin: sin, cache: cache)
        return try h + mlp(postAttentionNorm(h))
    }
}

final class DecoderBody: Module {
    @ModuleInfo(key: "embed_tokens") var embedTokens: Embedding
    @ModuleInfo(key: "layers") var layers: [DecoderLayer]
    @ModuleInfo(key: "norm") var norm: RMSNorm
    /// The one embedding all beacon tokens share (beacon models only).
    @ModuleInfo(key: "beacon_embed_tokens") var beaconEmbedTokens: Embedding?

    init(_ c: DecoderConfig, dtype: DType, initialization: Initialization) throws {
        super.init()
        embedTokens = try Embedding(c.vocabSize, c.hiddenSize, dtype: dtype, initialization: initialization)
        layers = try (0..<c.numHiddenLayers).map { _ in try DecoderLayer(c, dtype: dtype, initialization: initialization) }
        norm = try RMSNorm(c.hiddenSize, eps: c.rmsNormEps, dtype: dtype)
        beaconEmbedTokens = nil
    }
}

/// Per-layer key/value caches for incremental decoding.
public final class KVCache {
    public let layers: [KVCacheLayer]

    public init(layerCount: Int) { layers = (0..<layerCount).map { _ in KVCacheLayer() } }

    public init(layers: [KVCacheLayer]) { self.layers = layers }

    /// An independent cache starting from the same state. A layer only writes past its own count and a copy moves
    /// to buffers of its own on its first append, so the two share the cached tensors safely.
    public func copy() -> KVCache {
        KVCache(layers: layers.map { layer in
            if let keys = layer.keys, let values = layer.values { return KVCacheLayer(keys: keys, values: values) }
            return KVCacheLayer()
        })
    }

    /// Positions already processed.
    public var count: Int { layers.first?.count ?? 0 }

    public func reset() { layers.forEach { $0.reset() } }
}

/// The decoder language model: token ids in, logits out.
public final class DecoderLM: Module {
    @ModuleInfo(key: "model") var body: DecoderBody
    @ModuleInfo(key: "lm_head") var lmHead: Linear?

    /// Changes only through `addBeacon` (which adds the beacon settings).
    public internal(set) var config: DecoderConfig
    public let dtype: DType
    let rope: RotaryEmbedding

    public init(config: DecoderConfig, dtype: DType = .float32, initialization: Initialization = .default) throws {
        try config.validate()
        self.config = config
        self.dtype = dtype
        self.rope = try RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling)
        super.init()
        body = try DecoderBody(config, dtype: dtype, initialization: initialization)
        lmHead = config.tieWordEmbeddings
            ? nil : try Linear(config.hiddenSize, config.vocabSize, bias: false, dtype: dtype, initialization: initialization)
        if let beacon = config.beacon { try installBeaconParameters(beacon) }
    }

    /// Where the weights live (the token embedding's device): inputs are moved here, and caches, memories and
    /// position tables are made here.
    public override var device: Device { body.embedTokens.weight.device }

    public func makeCache() -> KVCache { KVCache(layerCount: config.numHiddenLayers) }

    /// Final hidden states [batch, seq, hidden] for `ids` [batch, seq], continuing after the cached positions.
    public func hiddenStates(_ ids: Tensor, cache: KVCache? = nil) throws -> Tensor {
        let start = cache?.count ?? 0
        let length = ids.dim(1)
        let device = self.device
        let positions = try Tensor.arange(Double(start), Double(start + length), device: device)
        let (cos, sin) = try rope.cosSin(positions: positions, dtype: dtype)
        var h = try body.embedTokens(ids.to(device: device))
        for (i, layer) in body.layers.enumerated() {
            h = try layer(h, cos: cos, sin: sin, cache: cache?.layers[i])
        }
        return try body.norm(h)
    }

    /// Scores over the vocabulary for hidden states [.., hidden].
    public func logits(_ hidden: Tensor) throws -> Tensor {
        if let lmHead { return try lmHead(hidden) }
        return try body.embedTokens.asLinear(hidden)
    }

    /// The summed next-token loss of final (normalised) hidden states [N, hidden] against `targets` [N] (−100:
    /// skipped), in float32. A plain head goes through `Functional.linearCrossEntropy` (no [N, vocab] logits); a head
    /// with adapters or int8 weights through its logits.
    public func summedTokenLoss(_ hidden: Tensor, targets: Tensor) throws -> Tensor {
        let plainWeight: Tensor? = if let lmHead {
            lmHead.loraA == nil && lmHead.int8 == nil && lmHead.bias == nil ? lmHead.weight : nil
        } else {
            body.embedTokens.int8 == nil ? body.embedTokens.weight : nil
        }
        if let plainWeight { return try Functional.linearCrossEntropy(hidden, weight: plainWeight, targets: targets) }
        return try Functional.crossEntropy(try logits(hidden).to(.float32), targets: targets, reduction: .sum)
    }

    /// Logits [batch, seq, vocab] for every position.
    public func callAsFunction(_ ids: Tensor, cache: KVCache? = nil) throws -> Tensor {
        try logits(hiddenStates(ids, cache: cache))
    }

    /// Logits [batch, vocab] at the last position only (what generation needs: no lm_head on the others).
    public func lastLogits(_ ids: Tensor, cache: KVCache? = nil) throws -> Tensor {
        let hidden = try hiddenStates(ids, cache: cache)
        return try logits(hidden.select(dim: 1, index: hidden.dim(1) - 1))
    }

    /// Drops what checkpoints carry but the model does not own: rotary buffers, and lm_head when tied.
    public func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] {
        weights.filter { name, _ in
            !name.hasSuffix("rotary_emb.inv_freq") && !(config.tieWordEmbeddings && name == "lm_head.weight")
        }
    }
}
