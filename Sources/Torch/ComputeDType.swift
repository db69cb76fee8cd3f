import Foundation

/// The x86 features that decide whether bf16 matmuls run in hardware (AVX-512 BF16, AMX) or in a software path that
/// is 10–50× slower than fp32.
public struct CPUFeatures: Sendable, Equatable {
    public var avx2 = false
    public var fma = false
    public var avx512f = false
    public var avx512bw = false
    public var avx512dq = false
    public var avx512vl = false
    public var avx512bf16 = false
    public var amxBF16 = false
    /// Int8 dot products accumulating in 32 bits (AVX-512 VNNI or AVX-VNNI).
    public var vnni = false

    public init(avx2: Bool = false, fma: Bool = false, avx512f: Bool = false, avx512bw: Bool = false, avx512dq: Bool = false,
                avx512vl: Bool = false, avx512bf16: Bool = false, amxBF16: Bool = false, vnni: Bool = false) {
        (self.avx2, self.fma, self.avx512f, self.avx512bw) = (avx2, fma, avx512f, avx512bw)
        (self.avx512dq, self.avx512vl, self.avx512bf16, self.amxBF16) = (avx512dq, avx512vl, avx512bf16, amxBF16)
        self.vnni = vnni
    }

    /// Reads the flags of the first processor in `/proc/cpuinfo` (all features false where that file is absent).
    public static func detect(cpuinfo path: String = "/proc/cpuinfo") -> CPUFeatures {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return CPUFeatures() }
        return parse(cpuinfo: text)
    }

    public static func parse(cpuinfo text: String) -> CPUFeatures {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return CPUFeatures() }
        let flags = Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        return CPUFeatures(
            avx2: flags.contains("avx2"), fma: flags.contains("fma"), avx512f: flags.contains("avx512f"),
            avx512bw: flags.contains("avx512bw"), avx512dq: flags.contains("avx512dq"), avx512vl: flags.contains("avx512vl"),
            avx512bf16: flags.contains("avx512_bf16"), amxBF16: flags.contains("amx_bf16"),
            vnni: flags.contains("avx512_vnni") || flags.contains("avx_vnni"))
    }

    public var hasHardwareBF16: Bool { avx512bf16 || amxBF16 }

    public var summary: String {
        let names = [("avx2", avx2), ("fma", fma), ("avx512f", avx512f), ("avx512_bf16", avx512bf16), ("amx_bf16", amxBF16),
                     ("vnni", vnni)]
        return names.map { "\($0.0)=\($0.1 ? "yes" : "no")" }.joined(separator: " ")
    }
}

/// The floating-point dtype for weights and activations: bf16 where the CPU does bf16 math in hardware and a bf16
/// matmul measures faster than an fp32 one, fp32 elsewhere. Hardware bf16 is not always the faster: on AVX-512 BF16
/// without AMX (the AMD EPYC VMs this project runs on) libtorch's bf16 GEMM ran at half the fp32 rate (172 against
/// 340 GFLOP/s, `bench train`). `MEMORAG_DTYPE=fp32|bf16` (or an explicit choice by the caller) overrides both.
public enum ComputeDType {
    /// Matmul rates of this machine in GFLOP/s, measured once per process (about 0.1 s; `measureMatmulRates`).
    public static let measuredRates: MatmulRates = (try? measureMatmulRates()) ?? MatmulRates(float32: 1, bfloat16: 0)

    public struct MatmulRates: Sendable, Equatable {
        public var float32: Double
        public var bfloat16: Double

        public init(float32: Double, bfloat16: Double) { (self.float32, self.bfloat16) = (float32, bfloat16) }
    }

    /// - Parameter rates: the matmul rates to compare where the CPU has hardware bf16 (default: measured).
    public static func choose(
        features: CPUFeatures = .detect(), environment: [String: String] = ProcessInfo.processInfo.environment,
        rates: () -> MatmulRates = { measuredRates }
    ) throws -> DType {
        if let requested = environment["MEMORAG_DTYPE"], !requested.isEmpty { return try parse(requested) }
        guard features.hasHardwareBF16 else { return .float32 }
        // bf16 halves the bytes of weights and activations; worth it only where its math is not slower.
        let measured = rates()
        return measured.bfloat16 >= measured.float32 ? .bfloat16 : .float32
    }

    /// Best of three 1024² matmuls per dtype, after a warm-up one, on the current intra-op threads.
    public static func measureMatmulRates(size: Int = 1024) throws -> MatmulRates {
        func rate(_ dtype: DType) throws -> Double {
            let a = try Tensor.randn([size, size]).to(dtype), b = try Tensor.randn([size, size]).to(dtype)
            _ = try a.matmul(b)
            let clock = ContinuousClock()
            let best = try (0..<3).map { _ in
                let start = clock.now
                _ = try a.matmul(b)
                return (clock.now - start) / .seconds(1)
            }.min()!
            return 2 * pow(Double(size), 3) / max(best, 1e-9) / 1e9
        }
        return try withNoGrad { MatmulRates(float32: try rate(.float32), bfloat16: try rate(.bfloat16)) }
    }

    /// Accepts the usual spellings: fp32/float32/f32, bf16/bfloat16, fp16/float16/f16.
    public static func parse(_ name: String) throws -> DType {
        switch name.lowercased() {
        case "fp32", "float32", "f32", "float": return .float32
        case "bf16", "bfloat16": return .bfloat16
        case "fp16", "float16", "f16", "half": return .float16
        default: throw TorchError("unknown compute dtype '\(name)' (expected fp32, bf16 or fp16)")
        }
    }
}

/// How an inference model computes: the dtype of its activations and float weights, and whether its linear weights
/// are packed as int8 (`Int8Linear`: float32 activations, dynamically quantized per call).
public struct InferencePrecision: Sendable, Equatable, CustomStringConvertible {
    public var dtype: DType
    public var int8Weights: Bool

    public init(dtype: DType, int8Weights: Bool = false) {
        (self.dtype, self.int8Weights) = (dtype, int8Weights)
    }

    /// `ComputeDType.parse`'s spellings, plus "int8" (float32 with int8 linear weights).
    public static func parse(_ name: String) throws -> InferencePrecision {
        if ["int8", "i8", "q8"].contains(name.lowercased()) { return InferencePrecision(dtype: .float32, int8Weights: true) }
        do {
            return InferencePrecision(dtype: try ComputeDType.parse(name))
        } catch {
            throw TorchError("unknown compute dtype '\(name)' (expected fp32, bf16, fp16 or int8)")
        }
    }

    public var description: String { int8Weights ? "int8" : "\(dtype)" }

    /// The precision `MEMORAG_DTYPE` asks for (fp32, bf16 or int8), or nil when it is unset.
    public static func requested(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> InferencePrecision?
    {
        guard let value = environment["MEMORAG_DTYPE"], !value.isEmpty else { return nil }
        return try parse(value)
    }

    /// What inference runs in by default: `MEMORAG_DTYPE` when set (fp32, bf16 or int8); else int8 weights where
    /// the CPU has VNNI and libtorch an x86 quantized engine (decoding SmolLM2-135M 2.6× faster than fp32 for
    /// +0.03 nats of held-out loss, Benchmarks/RESULTS.md); else `ComputeDType.choose`.
    public static func choose(
        features: CPUFeatures = .detect(), environment: [String: String] = ProcessInfo.processInfo.environment,
        int8Available: Bool = Int8Linear.isSupported
    ) throws -> InferencePrecision {
        if let requested = try requested(environment: environment) { return requested }
        if features.vnni && int8Available { return InferencePrecision(dtype: .float32, int8Weights: true) }
        return InferencePrecision(dtype: try ComputeDType.choose(features: features, environment: environment))
    }

    /// Resolves a caller's partial choice: an explicit `int8Weights` or `dtype` wins, nil for both picks `choose()`.
    public static func resolve(dtype: DType?, int8Weights: Bool?) throws -> InferencePrecision {
        switch (dtype, int8Weights) {
        case (nil, nil): return try choose()
        case (let d, true?):
            guard d == nil || d == .float32 else {
                throw TorchError("int8 weights compute with float32 activations, not \(d!)")
            }
            return InferencePrecision(dtype: .float32, int8Weights: true)
        case (let d?, _): return InferencePrecision(dtype: d)
        case (nil, false?): return InferencePrecision(dtype: try ComputeDType.choose())
        }
    }
}
