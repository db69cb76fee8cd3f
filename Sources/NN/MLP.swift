import Torch

/// The SwiGLU feed-forward block of Llama/Qwen2/Mistral: `down(silu(gate(x)) · up(x))`.
public final class SwiGLU: Module {
    @ModuleInfo(key: "gate_proj") public var gate: Linear
    @ModuleInfo(key: "up_proj") public var up: Linear
    @ModuleInfo(key: "down_proj") public var down: Linear
    /// gate and up packed as one int8 product for inference (`packFusedInt8`).
    public private(set) var fusedGateUp: FusedInt8Linears?

    public init(dims: Int, hiddenDims: Int, bias: Bool = false, dtype: DType = .float32,
                initialization: Initialization = .default) throws {
        super.init()
        self.gate = try Linear(dims, hiddenDims, bias: bias, dtype: dtype, initialization: initialization)
        self.up = try Linear(dims, hiddenDims, bias: bias, dtype: dtype, initialization: initialization)
        self.down = try Linear(hiddenDims, dims, bias: bias, dtype: dtype, initialization: initialization)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if let fusedGateUp, fusedGateUp.serves(x) {
            let gateUp = try fusedGateUp(x)
            return try down(Functional.siluMul(gateUp[0], gateUp[1]))
        }
        if let gateUp = try FusedFloatLinears.outputs([gate, up], x) {
            return try down(Functional.siluMul(gateUp[0], gateUp[1]))
        }
        return try down(Functional.siluMul(try gate(x), try up(x)))
    }

    /// Packs gate and up as one int8 product (see `FusedInt8Linears`).
    public func packFusedInt8() throws { fusedGateUp = try FusedInt8Linears([gate, up]) }

    public func dropFusedInt8() { fusedGateUp = nil }

    /// Uses a gate/up product packed elsewhere (see `FusedInt8Linears.init(packed:for:)`).
    public func useFusedInt8(_ packed: Int8Linear) throws { fusedGateUp = try FusedInt8Linears(packed: packed, for: [gate, up]) }
}
