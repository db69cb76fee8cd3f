// The gradient norm and AdamW: one crossing for all parameters, and AdamW as one pass over memory.
//
// A training step of SmolLM2-135M moves 135M parameters through the optimiser. torch.optim.AdamW's single-tensor
// path is eight elementwise ops per parameter, each a full pass over one to three 540 MB buffers (plus the passes
// that scale the gradients for the token mean and for clipping): ~15 GB of memory traffic per step on a machine
// that streams ~20 GB/s. The fused kernel here reads parameter, gradient and both moments once and writes the three
// updated ones once, with the gradient's scale (token mean × clipping coefficient) folded in. Parameters the shim's
// kernels do not serve (on a GPU) take libtorch's own fused AdamW, the kernel behind torch.optim.AdamW(fused=True).
#include "internal.h"

#include <ATen/ops/_fused_adamw.h>

#include <ATen/core/grad_mode.h>
#include <c10/util/BFloat16.h>

#include <immintrin.h>

#include <cmath>
#include <map>
#include <tuple>
#include <vector>

namespace {

// The per-parameter constants of one step.
struct AdamWConstants {
    float grad_scale, decay, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps, step_size;
};

// Pointers to one parameter's four buffers (all of the parameter's dtype, contiguous).
struct AdamWBuffers {
    void *param, *exp_avg, *exp_avg_sq;
    const void *grad;
    AdamWConstants c;
};

inline float to_float(float x) { return x; }
inline float to_float(c10::BFloat16 x) { return static_cast<float>(x); }
template <typename T> inline T from_float(float x) { return static_cast<T>(x); }

// The update of elements [begin, end), in the order of torch's single-tensor AdamW (computed in float32; bfloat16
// buffers are rounded once per update rather than after every op).
template <typename T> void adamw_scalar(const AdamWBuffers &b, int64_t begin, int64_t end) {
    auto *p = static_cast<T *>(b.param), *m = static_cast<T *>(b.exp_avg), *v = static_cast<T *>(b.exp_avg_sq);
    const auto *g = static_cast<const T *>(b.grad);
    const AdamWConstants &c = b.c;
    for (int64_t i = begin; i < end; ++i) {
        const float grad = to_float(g[i]) * c.grad_scale;
        float param = to_float(p[i]) * c.decay;
        float avg = to_float(m[i]);
        avg = avg + c.one_minus_beta1 * (grad - avg);  // lerp(avg, grad, 1 - beta1)
        const float avg_sq = to_float(v[i]) * c.beta2 + c.one_minus_beta2 * grad * grad;
        const float denom = std::sqrt(avg_sq) / c.bias_correction2_sqrt + c.eps;
        param = param - c.step_size * (avg / denom);
        p[i] = from_float<T>(param);
        m[i] = from_float<T>(avg);
        v[i] = from_float<T>(avg_sq);
    }
}

__attribute__((target("avx512f"))) inline __m512 load16(const float *p) { return _mm512_loadu_ps(p); }
__attribute__((target("avx512f"))) inline __m512 load16(const c10::BFloat16 *p) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}
__attribute__((target("avx512f"))) inline void store16(float *p, __m512 x) { _mm512_storeu_ps(p, x); }
// Round to nearest even, as c10::BFloat16's constructor; NaN stays a quiet NaN.
__attribute__((target("avx512f"))) inline void store16(c10::BFloat16 *p, __m512 x) {
    __m512i bits = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    bits = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb)), 16);
    bits = _mm512_mask_mov_epi32(bits, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi32_epi16(bits));
}

template <typename T> __attribute__((target("avx512f"))) void adamw_avx512(const AdamWBuffers &b, int64_t begin, int64_t end) {
    auto *p = static_cast<T *>(b.param), *m = static_cast<T *>(b.exp_avg), *v = static_cast<T *>(b.exp_avg_sq);
    const auto *g = static_cast<const T *>(b.grad);
    const AdamWConstants &c = b.c;
    const __m512 grad_scale = _mm512_set1_ps(c.grad_scale), decay = _mm512_set1_ps(c.decay),
                 one_minus_beta1 = _mm512_set1_ps(c.one_minus_beta1), beta2 = _mm512_set1_ps(c.beta2),
                 one_minus_beta2 = _mm512_set1_ps(c.one_minus_beta2),
                 bias_correction2_sqrt = _mm512_set1_ps(c.bias_correction2_sqrt), eps = _mm512_set1_ps(c.eps),
                 step_size = _mm512_set1_ps(c.step_size);
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        const __m512 grad = _mm512_mul_ps(load16(g + i), grad_scale);
        const __m512 param = _mm512_mul_ps(load16(p + i), decay);
        __m512 avg = load16(m + i);
        avg = _mm512_add_ps(avg, _mm512_mul_ps(one_minus_beta1, _mm512_sub_ps(grad, avg)));
        const __m512 avg_sq = _mm512_add_ps(_mm512_mul_ps(load16(v + i), beta2),
                                            _mm512_mul_ps(_mm512_mul_ps(one_minus_beta2, grad), grad));
        const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(avg_sq), bias_correction2_sqrt), eps);
        store16(p + i, _mm512_sub_ps(param, _mm512_mul_ps(step_size, _mm512_div_ps(avg, denom))));
        store16(m + i, avg);
        store16(v + i, avg_sq);
    }
    adamw_scalar<T>(b, i, end);
}

void adamw_range(const AdamWBuffers &b, at::ScalarType dtype, int64_t begin, int64_t end) {
    const bool avx512 = mr::cpu_has_avx512();
    if (dtype == at::kFloat) {
        avx512 ? adamw_avx512<float>(b, begin, end) : adamw_scalar<float>(b, begin, end);
    } else {
        avx512 ? adamw_avx512<c10::BFloat16>(b, begin, end) : adamw_scalar<c10::BFloat16>(b, begin, end);
    }
}

// torch's single-tensor AdamW as composed ops, for dtypes the kernel does not take (float16, float64).
void adamw_composed(at::Tensor &p, at::Tensor &m, at::Tensor &v, at::Tensor grad, const AdamWConstants &c) {
    at::NoGradGuard no_grad;
    if (c.grad_scale != 1.0f) grad = grad * c.grad_scale;
    p.mul_(c.decay);
    m.lerp_(grad, c.one_minus_beta1);
    v.mul_(c.beta2).addcmul_(grad, grad, c.one_minus_beta2);
    auto denom = (v.sqrt() / c.bias_correction2_sqrt).add_(c.eps);
    p.addcdiv_(m, denom, -c.step_size);
}

// The libtorch route: parameters of one device and dtype, stepped by one call of libtorch's fused AdamW.
struct FusedGroup {
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
};

void add_to_group(FusedGroup &g, const at::Tensor &p, const at::Tensor &grad, const at::Tensor &m, const at::Tensor &v,
                  double step, double grad_scale) {
    g.params.push_back(p);
    // The op would unscale a gradient in place given its grad_scale (and divides by it): scale into a copy instead.
    g.grads.push_back(grad_scale == 1.0 ? grad : grad * grad_scale);
    g.exp_avgs.push_back(m);
    g.exp_avg_sqs.push_back(v);
    // The op reads the step count already incremented, as a float tensor beside the parameter.
    g.steps.push_back(at::scalar_tensor(step, p.options().dtype(at::kFloat)));
}

} // namespace

extern "C" {

int mr_grad_norm(const mr_tensor *params, int64_t n, double *total_norm) {
    PROTECT({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> norms;
        for (const auto &p : mr::tensor_list(params, n))
            if (p.grad().defined()) norms.push_back(at::linalg_vector_norm(p.grad(), 2, {}, false, at::kFloat));
        *total_norm = norms.empty() ? 0.0 : at::linalg_vector_norm(at::stack(norms), 2).item<double>();
    })
}

int mr_adamw_step(const mr_tensor *params, const mr_tensor *exp_avgs, const mr_tensor *exp_avg_sqs, int64_t *steps,
                  int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay,
                  double grad_scale) {
    PROTECT({
        auto ps = mr::tensor_list(params, n), ms = mr::tensor_list(exp_avgs, n), vs = mr::tensor_list(exp_avg_sqs, n);
        if (n > 0 && steps == nullptr) throw std::invalid_argument("adamw: null step counts");
        // Everything is checked before anything is updated, so a refused step leaves no parameter half-stepped.
        for (int64_t i = 0; i < n; ++i) {
            const at::Tensor &p = ps[i];
            if (!p.grad().defined()) continue;
            const auto &grad = p.grad();
            for (const at::Tensor *t : std::initializer_list<const at::Tensor *>{&grad, &ms[i], &vs[i]}) {
                if (t->sizes() != p.sizes() || t->scalar_type() != p.scalar_type())
                    throw std::invalid_argument("adamw: parameter " + std::to_string(i) +
                                                " has a gradient or moments of another shape or dtype");
            }
        }
        std::vector<AdamWBuffers> fused;
        std::vector<at::ScalarType> dtypes;
        std::vector<at::Tensor> grads;  // keeps contiguous copies alive
        std::map<std::tuple<at::DeviceType, c10::DeviceIndex, at::ScalarType>, FusedGroup> libtorch_groups;
        for (int64_t i = 0; i < n; ++i) {
            at::Tensor &p = ps[i];
            if (!p.grad().defined()) continue;
            at::Tensor grad = p.grad();
            const double step = static_cast<double>(++steps[i]);
            const AdamWConstants c{static_cast<float>(grad_scale),
                                   static_cast<float>(1 - lr * weight_decay),
                                   static_cast<float>(1 - beta1),
                                   static_cast<float>(beta2),
                                   static_cast<float>(1 - beta2),
                                   static_cast<float>(std::sqrt(1 - std::pow(beta2, step))),
                                   static_cast<float>(eps),
                                   static_cast<float>(lr / (1 - std::pow(beta1, step)))};
            const auto dtype = p.scalar_type();
            const bool float_type = dtype == at::kFloat || dtype == at::kBFloat16;
            if (mr::route_for_all(std::initializer_list<const at::Tensor *>{&p, &grad, &ms[i], &vs[i]}) ==
                mr::Route::libtorch) {
                if (float_type || dtype == at::kHalf) {
                    auto &group = libtorch_groups[{p.device().type(), p.device().index(), dtype}];
                    add_to_group(group, p, grad, ms[i], vs[i], step, grad_scale);
                } else {
                    adamw_composed(p, ms[i], vs[i], grad, c);
                }
                continue;
            }
            const bool kernel = float_type && p.is_contiguous() && ms[i].is_contiguous() && vs[i].is_contiguous();
            if (!kernel) {
                adamw_composed(p, ms[i], vs[i], grad, c);
                continue;
            }
            grads.push_back(grad.contiguous());
            fused.push_back({p.data_ptr(), ms[i].data_ptr(), vs[i].data_ptr(), grads.back().data_ptr(), c});
            dtypes.push_back(dtype);
            for (auto *t : {&p, &ms[i], &vs[i]}) t->unsafeGetTensorImpl()->bump_version();
        }
        for (auto &[key, g] : libtorch_groups) {
            at::NoGradGuard no_grad;
            at::_fused_adamw_(g.params, g.grads, g.exp_avgs, g.exp_avg_sqs, {}, g.steps, lr, beta1, beta2, weight_decay,
                              eps, false, false);
        }
        // Work items of at most kSlice elements, so that the threads share the large parameters evenly.
        constexpr int64_t kSlice = 1 << 15;
        struct Slice { size_t buffer; int64_t begin, end; };
        std::vector<Slice> slices;
        for (size_t k = 0; k < fused.size(); ++k) {
            const int64_t numel = grads[k].numel();
            for (int64_t begin = 0; begin < numel; begin += kSlice)
                slices.push_back({k, begin, std::min(numel, begin + kSlice)});
        }
        if (slices.empty()) return 0;
        mr::parallel_over(static_cast<int64_t>(slices.size()), [&](int64_t first, int64_t last) {
            for (int64_t s = first; s < last; ++s)
                adamw_range(fused[slices[s].buffer], dtypes[slices[s].buffer], slices[s].begin, slices[s].end);
        });
    })
}

} // extern "C"
