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

    /// `mask` [batch, 1, 1, seq] is true at real tokens: every token attends to every non-padding token.
    func callAsFunction(_ x: Tensor, mask: Tensor) throws -> Tensor {
        let (batch, length, width) = (x.dim(0), x.dim(1), x.dim(2))
        func split(_ t: Tensor) throws -> Tensor { try t.reshape(batch, length, heads, width / heads).transpose(1, 2) }
        let out = try Functional.scaledDotProductAttention(split(query(x)), split(key(x)), split(value(x)), mask: mask)
        return try out.transpose(1, 2).reshape(batch, length, width)
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

    func callAsFunction(_ h: Tensor, mask: Tensor) throws -> Tensor {
        let attended = try attention.output(try attention.attention(h, mask: mask), residual: h)
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

    /// ids and attention mask [batch, seq] (mask 1 at real tokens, 0 at padding) → states [batch, seq, hidden].
    public func callAsFunction(_ ids: Tensor, attentionMask: Tensor) throws -> Tensor {
        guard ids.dim(1) <= config.maxPositionEmbeddings else {
            throw ModelError.invalidInput("\(ids.dim(1)) tokens exceed the encoder's \(config.maxPositionEmbeddings) positions")
        }
        let mask = try attentionMask.ne(0).unsqueeze(1).unsqueeze(1)
        var h = try embeddings(ids)
        for layer in encoder.layers { h = try layer(h, mask: mask) }
        return h
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
