import Foundation
import Torch

/// Settings that native libraries read once, when they are loaded — before `main` runs — so the CLI re-executes
/// itself once with them in place:
/// - `OMP_WAIT_POLICY=passive` and a short `GOMP_SPINCOUNT` (see `LaunchSettings`): with OpenMP's default long
///   spin-wait every parallel op on these 2-core VMs stalls for ≥ 8 ms and a transformer step runs 2–4× slower.
/// - `OPENBLAS_CORETYPE`: Debian's OpenBLAS 0.3.21 does not recognise recent virtualised Xeon/EPYC models and falls
///   back to its Prescott (SSE3) kernels, 5× slower than its AVX-512 ones (32 vs 150 GFLOP/s on a 1024² matmul).
///   We name the kernel family from the CPU flags we detect.
/// A variable the user already set is left alone.
enum LaunchEnvironment {
    static func reexecIfNeeded() {
        let missing = LaunchSettings.missing(in: ProcessInfo.processInfo.environment, features: .detect())
        guard !missing.isEmpty else { return }
        for (key, value) in missing { setenv(key, value, 1) }
        var cArguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &cArguments)
        // execv returns only on failure; carry on (slower) rather than refuse to run.
        let reason = String(cString: strerror(errno))
        FileHandle.standardError.write(Data("memorag: could not re-exec with \(missing.keys.sorted()) set (\(reason)); continuing\n".utf8))
    }
}
