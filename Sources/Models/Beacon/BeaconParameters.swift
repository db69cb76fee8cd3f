import Foundation
import NN
import Torch

// The beacon parameters of a decoder: `model.beacon_embed_tokens.weight` [1, hidden] and per layer
// `model.layers.N.self_attn.beacon_{q,k,v,o}_proj`, present when `config.beacon` is set. When a checkpoint lacks
// them they start as the reference initialises them: the EOS (or BOS) embedding and copies of the plain projections.
extension DecoderLM {
    /// Turns a plain model into a beacon model with fresh beacon parameters (the default memory model is a plain
    /// SmolLM2 GGUF plus beacon parameters). A model that already has beacon settings is refused.
    public func addBeacon(_ settings: BeaconSettings) throws {
        guard config.beacon == nil else {
            throw ModelError.invalidConfig("the model already has beacon parameters")
        }
        try settings.validate()
        try installBeaconParameters(settings)
        config.beacon = settings
    }

    /// Names of the beacon parameters the settings call for.
    func beaconParameterNames(_ settings: BeaconSettings) -> [String] {
        var names = ["model.beacon_embed_tokens.weight"]
        for layer in 0..<config.numHiddenLayers {
            for p in settings.parameters {
                names.append("model.layers.\(layer).self_attn.beacon_\(p)_proj.weight")
                let hasBias = p == "o" ? config.outputBias : config.qkvBias
                if hasBias { names.append("model.layers.\(layer).self_attn.beacon_\(p)_proj.bias") }
            }
        }
        return names
    }

    /// Creates the beacon parameters from the current plain weights.
    func installBeaconParameters(_ settings: BeaconSettings) throws {
        let row = try beaconInitialRow(settings)
        let embedding = try Embedding(1, config.hiddenSize, dtype: dtype, initialization: .uninitialized)
        try withNoGrad {
            embedding.weight = try body.embedTokens.weight.detach().narrow(dim: 0, start: row, length: 1).clone()
        }
        body.beaconEmbedTokens = embedding
        for layer in body.layers { try layer.attention.addBeaconProjections(Set(settings.parameters)) }
    }

    /// A model of `config` whose every parameter — beacon ones included — is uninitialized memory, for weights that
    /// are about to replace them all (`DecoderLM(config:initialization: .uninitialized)` copies the plain
    /// projections into the beacon ones, which touches that memory).
    static func uninitialized(config: DecoderConfig, dtype: DType) throws -> DecoderLM {
        var plain = config
        plain.beacon = nil
        let model = try DecoderLM(config: plain, dtype: dtype, initialization: .uninitialized)
        guard let settings = config.beacon else { return model }
        try settings.validate()
        model.body.beaconEmbedTokens = try Embedding(1, config.hiddenSize, dtype: dtype, initialization: .uninitialized)
        let names = Set(settings.parameters)
        for layer in model.body.layers {
            let a = layer.attention
            func fresh(_ name: String, _ like: Linear) throws -> Linear? {
                guard names.contains(name) else { return nil }
                return try Linear(like.weight.dim(1), like.weight.dim(0), bias: like.bias != nil, dtype: dtype,
                                  initialization: .uninitialized)
            }
            (a.beaconQProj, a.beaconKProj, a.beaconVProj, a.beaconOProj) =
                (try fresh("q", a.qProj), try fresh("k", a.kProj), try fresh("v", a.vProj), try fresh("o", a.oProj))
        }
        model.config.beacon = settings
        return model
    }

    /// The vocabulary row that initialises the beacon embedding (`beacon_embed_init`).
    private func beaconInitialRow(_ settings: BeaconSettings) throws -> Int {
        let id = settings.embedInit == "bos" ? config.bosTokenId : config.eosTokenIds.first
        guard let id, id >= 0, id < config.vocabSize else {
            throw ModelError.invalidConfig("beacon_embed_init '\(settings.embedInit)' needs a valid \(settings.embedInit)_token_id")
        }
        return id
    }

    /// Adds the beacon tensors a checkpoint of a beacon model lacks, derived from its plain tensors as the reference
    /// does on loading. Beacon tensors that are present are kept as they are.
    func completingBeaconWeights(_ weights: [String: Tensor]) throws -> [String: Tensor] {
        guard let settings = config.beacon else { return weights }
        var result = weights
        let embedKey = "model.beacon_embed_tokens.weight"
        if result[embedKey] == nil, let embed = weights["model.embed_tokens.weight"] {
            result[embedKey] = try embed.narrow(dim: 0, start: try beaconInitialRow(settings), length: 1).clone()
        }
        for name in beaconParameterNames(settings) where result[name] == nil && name != embedKey {
            let plain = name.replacingOccurrences(of: "beacon_", with: "")
            if let tensor = weights[plain] { result[name] = try tensor.clone() }
        }
        return result
    }

    /// Only the beacon parameters record gradients (the reference's `only_train_beacon`). Returns their names.
    @discardableResult
    public func trainOnlyBeacon() throws -> [String] {
        guard let settings = config.beacon else { throw ModelError.invalidConfig("not a beacon model") }
        try trainOnly(["*beacon_*"])
        let names = beaconParameterNames(settings)
        return names
    }

    /// Identity of this model for stored memories: its config and its weights (shape, dtype, sums and a strided
    /// sample of every tensor), hashed. Two models agree only if they would compute the same memory.
    public var fingerprint: String {
        get throws {
            var hash = FNV1a()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            hash.add(bytes: Array(try encoder.encode(config)))
            try withNoGrad {
                for (name, tensor) in parameters().sorted(by: { $0.name < $1.name }) {
                    hash.add(string: name)
                    hash.add(string: "\(tensor.shape) \(tensor.dtype)")
                    // Read in host memory, so that a memory made on one device is recognised on another.
                    let flat = try tensor.detach().to(device: .cpu).reshape(-1)
                    let step = max(1, flat.count / 4096)
                    let sample = try flat.slice(dim: 0, start: 0, end: flat.count, step: step).to(.float64).toArray(Double.self)
                    // Sums in float64: float32 weights add up exactly there (their ulps span far fewer than 53
                    // bits), so the result does not depend on how a parallel reduction splits the tensor — a float32
                    // sum or norm differed between processes and made one model look like two.
                    let wide = try flat.to(.float64)
                    let sums = [try wide.sum().item(), try wide.abs().sum().item()]
                    for value in sample + sums { hash.add(bytes: withUnsafeBytes(of: value.bitPattern) { Array($0) }) }
                }
            }
            return hash.hex
        }
    }
}

/// 64-bit FNV-1a, twice with different offsets for 128 bits (an identity check, not a security measure).
struct FNV1a {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x8422_2325_cbf2_9ce4

    mutating func add(bytes: [UInt8]) {
        for byte in bytes {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            b = b ^ (b >> 29)
        }
    }

    mutating func add(string: String) { add(bytes: Array(string.utf8) + [0]) }

    var hex: String { String(format: "%016llx%016llx", a, b) }
}
