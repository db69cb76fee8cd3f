import Foundation
import NN

/// `config.json` of a Llama-family decoder (model_type llama, mistral, qwen2), with HF's key names and defaults.
/// Reads both the transformers 4.x spelling (`rope_theta` + `rope_scaling`) and 5.x's `rope_parameters`.
public struct DecoderConfig: Codable, Sendable, Equatable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RoPEScaling?
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Biases on q/k/v (Qwen2 always; Llama when `attention_bias`).
    public var qkvBias: Bool
    /// Bias on o_proj (Llama's `attention_bias` covers it; Qwen2 has none).
    public var outputBias: Bool
    public var mlpBias: Bool
    public var hiddenAct: String
    public var slidingWindow: Int?
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    /// The Activation Beacon settings (`beacon_*` keys); nil for a plain model.
    public var beacon: BeaconSettings?

    public static let supportedModelTypes = ["llama", "mistral", "qwen2"]

    enum Keys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters", maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias", mlpBias = "mlp_bias"
        case hiddenAct = "hidden_act", slidingWindow = "sliding_window", useSlidingWindow = "use_sliding_window"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        guard Self.supportedModelTypes.contains(modelType) else {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c, debugDescription:
                "unsupported model_type '\(modelType)' (supported: \(Self.supportedModelTypes.joined(separator: ", ")))")
        }
        vocabSize = try c.decodeInteger(.vocabSize)
        hiddenSize = try c.decodeInteger(.hiddenSize)
        intermediateSize = try c.decodeInteger(.intermediateSize)
        numHiddenLayers = try c.decodeInteger(.numHiddenLayers)
        numAttentionHeads = try c.decodeInteger(.numAttentionHeads)
        numKeyValueHeads = try c.decodeIntegerIfPresent(.numKeyValueHeads) ?? numAttentionHeads
        // Derived only from sizes that can divide it; `problem()` names the key when they cannot.
        let derivedHeadDim = numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0
        headDim = try c.decodeIntegerIfPresent(.headDim) ?? derivedHeadDim
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        // transformers 5 folds rope_theta and rope_scaling into rope_parameters.
        let parameters = try c.decodeIfPresent(RoPEParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? parameters?.ropeTheta ?? 10_000
        ropeScaling = try c.decodeIfPresent(RoPEScaling.self, forKey: .ropeScaling)
            ?? parameters?.scaling.flatMap { $0.ropeType == "default" ? nil : $0 }
        maxPositionEmbeddings = try c.decodeIntegerIfPresent(.maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        let attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        qkvBias = modelType == "qwen2" ? true : attentionBias
        outputBias = modelType == "qwen2" ? false : attentionBias
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        guard hiddenAct == "silu" else {
            throw DecodingError.dataCorruptedError(forKey: .hiddenAct, in: c, debugDescription:
                "unsupported hidden_act '\(hiddenAct)' (only silu)")
        }
        let useWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? (modelType == "mistral")
        slidingWindow = useWindow ? try c.decodeIntegerIfPresent(.slidingWindow) : nil
        bosTokenId = try c.decodeIntegerIfPresent(.bosTokenId)
        if let single = try? c.decodeIntegerIfPresent(.eosTokenId) {
            eosTokenIds = [single]
        } else {
            eosTokenIds = try c.decodeIntegersIfPresent(.eosTokenId) ?? []
        }
        beacon = try BeaconSettings.present(in: decoder) ? BeaconSettings(from: decoder) : nil
        if let (key, why) = problem(headDimGiven: c.contains(.headDim)) {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        if modelType != "qwen2" { try c.encode(qkvBias, forKey: .attentionBias) }
        try c.encode(mlpBias, forKey: .mlpBias)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encodeIfPresent(slidingWindow, forKey: .slidingWindow)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        if eosTokenIds.count == 1 { try c.encode(eosTokenIds[0], forKey: .eosTokenId) }
        else if !eosTokenIds.isEmpty { try c.encode(eosTokenIds, forKey: .eosTokenId) }
        try beacon?.encode(to: encoder)
    }

    /// Checks the sizes agree with each other and stay within sane bounds (a config that cannot describe a model is
    /// an error, not a crash or an allocation that exhausts the machine).
    public func validate() throws {
        if let (key, why) = problem(headDimGiven: true) { throw ModelError.invalidConfig("\(key.rawValue): \(why)") }
        try beacon?.validate()
    }

    /// Upper bounds far above any released model of these families (the largest vocabularies are ~256K, hidden
    /// sizes 16K, depths ~130 layers, contexts 10M), so that a corrupt size is refused before it is allocated.
    static let bounds: [Keys: Int] = [
        .vocabSize: 1 << 22, .hiddenSize: 1 << 16, .intermediateSize: 1 << 18, .numHiddenLayers: 1024,
        .numAttentionHeads: 1024, .numKeyValueHeads: 1024, .headDim: 1024, .maxPositionEmbeddings: 1 << 26,
    ]

    /// The first key whose value cannot describe a model, and why. `headDimGiven`: head_dim was in the config
    /// (else it is hidden_size / num_attention_heads, which must then divide exactly).
    func problem(headDimGiven: Bool) -> (Keys, String)? {
        let sizes: [(Keys, Int)] = [
            (.vocabSize, vocabSize), (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize),
            (.numHiddenLayers, numHiddenLayers), (.numAttentionHeads, numAttentionHeads),
            (.numKeyValueHeads, numKeyValueHeads), (.headDim, headDim), (.maxPositionEmbeddings, maxPositionEmbeddings),
        ]
        for (key, value) in sizes {
            if value <= 0 { return (key, "\(key.rawValue) must be positive, got \(value)") }
            if let bound = Self.bounds[key], value > bound {
                return (key, "\(key.rawValue) \(value) is beyond any supported model (at most \(bound))")
            }
        }
        if !headDimGiven, hiddenSize % numAttentionHeads != 0 {
            return (.hiddenSize, "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            return (.numKeyValueHeads, "num_attention_heads \(numAttentionHeads) is not a multiple of "
                + "num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim % 2 == 0 else { return (.headDim, "head_dim \(headDim) must be even for RoPE") }
        guard rmsNormEps.isFinite, rmsNormEps > 0 else { return (.rmsNormEps, "rms_norm_eps must be a positive number, got \(rmsNormEps)") }
        guard ropeTheta.isFinite, ropeTheta > 0 else { return (.ropeTheta, "rope_theta must be a positive number, got \(ropeTheta)") }
        if let window = slidingWindow, window <= 0 { return (.slidingWindow, "sliding_window must be positive, got \(window)") }
        return nil
    }
}

/// transformers 5's `rope_parameters`: theta plus the scaling fields in one object.
private struct RoPEParameters: Decodable {
    var ropeTheta: Double?
    var scaling: RoPEScaling?

    enum Keys: String, CodingKey { case ropeTheta = "rope_theta" }

    init(from decoder: Decoder) throws {
        ropeTheta = try decoder.container(keyedBy: Keys.self).decodeIfPresent(Double.self, forKey: .ropeTheta)
        scaling = try RoPEScaling(from: decoder)
    }
}
