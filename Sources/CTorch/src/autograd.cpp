// Autograd and grad mode.
#include "internal.h"

#include <c10/core/GradMode.h>


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

} // extern "C"
