/// Environment variables that libgomp and OpenBLAS read once, at load time, and that every process running libtorch
/// should have (the CLI re-executes itself with them; tests and benchmarks get them from `scripts/env.sh`).
public enum LaunchSettings {
    /// The variables to add to `environment` (those it lacks), with their values for this CPU.
    public static func missing(in environment: [String: String], features: CPUFeatures) -> [String: String] {
        var result: [String: String] = [:]
        if environment["OMP_WAIT_POLICY"] == nil { result["OMP_WAIT_POLICY"] = "passive" }
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
