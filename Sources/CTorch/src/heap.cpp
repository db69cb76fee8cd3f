// The C library's heap settings (glibc's mallopt), for processes whose big allocations are tensors.
#include "internal.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

extern "C" {

int mr_retain_freed_memory(size_t mmap_threshold, size_t trim_threshold, int *applied) {
    PROTECT({
        if (applied == nullptr) throw std::invalid_argument("null output pointer");
        *applied = 0;
#if defined(__GLIBC__)
        if (mmap_threshold > static_cast<size_t>(INT32_MAX) || trim_threshold > static_cast<size_t>(INT32_MAX))
            throw std::invalid_argument("heap thresholds must fit in an int");
        // mallopt returns 1 on success; glibc refuses an mmap threshold above its maximum (32 MiB on 64-bit).
        const int mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold));
        const int trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold));
        *applied = mmap_ok == 1 && trim_ok == 1 ? 1 : 0;
#endif
    })
}

} // extern "C"
