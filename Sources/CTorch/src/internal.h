// Shared by the shim's translation units: the handle type, the error channel and the PROTECT macro.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <exception>
#include <functional>
#include <string>

#include "CTorch.h"

// A handle owns one at::Tensor (a refcounted pointer to the TensorImpl); freeing the handle drops that reference.
struct mr_tensor_s {
    at::Tensor tensor;
};

namespace mr {

void set_last_error(const char *message);

inline const at::Tensor &T(mr_tensor h) {
    if (h == nullptr) throw std::invalid_argument("null tensor handle");
    return h->tensor;
}

inline mr_tensor wrap(at::Tensor t) { return new mr_tensor_s{std::move(t)}; }

inline at::IntArrayRef dims(const int64_t *p, int64_t n) {
    if (n < 0 || (n > 0 && p == nullptr)) throw std::invalid_argument("invalid shape array");
    return at::IntArrayRef(p, static_cast<size_t>(n));
}

inline at::ScalarType scalar_type(int dtype) {
    switch (dtype) {
    case MR_DTYPE_U8: case MR_DTYPE_I8: case MR_DTYPE_I16: case MR_DTYPE_I32: case MR_DTYPE_I64:
    case MR_DTYPE_F16: case MR_DTYPE_F32: case MR_DTYPE_F64: case MR_DTYPE_BOOL: case MR_DTYPE_BF16:
        return static_cast<at::ScalarType>(dtype);
    default:
        throw std::invalid_argument("unsupported dtype code " + std::to_string(dtype));
    }
}

inline std::vector<at::Tensor> tensor_list(const mr_tensor *ts, int64_t n) {
    if (n < 0 || (n > 0 && ts == nullptr)) throw std::invalid_argument("invalid tensor list");
    std::vector<at::Tensor> out;
    out.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out.push_back(T(ts[i]));
    return out;
}

/// The one decoder of the C API's device codes (-1: the CPU, N >= 0: CUDA device N). A CUDA code loads libtorch's
/// CUDA kernels on first use and throws a message naming the cause when this libtorch or machine cannot run it
/// (device.cpp).
at::Device device_of(int code);

/// Which implementation serves an operation. The shim's hand-written kernels (AVX-512 or scalar loops over
/// data_ptr) read host memory, so they serve CPU tensors only; tensors on any other device take libtorch's own
/// kernels for the same operation (scaled-dot-product attention, fused AdamW, ATen's elementwise ops). Every kernel
/// entry asks `route_for` and nothing else in the shim tests a device, so a new device needs no edit elsewhere.
enum class Route { shim_kernels, libtorch };

/// Whether the shim's kernels may serve CPU tensors (default yes). Tests switch it off to run, on a CPU, the
/// libtorch route that CUDA tensors take (device.cpp).
bool shim_kernels_enabled();

template <typename Tensors> Route route_for_all(const Tensors &tensors) {
    if (!shim_kernels_enabled()) return Route::libtorch;
    for (const at::Tensor *t : tensors)
        if (t->defined() && !t->device().is_cpu()) return Route::libtorch;
    return Route::shim_kernels;
}
inline bool shim_kernels_serve(std::initializer_list<const at::Tensor *> tensors) {
    return route_for_all(tensors) == Route::shim_kernels;
}

/// Whether this CPU runs the shim's AVX-512 kernels (checked once).
inline bool cpu_has_avx512() {
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    return avx512;
}

/// Whether autograd would record an op on these tensors (grad mode on and one of them requires a gradient).
template <typename Tensors> bool records_gradient_any(const Tensors &tensors) {
    if (!at::GradMode::is_enabled()) return false;
    for (const at::Tensor *t : tensors)
        if (t->requires_grad()) return true;
    return false;
}
inline bool records_gradient(std::initializer_list<const at::Tensor *> tensors) { return records_gradient_any(tensors); }

/// The dtypes the shim's attention kernels read (bfloat16 widened as it is loaded).
inline bool is_float_or_bf16(const at::Tensor &t) {
    return t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16;
}

/// softmax(q kᵀ · scale + mask) v with grouped-query heads, the decoding kernel where it applies and libtorch's
/// scaled-dot-product attention otherwise (nn.cpp; mr_sdpa's contract).
at::Tensor attention(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, c10::optional<at::Tensor> mask,
                     bool is_causal, double scale);

/// Runs body(begin, end) over contiguous slices of [0, n), one per libtorch intra-op thread (parallel.cpp).
void parallel_over(int64_t n, const std::function<void(int64_t, int64_t)> &body);

} // namespace mr

// Every exported body runs inside PROTECT: C++ exceptions become a nonzero status plus a thread-local message.
#define PROTECT(...)                                                                                                  \
    try {                                                                                                             \
        __VA_ARGS__;                                                                                                  \
        return 0;                                                                                                     \
    } catch (const c10::Error &e) {                                                                                   \
        mr::set_last_error(e.what_without_backtrace());                                                               \
    } catch (const std::exception &e) {                                                                               \
        mr::set_last_error(e.what());                                                                                 \
    } catch (...) {                                                                                                   \
        mr::set_last_error("unknown C++ exception");                                                                  \
    }                                                                                                                 \
    return 1;

// The common one-result shape: `*out = wrap(expr)`.
#define RETURN_TENSOR(out, ...)                                                                                       \
    PROTECT({                                                                                                         \
        if ((out) == nullptr) throw std::invalid_argument("null output pointer");                                     \
        *(out) = mr::wrap(__VA_ARGS__);                                                                                  \
    })
