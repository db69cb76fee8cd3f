import Torch

/// Llama-family RMSNorm (HF `LlamaRMSNorm`): normalised in float32, cast back, scaled by `weight`.
public final class RMSNorm: Module {
    @ParameterInfo(key: "weight") public var weight: Tensor
    public let eps: Double

    public init(_ dims: Int, eps: Double = 1e-6, dtype: DType = .float32) throws {
        self.eps = eps
        super.init()
        self.weight = try Tensor.ones([dims], dtype: dtype)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Functional.rmsNorm(x, weight: weight, eps: eps)
    }
}

/// LayerNorm over the last dimension (BERT), HF keys `weight` and `bias`.
public final class LayerNorm: Module {
    @ParameterInfo(key: "weight") public var weight: Tensor?
    @ParameterInfo(key: "bias") public var bias: Tensor?
    public let eps: Double

    public init(_ dims: Int, eps: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) throws {
        self.eps = eps
        super.init()
        self.weight = affine ? try Tensor.ones([dims], dtype: dtype) : nil
        self.bias = affine ? try Tensor.zeros([dims], dtype: dtype) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Functional.layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}
