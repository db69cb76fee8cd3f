import Torch

/// `y = x Wᵀ + b` with HF keys `weight` [out, in] and `bias` [out].
public final class Linear: Module {
    @ParameterInfo(key: "weight") public var weight: Tensor
    @ParameterInfo(key: "bias") public var bias: Tensor?

    /// Weights from `initialization` (HF's N(0, 0.02²) by default); bias zero.
    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, dtype: DType = .float32,
                initialization: Initialization = .default) throws {
        super.init()
        self.weight = try initialization.make([outputs, inputs], dtype: dtype)
        self.bias = bias ? try Tensor.zeros([outputs], dtype: dtype) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Functional.linear(x, weight: weight, bias: bias)
    }
}

/// A lookup table with HF key `weight` [count, dims].
public final class Embedding: Module {
    @ParameterInfo(key: "weight") public var weight: Tensor

    public init(_ count: Int, _ dims: Int, dtype: DType = .float32, initialization: Initialization = .default) throws {
        super.init()
        self.weight = try initialization.make([count, dims], dtype: dtype)
    }

    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        try Functional.embedding(ids, weight: weight)
    }

    /// Scores against every row (`x Wᵀ`), the output layer of a model with tied embeddings.
    public func asLinear(_ x: Tensor) throws -> Tensor {
        try Functional.linear(x, weight: weight)
    }
}
