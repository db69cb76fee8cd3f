import Torch

/// The SwiGLU feed-forward block of Llama/Qwen2/Mistral: `down(silu(gate(x)) · up(x))`.
public final class SwiGLU: Module {
    @ModuleInfo(key: "gate_proj") public var gate: Linear
    @ModuleInfo(key: "up_proj") public var up: Linear
    @ModuleInfo(key: "down_proj") public var down: Linear

    public init(dims: Int, hiddenDims: Int, bias: Bool = false, dtype: DType = .float32,
                initialization: Initialization = .default) throws {
        super.init()
        self.gate = try Linear(dims, hiddenDims, bias: bias, dtype: dtype, initialization: initialization)
        self.up = try Linear(dims, hiddenDims, bias: bias, dtype: dtype, initialization: initialization)
        self.down = try Linear(hiddenDims, dims, bias: bias, dtype: dtype, initialization: initialization)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try down(gate(x).silu() * up(x))
    }
}
