/// Environment variables that libgomp and OpenBLAS read once, at load time, and that every process running libtorch
/// should have (the CLI re-executes itself with them; tests and benchmarks get them from `scripts/env.sh`).
///
/// - `OMP_WAIT_POLICY=passive`: OpenMP's default long spin-wait stalls parallel ops by ≥ 8 ms on these VMs.
/// - `GOMP_SPINCOUNT=10000`: with the passive policy alone, every parallel region pays a futex wake-up; a short spin
///   (microseconds) before sleeping catches back-to-back ops. Measured on 2 vCPUs with SmolLM2-135M: decode 41 vs
///   22 tokens/s on two threads, prefill +12 %, the small-Llama training step +2 %; PyTorch eager gains alike.
public enum LaunchSettings {
    public static let shortSpinCount = "10000"

    /// The variables to add to `environment` (those it lacks), with their values for this CPU.
    public static func missing(in environment: [String: String], features: CPUFeatures) -> [String: String] {
        var result: [String: String] = [:]
        if environment["OMP_WAIT_POLICY"] == nil { result["OMP_WAIT_POLICY"] = "passive" }
        let policy = (environment["OMP_WAIT_POLICY"] ?? "passive").lowercased()
        if environment["GOMP_SPINCOUNT"] == nil, policy == "passive" { result["GOMP_SPINCOUNT"] = shortSpinCount }
        if environment["OPENBLAS_CORETYPE"] == nil, let core = openBLASCore(features) { result["OPENBLAS_CORETYPE"] = core }
        return result
    }

    /// The OpenBLAS kernel family matching the CPU's vector extensions, nil where OpenBLAS's own detection is fine.
    public static func openBLASCore(_ f: CPUFeatures) -> String? {
        if f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl { return "SkylakeX" }
        if f.avx2 && f.fma { return "Haswell" }
        return nil
    }
}
