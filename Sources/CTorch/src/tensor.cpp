// Lifecycle, data transfer, creation, library info, threads and RNG.
#include "internal.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

// libgomp, which libtorch loads; declared here because its omp.h is not among the include paths on every setup.
extern "C" void omp_set_num_threads(int);

#include <cstring>
#include <mutex>

namespace {
thread_local std::string last_error;

void write_string(const std::string &s, char *buffer, size_t capacity) {
    if (buffer == nullptr || capacity == 0) throw std::invalid_argument("empty output buffer");
    size_t n = std::min(s.size(), capacity - 1);
    std::memcpy(buffer, s.data(), n);
    buffer[n] = '\0';
}
} // namespace

void mr::set_last_error(const char *message) { last_error = message ? message : ""; }

extern "C" {

const char *mr_last_error(void) { return last_error.c_str(); }

int mr_torch_version(char *buffer, size_t capacity) {
    PROTECT(write_string(std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                             std::to_string(TORCH_VERSION_PATCH),
                         buffer, capacity))
}

int mr_parallel_info(char *buffer, size_t capacity) { PROTECT(write_string(at::get_parallel_info(), buffer, capacity)) }

int mr_set_num_threads(int n) {
    PROTECT({
        if (n < 1) throw std::invalid_argument("thread count must be at least 1, got " + std::to_string(n));
        at::set_num_threads(n);
    })
}

int mr_set_calling_thread_num_threads(int n) {
    PROTECT({
        if (n < 1) throw std::invalid_argument("thread count must be at least 1, got " + std::to_string(n));
        omp_set_num_threads(n);
    })
}

int mr_get_num_threads(int *out) { PROTECT(*out = at::get_num_threads()) }

// Seeds the CPU generator and every visible GPU's (ATen's `manual_seed`), so dropout and sampling on `cuda:N` repeat
// from the recipe's seed as they do on the CPU.
int mr_manual_seed(uint64_t seed) { PROTECT(at::manual_seed(seed)) }

int mr_rng_get_state(mr_tensor *out) {
    RETURN_TENSOR(out, ([] {
                      auto gen = at::detail::getDefaultCPUGenerator();
                      std::lock_guard<std::mutex> lock(gen.mutex());
                      return gen.get_state();
                  }()))
}

int mr_rng_set_state(mr_tensor state) {
    PROTECT({
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(mr::T(state));
    })
}

int mr_noop(mr_tensor *out, mr_tensor a) {
    PROTECT({
        (void)a;
        *out = nullptr;
    })
}

void mr_tensor_free(mr_tensor t) { delete t; }

int mr_tensor_from_data(mr_tensor *out, const void *data, size_t nbytes, const int64_t *shape, int64_t ndim,
                        int dtype, int device) {
    RETURN_TENSOR(out, ([&] {
                      auto t = at::empty(mr::dims(shape, ndim), at::TensorOptions().dtype(mr::scalar_type(dtype)));
                      size_t expected = static_cast<size_t>(t.numel()) * t.element_size();
                      if (nbytes != expected)
                          throw std::invalid_argument("data holds " + std::to_string(nbytes) + " bytes but shape " +
                                                      c10::str(t.sizes()) + " needs " + std::to_string(expected));
                      if (expected > 0) std::memcpy(t.data_ptr(), data, expected);
                      return t.to(mr::device_of(device));
                  }()))
}

int mr_tensor_from_blob(mr_tensor *out, void *data, const int64_t *shape, int64_t ndim, int dtype, void *context,
                        void (*release)(void *context)) {
    RETURN_TENSOR(out, ([&] {
                      if (data == nullptr || release == nullptr) throw std::invalid_argument("null data or release");
                      const auto type = mr::scalar_type(dtype);
                      if (reinterpret_cast<uintptr_t>(data) % c10::elementSize(type) != 0)
                          throw std::invalid_argument("data is not aligned for its dtype");
                      for (const auto d : mr::dims(shape, ndim))
                          if (d < 0) throw std::invalid_argument("negative dimension");
                      return at::from_blob(data, mr::dims(shape, ndim), [release, context](void *) { release(context); },
                                           at::TensorOptions().dtype(type));
                  }()))
}

int mr_tensor_copy_to(mr_tensor t, void *dst, size_t nbytes) {
    PROTECT({
        auto c = mr::T(t).detach().to(at::kCPU).contiguous();
        size_t have = static_cast<size_t>(c.numel()) * c.element_size();
        if (nbytes != have)
            throw std::invalid_argument("destination holds " + std::to_string(nbytes) + " bytes but the tensor has " +
                                        std::to_string(have));
        if (have > 0) std::memcpy(dst, c.data_ptr(), have);
    })
}

int mr_tensor_ndim(mr_tensor t, int64_t *out) { PROTECT(*out = mr::T(t).dim()) }

int mr_tensor_shape(mr_tensor t, int64_t *sizes, int64_t capacity, int64_t *ndim) {
    PROTECT({
        const auto &x = mr::T(t);
        *ndim = x.dim();
        for (int64_t i = 0; i < std::min<int64_t>(capacity, x.dim()); ++i) sizes[i] = x.size(i);
    })
}

int mr_tensor_dtype(mr_tensor t, int *out) { PROTECT(*out = static_cast<int>(mr::T(t).scalar_type())) }

int mr_tensor_numel(mr_tensor t, int64_t *out) { PROTECT(*out = mr::T(t).numel()) }

int mr_tensor_item_double(mr_tensor t, double *out) { PROTECT(*out = mr::T(t).item<double>()) }

int mr_tensor_item_int64(mr_tensor t, int64_t *out) { PROTECT(*out = mr::T(t).item<int64_t>()) }

int mr_tensor_is_contiguous(mr_tensor t, int *out) { PROTECT(*out = mr::T(t).is_contiguous() ? 1 : 0) }

int mr_clone(mr_tensor *out, mr_tensor t) { RETURN_TENSOR(out, mr::T(t).clone()) }

int mr_equal(mr_tensor a, mr_tensor b, int *out) {
    PROTECT({
        const auto &x = mr::T(a), &y = mr::T(b);
        *out = (x.scalar_type() == y.scalar_type() && x.sizes() == y.sizes() && at::equal(x, y)) ? 1 : 0;
    })
}

// ---- creation ----

namespace {
at::TensorOptions options(int dtype, int device) {
    return at::TensorOptions().dtype(mr::scalar_type(dtype)).device(mr::device_of(device));
}
} // namespace

#define FACTORY(name, call)                                                                                           \
    int name(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device) {                            \
        RETURN_TENSOR(out, call(mr::dims(shape, ndim), options(dtype, device)))                                       \
    }
FACTORY(mr_zeros, at::zeros)
FACTORY(mr_ones, at::ones)
FACTORY(mr_empty, at::empty)
#undef FACTORY

// Drawn on the CPU generator, then moved (see the header).
int mr_rand(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device) {
    RETURN_TENSOR(out, at::rand(mr::dims(shape, ndim), options(dtype, MR_DEVICE_CPU)).to(mr::device_of(device)))
}

int mr_randn(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device) {
    RETURN_TENSOR(out, at::randn(mr::dims(shape, ndim), options(dtype, MR_DEVICE_CPU)).to(mr::device_of(device)))
}

int mr_full(mr_tensor *out, const int64_t *shape, int64_t ndim, double value, int dtype, int device) {
    RETURN_TENSOR(out, at::full(mr::dims(shape, ndim), value, options(dtype, device)))
}

int mr_arange(mr_tensor *out, double start, double end, double step, int dtype, int device) {
    RETURN_TENSOR(out, at::arange(start, end, step, options(dtype, device)))
}

int mr_randint(mr_tensor *out, int64_t low, int64_t high, const int64_t *shape, int64_t ndim, int device) {
    RETURN_TENSOR(out, at::randint(low, high, mr::dims(shape, ndim), options(MR_DTYPE_I64, MR_DEVICE_CPU))
                           .to(mr::device_of(device)))
}

int mr_triu(mr_tensor *out, mr_tensor t, int64_t diagonal) { RETURN_TENSOR(out, at::triu(mr::T(t), diagonal)) }

int mr_tril(mr_tensor *out, mr_tensor t, int64_t diagonal) { RETURN_TENSOR(out, at::tril(mr::T(t), diagonal)) }

int mr_to_dtype(mr_tensor *out, mr_tensor t, int dtype) {
    RETURN_TENSOR(out, mr::T(t).to(mr::scalar_type(dtype)))
}

} // extern "C"
