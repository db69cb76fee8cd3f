import Torch

/// `y = x Wᵀ + b` with HF keys `weight` [out, in] and `bias` [out], and an optional low-rank adapter (LoRA, Hu et
/// al. 2021) under PEFT-like keys `lora_A.weight` [rank, in] and `lora_B.weight` [out, rank]:
/// `y = x Wᵀ + b + scale · (x Aᵀ) Bᵀ`. `attachLoRA` adds one (B starts at zero, so the output is unchanged) and
/// `mergeLoRA` folds it into `weight` and removes it.
public final class Linear: Module {
    @ParameterInfo(key: "weight") public var weight: Tensor
    @ParameterInfo(key: "bias") public var bias: Tensor?
    @ModuleInfo(key: "lora_A") public private(set) var loraA: Linear?
    @ModuleInfo(key: "lora_B") public private(set) var loraB: Linear?
    /// alpha / rank of the attached adapter.
    public private(set) var loraScale = 0.0
    /// The weight as packed int8 (`quantizeInt8()`), used instead of `weight` whenever no gradient is wanted.
    public private(set) var int8: Int8Linear?

    /// Weights from `initialization` (HF's N(0, 0.02²) by default); bias zero.
    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, dtype: DType = .float32,
                initialization: Initialization = .default) throws {
        super.init()
        self.weight = try initialization.make([outputs, inputs], dtype: dtype)
        self.bias = bias ? try Tensor.zeros([outputs], dtype: dtype) : nil
        self.loraA = nil
        self.loraB = nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let y = if let int8, int8.serves(x) { try int8(x) }
                else { try Functional.linear(x, weight: weight, bias: bias) }
        guard let loraA, let loraB else { return y }
        return try y + loraB(loraA(x)) * loraScale
    }

    /// Adds a rank-`rank` adapter scaled by `alpha / rank`: A ~ N(0, 1/rank), B = 0 (trainable; the caller freezes
    /// the rest).
    public func attachLoRA(rank: Int, alpha: Double) throws {
        precondition(rank > 0, "LoRA rank must be positive")
        let (outputs, inputs) = (weight.dim(0), weight.dim(1))
        loraA = try Linear(inputs, rank, bias: false, dtype: weight.dtype, initialization: .normal(std: 1 / Double(rank).squareRoot()))
        loraB = try Linear(rank, outputs, bias: false, dtype: weight.dtype)
        try loraB!.weight.zero()
        // Drawn on the CPU generator like every initial weight, then placed beside the weight they adapt.
        try loraA!.move(to: weight.device)
        try loraB!.move(to: weight.device)
        loraScale = alpha / Double(rank)
    }

    /// Packs the current weight as int8 for inference (see `Int8Linear`); `dropInt8()` goes back to the float
    /// weight. Call it after the weights are final: a later change to `weight` is not seen by the packed copy.
    public func quantizeInt8() throws {
        int8 = try Int8Linear(weight: weight, bias: bias)
    }

    public func dropInt8() { int8 = nil }

    /// Uses `packed` — made from this layer's current weight and bias elsewhere (stored prepared weights) — as
    /// `quantizeInt8()` would have made it. Its shape must be the weight's.
    public func useInt8(_ packed: Int8Linear) throws {
        try checkInt8Shape(packed, weight: weight)
        int8 = packed
    }

    public override func moveState(to device: Device) throws { try refuseInt8Move(int8 != nil, to: device) }

    /// `W += scale · B A`, then drops the adapter (what export ships: a plain Linear).
    public func mergeLoRA() throws {
        guard let loraA, let loraB else { return }
        let merged = try Self.mergedWeight(weight, loraA: loraA.weight, loraB: loraB.weight, scale: loraScale)
        try withNoGrad { try weight.copyFrom(merged) }
        int8 = nil  // packed from the weight before the merge
        self.loraA = nil
        self.loraB = nil
        loraScale = 0
    }

    /// `W + scale · B A`, computed in float32 and returned in W's dtype (also used to merge saved adapters).
    public static func mergedWeight(_ weight: Tensor, loraA: Tensor, loraB: Tensor, scale: Double) throws -> Tensor {
        let delta = try loraB.to(.float32).matmul(loraA.to(.float32)) * scale
        return try (weight.to(.float32) + delta).to(weight.dtype)
    }
}

extension Module {
    /// Every `Linear` in the tree (adapters excluded) whose own key is one of `keys` (e.g. `q_proj`), with its path.
    public func linears(named keys: Set<String>) -> [(path: String, linear: Linear)] {
        linears { keys.contains($0) }
    }

    /// Every `Linear` in the tree (adapters excluded) whose own key passes `include` (default: all), with its path.
    public func linears(where include: (String) -> Bool = { _ in true }) -> [(path: String, linear: Linear)] {
        var result: [(String, Linear)] = []
        for (key, child) in children() where key != "lora_A" && key != "lora_B" {
            if let linear = child as? Linear, include(key) { result.append((key, linear)) }
            result += child.linears(where: include).map { ("\(key).\($0.path)", $0.linear) }
        }
        return result
    }
}

/// A lookup table with HF key `weight` [count, dims].
public final class Embedding: Module {
    @ParameterInfo(key: "weight") public var weight: Tensor

    public init(_ count: Int, _ dims: Int, dtype: DType = .float32, initialization: Initialization = .default) throws {
        super.init()
        self.weight = try initialization.make([count, dims], dtype: dtype)
    }

    /// The table packed as int8 for `asLinear` (`quantizeInt8()`); lookups keep the float rows.
    public private(set) var int8: Int8Linear?

    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        try Functional.embedding(ids, weight: weight)
    }

    /// Scores against every row (`x Wᵀ`), the output layer of a model with tied embeddings.
    public func asLinear(_ x: Tensor) throws -> Tensor {
        if let int8, int8.serves(x) { return try int8(x) }
        return try Functional.linear(x, weight: weight)
    }

    /// Packs the table as int8 for `asLinear` at inference (see `Linear.quantizeInt8()`).
    public func quantizeInt8() throws {
        int8 = try Int8Linear(weight: weight, bias: nil)
    }

    public func dropInt8() { int8 = nil }

    /// Uses `packed`, made from this table elsewhere (see `Linear.useInt8`).
    public func useInt8(_ packed: Int8Linear) throws {
        try checkInt8Shape(packed, weight: weight)
        int8 = packed
    }

    public override func moveState(to device: Device) throws { try refuseInt8Move(int8 != nil, to: device) }
}

func checkInt8Shape(_ packed: Int8Linear, weight: Tensor) throws {
    guard [packed.outputs, packed.inputs] == weight.shape else {
        throw TorchError("int8 weight [\(packed.outputs), \(packed.inputs)] does not fit a \(weight.shape) weight")
    }
}
