import Foundation
import Torch

/// `rope_scaling` from an HF config.json. Supported: none/"default", "linear", "llama3".
public struct RoPEScaling: Codable, Sendable, Equatable {
    public var ropeType: String
    public var factor: Double
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type"
        case type
        case factor
        case lowFreqFactor = "low_freq_factor"
        case highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }

    public init(ropeType: String, factor: Double, lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
                originalMaxPositionEmbeddings: Int? = nil) {
        self.ropeType = ropeType
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Older configs spell it "type".
        ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type)
            ?? "default"
        factor = try c.decodeIfPresent(Double.self, forKey: .factor) ?? 1
        lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
        highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
        originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ropeType, forKey: .ropeType)
        try c.encode(factor, forKey: .factor)
        try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
        try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
        try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
    }
}

/// Rotary position embedding in HF's rotate-half layout. The inverse frequencies are computed with float32 tensor ops
/// in the same order as transformers, so angles agree bitwise even at large positions.
public struct RotaryEmbedding {
    public let headDim: Int
    /// [headDim / 2], float32.
    public let inverseFrequencies: Tensor

    public init(headDim: Int, theta: Double, scaling: RoPEScaling? = nil) throws {
        guard headDim % 2 == 0 else { throw TorchError("rotary embedding needs an even head dimension, got \(headDim)") }
        self.headDim = headDim
        // inv_freq = 1 / theta ** (arange(0, dim, 2) / dim), in float32.
        let exponents = try Tensor.arange(0, Double(headDim), step: 2, dtype: .int64).to(.float32) / Double(headDim)
        var invFreq = try (try Tensor.full([headDim / 2], theta).pow(exponents)).reciprocal()
        switch scaling?.ropeType ?? "default" {
        case "default":
            break
        case "linear":
            invFreq = try invFreq / scaling!.factor
        case "llama3":
            invFreq = try Self.llama3(invFreq, scaling!)
        case let other:
            throw TorchError("unsupported rope_scaling type '\(other)' (supported: default, linear, llama3)")
        }
        self.inverseFrequencies = invFreq
    }

    /// cos and sin tables [positions, headDim] for the int64 `positions`, in `dtype`.
    public func cosSin(positions: Tensor, dtype: DType = .float32) throws -> (cos: Tensor, sin: Tensor) {
        // The frequencies (headDim / 2 values) go to the positions' device, so one embedding serves every device.
        let angles = try positions.to(.float32).unsqueeze(1) * inverseFrequencies.to(device: positions.device).unsqueeze(0)
        let table = try Tensor.cat([angles, angles], dim: -1)
        return (try table.cos().to(dtype), try table.sin().to(dtype))
    }

    /// Applies the rotation to x [batch, heads, seq, headDim] with tables from `cosSin` ([seq, headDim]).
    public func apply(_ x: Tensor, cos: Tensor, sin: Tensor) throws -> Tensor {
        try Functional.applyRotary(x, cos: cos, sin: sin)
    }

    /// transformers' `_compute_llama3_parameters`: low frequencies divided by `factor`, high ones kept, a smooth
    /// blend in between.
    private static func llama3(_ invFreq: Tensor, _ s: RoPEScaling) throws -> Tensor {
        guard let low = s.lowFreqFactor, let high = s.highFreqFactor, let original = s.originalMaxPositionEmbeddings
        else { throw TorchError("llama3 rope_scaling needs low_freq_factor, high_freq_factor, original_max_position_embeddings") }
        let lowWavelength = Double(original) / low
        let highWavelength = Double(original) / high
        let wavelength = try (2 * Double.pi) / invFreq
        let scaled = try Tensor.where(try wavelength.gt(lowWavelength), try invFreq / s.factor, invFreq)
        let smooth = try ((Double(original) / wavelength) - low) / (high - low)
        let smoothed = try (1 - smooth) * scaled / s.factor + smooth * scaled
        let medium = try wavelength.lt(highWavelength).logicalNot().logicalAnd(try wavelength.gt(lowWavelength).logicalNot())
        return try Tensor.where(medium, smoothed, scaled)
    }
}
