// One-pass float32 kernels for the elementwise parts of a Llama layer (RMSNorm, rotary embedding, SiLU-gated
// product) and their gradients. Each `fused_*` returns nullopt when its kernel does not apply (another dtype, a
// layout it does not take), and the caller runs the composed ATen ops instead.
#pragma once

#include <ATen/ATen.h>

#include "avx512_math.h"

namespace mr {

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
