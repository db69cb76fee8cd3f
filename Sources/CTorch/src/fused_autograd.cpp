// Autograd functions over the fused elementwise kernels, so that training gets them too.
//
// Composed, each of these ops records several nodes whose backward passes make as many more full-size temporaries
// (RMSNorm: pow, mean, add, rsqrt, two products; the rotary embedding: negate, concatenate, two products, a sum).
// Each function here saves what its backward kernel needs and computes the input's gradient in one pass.
#include "fused_elementwise.h"
#include "internal.h"

#include <torch/csrc/autograd/custom_function.h>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct RMSNormFunction : public torch::autograd::Function<RMSNormFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &weight, double eps) {
        at::Tensor row_scale;
        at::Tensor y = mr::rms_norm_kernel(x, weight, eps, &row_scale);
        ctx->save_for_backward({x, weight, row_scale});
        return y;
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &weight = saved[1], &row_scale = saved[2], &grad = grads[0];
        at::Tensor dx, dw;
        if (ctx->needs_input_grad(0)) dx = mr::rms_norm_input_grad_kernel(grad, x, weight, row_scale).view(x.sizes());
        if (ctx->needs_input_grad(1)) {
            // Norm weights train only in full fine-tuning: the composed reduction is fine there.
            const int64_t n = x.size(-1);
            const at::Tensor normalized = x.reshape({-1, n}) * row_scale.unsqueeze(1);
            dw = (grad.reshape({-1, n}) * normalized).sum(0);
        }
        return {dx, dw, at::Tensor()};
    }
};

struct RopeFunction : public torch::autograd::Function<RopeFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
        ctx->save_for_backward({cos, sin});
        return mr::rope_kernel(x, cos, sin);
    }

    // y₁ = x₁c₁ − x₂s₁ and y₂ = x₂c₂ + x₁s₂ give dx₁ = g₁c₁ + g₂s₂ and dx₂ = g₂c₂ − g₁s₁: the same rotation with the
    // sine table's halves swapped and negated (bitwise the composed backward: a negation rounds nothing).
    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &cos = saved[0], &sin = saved[1];
        const int64_t half = sin.size(1) / 2;
        const at::Tensor swapped = at::cat({sin.narrow(1, half, half), sin.narrow(1, 0, half)}, 1).neg_();
        at::Tensor grad = grads[0];
        if (grad.stride(3) != 1) grad = grad.contiguous();
        return {mr::rope_kernel(grad, cos, swapped), at::Tensor(), at::Tensor()};
    }
};

struct SiluMulFunction : public torch::autograd::Function<SiluMulFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &gate, const at::Tensor &up) {
        ctx->save_for_backward({gate, up});
        return mr::silu_mul_kernel(gate, up);
    }

    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        auto [d_gate, d_up] = mr::silu_mul_grad_kernel(grads[0], saved[0], saved[1]);
        return {ctx->needs_input_grad(0) ? d_gate : at::Tensor(), ctx->needs_input_grad(1) ? d_up : at::Tensor()};
    }
};

} // namespace

namespace mr {

at::Tensor rms_norm_autograd(const at::Tensor &x, const at::Tensor &weight, double eps) {
    return RMSNormFunction::apply(x, weight, eps);
}

at::Tensor rope_autograd(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    return RopeFunction::apply(x, cos, sin);
}

at::Tensor silu_mul_autograd(const at::Tensor &gate, const at::Tensor &up) { return SiluMulFunction::apply(gate, up); }

} // namespace mr
