// Autograd, grad mode, and the fused optimiser helpers (one crossing for all parameters).
#include "internal.h"

#include <c10/core/GradMode.h>

#include <cmath>

extern "C" {

int mr_set_requires_grad(mr_tensor t, int requires_grad) {
    PROTECT({
        auto x = mr::T(t);
        x.requires_grad_(requires_grad != 0);
    })
}

int mr_requires_grad(mr_tensor t, int *out) { PROTECT(*out = mr::T(t).requires_grad() ? 1 : 0) }

int mr_backward(mr_tensor t, mr_tensor grad, int retain_graph) {
    PROTECT({
        at::Tensor g;
        if (grad) g = mr::T(grad);
        mr::T(t).backward(g, retain_graph != 0, false);
    })
}

int mr_grad(mr_tensor *out, mr_tensor t) {
    PROTECT({
        const auto &g = mr::T(t).grad();
        *out = g.defined() ? mr::wrap(g) : nullptr;
    })
}

int mr_set_grad(mr_tensor t, mr_tensor grad) {
    PROTECT({
        auto x = mr::T(t);
        x.mutable_grad() = grad ? mr::T(grad) : at::Tensor();
    })
}

int mr_detach(mr_tensor *out, mr_tensor t) { RETURN_TENSOR(out, mr::T(t).detach()) }

int mr_zero_grad(mr_tensor t, int set_to_none) {
    PROTECT({
        auto x = mr::T(t);
        auto &g = x.mutable_grad();
        if (!g.defined()) return 0;
        if (set_to_none) {
            g.reset();
        } else {
            g = g.detach();
            g.zero_();
        }
    })
}

int mr_set_grad_enabled(int enabled, int *previous) {
    PROTECT({
        if (previous) *previous = c10::GradMode::is_enabled() ? 1 : 0;
        c10::GradMode::set_enabled(enabled != 0);
    })
}

int mr_is_grad_enabled(int *out) { PROTECT(*out = c10::GradMode::is_enabled() ? 1 : 0) }

int mr_clip_grad_norm(const mr_tensor *params, int64_t n, double max_norm, double *total_norm) {
    PROTECT({
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> grads;
        for (const auto &p : mr::tensor_list(params, n))
            if (p.grad().defined()) grads.push_back(p.grad());
        if (grads.empty()) {
            *total_norm = 0;
            return 0;
        }
        std::vector<at::Tensor> norms;
        norms.reserve(grads.size());
        for (const auto &g : grads) norms.push_back(at::linalg_vector_norm(g, 2, {}, false, at::kFloat));
        auto norm = at::linalg_vector_norm(at::stack(norms), 2);
        *total_norm = norm.item<double>();
        if (max_norm > 0) {
            // As torch.nn.utils.clip_grad_norm_: always scale by the clamped coefficient (≤ 1).
            auto coef = at::clamp_max(max_norm / (norm + 1e-6), 1.0);
            for (auto &g : grads) g.mul_(coef.to(g.scalar_type()));
        }
    })
}

int mr_adamw_step(const mr_tensor *params, const mr_tensor *exp_avgs, const mr_tensor *exp_avg_sqs, int64_t *steps,
                  int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay) {
    PROTECT({
        at::NoGradGuard no_grad;
        auto ps = mr::tensor_list(params, n), ms = mr::tensor_list(exp_avgs, n), vs = mr::tensor_list(exp_avg_sqs, n);
        for (int64_t i = 0; i < n; ++i) {
            auto &p = ps[i];
            const auto &grad = p.grad();
            if (!grad.defined()) continue;
            auto step = static_cast<double>(++steps[i]);
            // The same sequence of operations as torch.optim.AdamW's single-tensor path, so results agree bitwise.
            p.mul_(1 - lr * weight_decay);
            ms[i].lerp_(grad, 1 - beta1);
            vs[i].mul_(beta2).addcmul_(grad, grad, 1 - beta2);
            double bias_correction1 = 1 - std::pow(beta1, step);
            double bias_correction2 = 1 - std::pow(beta2, step);
            double step_size = lr / bias_correction1;
            double bias_correction2_sqrt = std::sqrt(bias_correction2);
            auto denom = (vs[i].sqrt() / bias_correction2_sqrt).add_(eps);
            p.addcdiv_(ms[i], denom, -step_size);
        }
    })
}

} // extern "C"
