// One-pass float32 kernels for the elementwise parts of a Llama layer (RMSNorm, rotary embedding, SiLU-gated
// product) and their gradients. Each `fused_*` returns nullopt when its kernel does not apply (another dtype, a
// layout it does not take), and the caller runs the composed ATen ops instead.
#pragma once

#include <ATen/ATen.h>

#include <immintrin.h>

namespace mr {

// e^x to about 1 ulp (Cephes' expf polynomial on x - n·ln 2, scaled by 2^n), for SiLU and softmax. Inputs below
// -87 give e^-87 (~1e-38) rather than a denormal or zero: both only add it to 1 or to a sum of at least 1, where it
// rounds away.
__attribute__((target("avx512f"))) inline __m512 exp_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.5f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

/// HF RMSNorm, `weight * (x * rsqrt(mean(x²) + eps))`, over the last dimension; differentiable (fused_autograd.cpp).
c10::optional<at::Tensor> fused_rms_norm(const at::Tensor &x, const at::Tensor &weight, double eps);

/// `x * cos + rotate_half(x) * sin` for x [batch, heads, seq, dim] (any strides but a unit last one) and tables
/// [seq, dim]; the result is contiguous. Bitwise equal to the composed ops (same three roundings per element), and
/// so is its gradient. Differentiable in x (tables that need a gradient take the composed ops).
c10::optional<at::Tensor> fused_rope(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin);

/// `silu(gate) * up` for gate, up [..., n] with unit last strides (views into one wider product are fine);
/// differentiable.
c10::optional<at::Tensor> fused_silu_mul(const at::Tensor &gate, const at::Tensor &up);

// The kernels themselves, for inputs their `*_supported` accepts (fused_elementwise.cpp).
bool rms_norm_supported(const at::Tensor &x, const at::Tensor &weight);
/// With `row_scale`, also each row's 1 / sqrt(mean(x²) + eps) (float32 [rows]).
at::Tensor rms_norm_kernel(const at::Tensor &x, const at::Tensor &weight, double eps, at::Tensor *row_scale);
at::Tensor rms_norm_input_grad_kernel(const at::Tensor &grad, const at::Tensor &x, const at::Tensor &weight,
                                      const at::Tensor &row_scale);
bool rope_supported(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin);
at::Tensor rope_kernel(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin);
bool silu_mul_supported(const at::Tensor &gate, const at::Tensor &up);
at::Tensor silu_mul_kernel(const at::Tensor &gate, const at::Tensor &up);
/// (d gate, d up), contiguous.
std::pair<at::Tensor, at::Tensor> silu_mul_grad_kernel(const at::Tensor &grad, const at::Tensor &gate,
                                                       const at::Tensor &up);

// The same as autograd functions (fused_autograd.cpp), for inputs that record a gradient.
at::Tensor rms_norm_autograd(const at::Tensor &x, const at::Tensor &weight, double eps);
at::Tensor rope_autograd(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin);
at::Tensor silu_mul_autograd(const at::Tensor &gate, const at::Tensor &up);

} // namespace mr
