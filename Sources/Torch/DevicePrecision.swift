import Foundation

// Precision by device. The CPU rules (ComputeDType.choose, InferencePrecision.choose) weigh this CPU's bf16 speed and
// int8 support; on CUDA the choice follows the GPU's generation instead: bf16 runs on the tensor cores of compute
// capability 8.0 and later (A100, H100/H200), and fbgemm's int8 weights do not exist there. Each choice is a pure
// function of the device and what is known of it, so it is tested without a GPU.

extension ComputeDType {
    /// Whether a CUDA device of this compute capability computes in bf16 in hardware (Ampere, 8.0, and later).
    public static func cudaHasBF16(_ capability: (major: Int, minor: Int)) -> Bool { capability.major >= 8 }

    /// The default compute dtype on `device`: `MEMORAG_DTYPE` when set; on CUDA bf16 where the GPU has it, else fp32;
    /// on the CPU what `cpuChoice` picks (default `choose()`, which measures this CPU).
    public static func choose(
        for device: Device, environment: [String: String] = ProcessInfo.processInfo.environment,
        cudaCapability: (Int) throws -> (major: Int, minor: Int) = CUDA.capability(of:),
        cpuChoice: () throws -> DType = { try ComputeDType.choose() }
    ) throws -> DType {
        if let requested = environment["MEMORAG_DTYPE"], !requested.isEmpty { return try parse(requested) }
        switch device {
        case .cpu: return try cpuChoice()
        case .cuda(let index): return cudaHasBF16(try cudaCapability(index)) ? .bfloat16 : .float32
        }
    }
}

/// How training computes: the dtype of the math (`compute`) and the dtype of the weights and optimizer moments it
/// updates (`master`). They differ only on CUDA with bf16: matmuls and attention run in bf16 under libtorch's
/// autocast while weights and moments stay fp32, so updates smaller than bf16's 8 bits of mantissa are not lost.
/// On the CPU bf16 means bf16 throughout (its autocast would add a cast of every weight per step).
public struct TrainingPrecision: Sendable, Equatable, CustomStringConvertible {
    public var compute: DType
    public var master: DType

    public init(compute: DType, master: DType) { (self.compute, self.master) = (compute, master) }

    /// Whether the forward and backward passes run under autocast (`withAutocast(compute, on:)`).
    public var isMixed: Bool { compute != master }

    /// The precision for a recipe's concrete dtype (fp32 or bf16) on `device`.
    public static func resolve(dtype: DType, device: Device) -> TrainingPrecision {
        guard dtype != .float32 else { return TrainingPrecision(compute: .float32, master: .float32) }
        return device.isCUDA ? TrainingPrecision(compute: dtype, master: .float32)
                             : TrainingPrecision(compute: dtype, master: dtype)
    }

    public var description: String { isMixed ? "\(compute) compute, \(master) weights" : "\(compute)" }
}

extension InferencePrecision {
    /// What inference runs in on `device`: the CPU's own choice there (`choose()`: int8 where it has VNNI…); on CUDA
    /// the GPU's compute dtype (`ComputeDType.choose(for:)`), and int8 — asked for by `MEMORAG_DTYPE` — is refused.
    public static func choose(
        for device: Device, environment: [String: String] = ProcessInfo.processInfo.environment,
        cudaCapability: (Int) throws -> (major: Int, minor: Int) = CUDA.capability(of:),
        cpuChoice: () throws -> InferencePrecision = { try InferencePrecision.choose() }
    ) throws -> InferencePrecision {
        guard device.isCUDA else { return try cpuChoice() }
        if let requested = try requested(environment: environment) {
            try requested.check(on: device)
            return requested
        }
        return InferencePrecision(
            dtype: try ComputeDType.choose(for: device, environment: environment, cudaCapability: cudaCapability))
    }

    /// Resolves a caller's partial choice on `device` (see `resolve(dtype:int8Weights:)`): on CUDA no choice
    /// takes `choose(for:)`, and int8 is refused.
    public static func resolve(
        dtype: DType?, int8Weights: Bool?, device: Device,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cudaCapability: (Int) throws -> (major: Int, minor: Int) = CUDA.capability(of:)
    ) throws -> InferencePrecision {
        guard device.isCUDA else { return try resolve(dtype: dtype, int8Weights: int8Weights) }
        if dtype == nil && int8Weights != true {
            return try choose(for: device, environment: environment, cudaCapability: cudaCapability)
        }
        let chosen = try resolve(dtype: dtype, int8Weights: int8Weights)
        try chosen.check(on: device)
        return chosen
    }

    /// Refuses int8 weights anywhere but on the CPU (fbgemm packs them in host memory).
    public func check(on device: Device) throws {
        guard int8Weights, device != .cpu else { return }
        throw TorchError("int8 weights run on the CPU only (fbgemm), not on \(device); use fp32 or bf16 there")
    }
}
