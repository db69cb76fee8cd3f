import CTorch

/// The C library's heap settings for a process whose large allocations are tensors freed and re-made every layer.
///
/// glibc gives freed memory back to the kernel past a small threshold (arenas of non-main threads, where Swift's
/// async code allocates, are shrunk with `madvise(DONTNEED)`), so the same few-MiB activations of each layer come
/// back as fresh pages the kernel must zero-fill on first touch. Measured with `perf` on SmolLM2-135M (2 vCPUs):
/// kernel time (page faults, memory-cgroup charging) was 6.8 % of a memorize run and 8.2 % of a training step.
/// Peak memory is unchanged: the heap keeps what the peak needed instead of returning and re-faulting it.
public enum HeapSettings {
    /// Blocks up to 32 MiB (glibc's largest mmap threshold on 64-bit) come from the heap, and up to 1 GiB of freed
    /// memory stays there. Process-wide, so the CLI opts in at launch and a library user may. Returns whether the
    /// C library took the settings.
    @discardableResult
    public static func retainFreedTensorMemory() -> Bool {
        var applied: Int32 = 0
        guard mr_retain_freed_memory(32 << 20, 1 << 30, &applied) == 0 else { return false }
        return applied == 1
    }
}
