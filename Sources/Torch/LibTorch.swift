import CTorch
import Foundation

/// Process-wide libtorch settings: version, threads, random seed and generator state.
public enum LibTorch {
    /// The libtorch version the shim was built against, e.g. "1.13.0".
    public static var version: String { string(mr_torch_version) }

    /// libtorch's summary of its thread pools and math libraries.
    public static var parallelInfo: String { string(mr_parallel_info, capacity: 8192) }

    /// Intra-op threads (default: the cores available).
    public static var numThreads: Int {
        var n: Int32 = 0
        precondition(mr_get_num_threads(&n) == 0, String(cString: mr_last_error()))
        return Int(n)
    }

    public static func setNumThreads(_ n: Int) throws { try check(mr_set_num_threads(Int32(n))) }

    /// Seeds the default CPU generator used by `rand`, `randn`, `randint`, dropout and sampling.
    public static func manualSeed(_ seed: UInt64) throws { try check(mr_manual_seed(seed)) }

    /// The default generator's full state (uint8 tensor); restore it to continue a random stream bitwise.
    public static func rngState() throws -> Tensor { try makeTensor { mr_rng_get_state($0) } }

    public static func setRNGState(_ state: Tensor) throws { try check(mr_rng_set_state(state.handle)) }

    private static func string(_ call: (UnsafeMutablePointer<CChar>?, Int) -> Int32, capacity: Int = 64) -> String {
        var buffer = [CChar](repeating: 0, count: capacity)
        guard call(&buffer, capacity) == 0 else { return "unknown (\(String(cString: mr_last_error())))" }
        return String(cString: buffer)
    }
}
