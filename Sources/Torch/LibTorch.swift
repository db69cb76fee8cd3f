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

    /// Runs `work(0) … work(count - 1)` on up to `numThreads` OS threads at once, the intra-op threads split evenly
    /// between them, and returns the results in order (the first error is rethrown once all have finished).
    ///
    /// For small ops one after another (token-by-token decoding of a small model) two independent streams on one
    /// thread each beat one stream on two threads: nothing waits at each op's fork and join. Each work item must
    /// touch only its own mutable state (shared modules are only read) and sets its own grad mode (thread-local).
    public static func splittingThreads<T>(count: Int, _ work: (Int) throws -> T) throws -> [T] {
        let threads = numThreads
        let width = min(count, threads)
        guard width > 1 else { return try (0..<count).map(work) }
        let each = threads / width
        // Process-wide (MKL included) for the duration; each worker thread sets its own OpenMP count too.
        try setNumThreads(each)
        defer { try? setNumThreads(threads) }
        var results = [Result<T, Error>?](repeating: nil, count: count)
        let lock = NSLock()
        var next = 0
        results.withUnsafeMutableBufferPointer { slots in
            DispatchQueue.concurrentPerform(iterations: width) { _ in
                _ = mr_set_calling_thread_num_threads(Int32(each))
                // A pool thread keeps its OpenMP count: give it back the process's for whatever runs on it next.
                defer { _ = mr_set_calling_thread_num_threads(Int32(threads)) }
                while true {
                    let i = lock.withLock { () -> Int in
                        defer { next += 1 }
                        return next
                    }
                    guard i < count else { return }
                    slots[i] = Result { try work(i) }
                }
            }
        }
        return try results.map { try $0!.get() }
    }

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

    /// Seconds `count` calls of a shim function that does nothing take: the Swift→C crossing alone, with no libtorch
    /// work (`bench ops`' "crossing" case; only this module calls the shim).
    public static func timeShimCrossings(_ count: Int) -> Double {
        var out: mr_tensor?
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count { _ = mr_noop(&out, nil) }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
