// The BERT encoder of sentence-transformers models such as all-MiniLM-L6-v2, with the checkpoint's own keys
// (embeddings.*, encoder.layer.N.*; the `bert.` prefix of BertForX checkpoints is stripped by sanitize).
import Foundation
import NN
import Torch

public struct BertConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Double
    public var hiddenAct: String

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 512
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? 2
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-12
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        guard ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"].contains(hiddenAct) else {
            throw DecodingError.dataCorruptedError(forKey: .hiddenAct, in: c, debugDescription: "unsupported hidden_act '\(hiddenAct)'")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw DecodingError.dataCorruptedError(forKey: .numAttentionHeads, in: c, debugDescription:
                "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
    }
}

private final class BertEmbeddings: Module {
    @ModuleInfo(key: "word_embeddings") var words: Embedding
    @ModuleInfo(key: "position_embeddings") var positions: Embedding
    @ModuleInfo(key: "token_type_embeddings") var tokenTypes: Embedding
    @ModuleInfo(key: "LayerNorm") var norm: LayerNorm

    init(_ c: BertConfig, dtype: DType) throws {
        super.init()
        words = try Embedding(c.vocabSize, c.hiddenSize, dtype: dtype, initialization: .uninitialized)
        positions = try Embedding(c.maxPositionEmbeddings, c.hiddenSize, dtype: dtype, initialization: .uninitialized)
        tokenTypes = try Embedding(c.typeVocabSize, c.hiddenSize, dtype: dtype, initialization: .uninitialized)
        norm = try LayerNorm(c.hiddenSize, eps: c.layerNormEps, dtype: dtype)
    }

    func callAsFunction(_ ids: Tensor) throws -> Tensor {
        let length = ids.dim(1)
        let positionIds = try Tensor.arange(length)
        let typeIds = try Tensor.zeros([length], dtype: .int64)
        return try norm(try words(ids) + positions(positionIds) + tokenTypes(typeIds))
    }
}

/// A dense layer followed by a residual LayerNorm: BERT's `*.output` blocks.
private final class DenseResidualNorm: Module {
    @ModuleInfo(key: "dense") var dense: Linear
    @ModuleInfo(key: "LayerNorm") var norm: LayerNorm

    init(_ inputs: Int, _ outputs: Int, eps: Double, dtype: DType) throws {
        super.init()
        dense = try Linear(inputs, outputs, dtype: dtype, initialization: .uninitialized)
        norm = try LayerNorm(outputs, eps: eps, dtype: dtype)
    }

    func callAsFunction(_ x: Tensor, residual: Tensor) throws -> Tensor { try norm(try dense(x) + residual) }
}

private final class BertSelfAttention: Module {
    @ModuleInfo(key: "query") var query: Linear
    @ModuleInfo(key: "key") var key: Linear
    @ModuleInfo(key: "value") var value: Linear
    let heads: Int

    init(_ c: BertConfig, dtype: DType) throws {
        heads = c.numAttentionHeads
        super.init()
        query = try Linear(c.hiddenSize, c.hiddenSize, dtype: dtype, initialization: .uninitialized)
        key = try Linear(c.hiddenSize, c.hiddenSize, dtype: dtype, initialization: .uninitialized)
        value = try Linear(c.hiddenSize, c.hiddenSize, dtype: dtype, initialization: .uninitialized)
    }

    /// `x` holds the token rows of `layout` (padded [batch, seq, hidden] or packed [tokens, hidden]); every token
    /// attends to every non-padding token of its sequence.
    func callAsFunction(_ x: Tensor, layout: TokenLayout) throws -> Tensor {
        let (batch, length, width) = (layout.batch, layout.length, x.dim(-1))
        func split(_ t: Tensor) throws -> Tensor {
            try layout.padded(t, width: width).reshape(batch, length, heads, width / heads).transpose(1, 2)
        }
        let out = try Functional.scaledDotProductAttention(split(query(x)), split(key(x)), split(value(x)), mask: layout.mask)
        return try layout.tokens(out.transpose(1, 2).reshape(batch * length, width), like: x)
    }
}

/// Where a batch's token rows live. Padded: [batch, seq, hidden] as given. Packed: only the real tokens' rows
/// [tokens, hidden], so the per-token work (projections, feed-forward, norms: ~90 % of BERT's FLOPs) skips the
/// padding; attention scatters them back into the padded shape for its [batch, heads, seq, seq] scores.
struct TokenLayout {
    let batch: Int
    let length: Int
    /// [batch, 1, 1, seq], true at real tokens.
    let mask: Tensor
    /// Flat row positions (in batch × seq) of the real tokens; nil when padded.
    let positions: Tensor?

    func padded(_ rows: Tensor, width: Int) throws -> Tensor {
        guard let positions else { return rows }
        return try Tensor.zeros([batch * length, width], dtype: rows.dtype).indexPut(positions, rows)
    }

    /// `flat` [batch × seq, width] back in the layout of `like`.
    func tokens(_ flat: Tensor, like: Tensor) throws -> Tensor {
        guard let positions else { return try flat.reshape(like.shape) }
        return try flat.indexSelect(dim: 0, positions)
    }
}

private final class BertAttention: Module {
    @ModuleInfo(key: "self") var attention: BertSelfAttention
    @ModuleInfo(key: "output") var output: DenseResidualNorm

    init(_ c: BertConfig, dtype: DType) throws {
        super.init()
        attention = try BertSelfAttention(c, dtype: dtype)
        output = try DenseResidualNorm(c.hiddenSize, c.hiddenSize, eps: c.layerNormEps, dtype: dtype)
    }
}

private final class BertIntermediate: Module {
    @ModuleInfo(key: "dense") var dense: Linear

    init(_ c: BertConfig, dtype: DType) throws {
        super.init()
        dense = try Linear(c.hiddenSize, c.intermediateSize, dtype: dtype, initialization: .uninitialized)
    }
}

private final class BertLayer: Module {
    @ModuleInfo(key: "attention") var attention: BertAttention
    @ModuleInfo(key: "intermediate") var intermediate: BertIntermediate
    @ModuleInfo(key: "output") var output: DenseResidualNorm
    let activation: String

    init(_ c: BertConfig, dtype: DType) throws {
        activation = c.hiddenAct
        super.init()
        attention = try BertAttention(c, dtype: dtype)
        intermediate = try BertIntermediate(c, dtype: dtype)
        output = try DenseResidualNorm(c.intermediateSize, c.hiddenSize, eps: c.layerNormEps, dtype: dtype)
    }

    func callAsFunction(_ h: Tensor, layout: TokenLayout) throws -> Tensor {
        let attended = try attention.output(try attention.attention(h, layout: layout), residual: h)
        let inner = try intermediate.dense(attended)
        let activated = activation == "relu" ? try inner.relu() : try inner.gelu(approximate: activation != "gelu")
        return try output(activated, residual: attended)
    }
}

private final class BertEncoder: Module {
    @ModuleInfo(key: "layer") var layers: [BertLayer]

    init(_ c: BertConfig, dtype: DType) throws {
        super.init()
        layers = try (0..<c.numHiddenLayers).map { _ in try BertLayer(c, dtype: dtype) }
    }
}

/// Token ids in, contextual token states out.
public final class BertModel: Module {
    @ModuleInfo(key: "embeddings") private var embeddings: BertEmbeddings
    @ModuleInfo(key: "encoder") private var encoder: BertEncoder
    public let config: BertConfig

    public init(config: BertConfig, dtype: DType = .float32) throws {
        self.config = config
        super.init()
        embeddings = try BertEmbeddings(config, dtype: dtype)
        encoder = try BertEncoder(config, dtype: dtype)
    }

    /// ids and attention mask [batch, seq] (mask 1 at real tokens, 0 at padding) → states [batch, seq, hidden]
    /// (rows at padding positions are zero when the batch has padding).
    public func callAsFunction(_ ids: Tensor, attentionMask: Tensor) throws -> Tensor {
        guard ids.dim(1) <= config.maxPositionEmbeddings else {
            throw ModelError.invalidInput("\(ids.dim(1)) tokens exceed the encoder's \(config.maxPositionEmbeddings) positions")
        }
        let (batch, length) = (ids.dim(0), ids.dim(1))
        let real = try attentionMask.ne(0)
        let mask = try real.unsqueeze(1).unsqueeze(1)
        let embedded = try embeddings(ids)
        // With padding, run the per-token work on the real tokens only (see TokenLayout).
        let positions = try real.reshape(-1).nonzero().squeeze(1)
        let packed = positions.dim(0) < batch * length
        let layout = TokenLayout(batch: batch, length: length, mask: mask, positions: packed ? positions : nil)
        var h = packed ? try embedded.reshape(batch * length, -1).indexSelect(dim: 0, positions) : embedded
        for layer in encoder.layers { h = try layer(h, layout: layout) }
        return packed ? try layout.padded(h, width: h.dim(-1)).reshape(batch, length, -1) : h
    }

    /// Drops what the encoder does not use: the `bert.` prefix, position-id buffers and the pooler (sentence
    /// embeddings pool the token states themselves).
    public func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (name, tensor) in weights {
            let key = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
            if key.hasPrefix("pooler.") || key.hasSuffix("position_ids") { continue }
            result[key] = tensor
        }
        return result
    }

    public static func load(directory: URL, dtype: DType = .float32) throws -> BertModel {
        let config: BertConfig = try readJSON(directory.appendingPathComponent("config.json"))
        let model = try BertModel(config: config, dtype: dtype)
        let weights = try SafetensorsCheckpoint(directory: directory).tensors()
        do {
            try model.update(parameters: model.sanitize(weights))
        } catch let error as ModuleError {
            throw ModelError.incompatibleWeights(path: directory.path, reason: error.localizedDescription)
        }
        return model
    }
}
