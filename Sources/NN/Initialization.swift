import Torch

/// How a layer fills its parameters when it is built.
public enum Initialization: Sendable {
    /// N(0, std²), as Hugging Face initialises Llama-family weights.
    case normal(std: Double)
    /// Storage only (fast): for layers whose weights are loaded right after construction.
    case uninitialized

    public static let `default` = Initialization.normal(std: 0.02)

    func make(_ shape: [Int], dtype: DType) throws -> Tensor {
        switch self {
        case .normal(let std): return try (Tensor.randn(shape) * std).to(dtype)
        case .uninitialized: return try Tensor.empty(shape, dtype: dtype)
        }
    }
}
