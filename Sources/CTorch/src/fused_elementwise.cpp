// One-pass float32 kernels for RMSNorm, the rotary embedding and the SiLU-gated product, and for their gradients
// (fused_autograd.cpp makes them differentiable).
//
// Composed from ATen ops, a Llama layer's RMSNorm is five passes over its input (pow, mean, add, rsqrt-multiply,
// weight-multiply), the rotary embedding five (negate, concatenate, two products, a sum) and the gated product two,
// each writing a fresh buffer. In a 1,152-row memorize window of SmolLM2-135M these elementwise ops took ~9 % of the
// time (perf); each kernel here reads its inputs once and writes its output once, split over libtorch's threads.
#include "fused_elementwise.h"
#include "internal.h"

#include <immintrin.h>

#include <cmath>

// The rotary kernel promises the composed ops' roundings: no multiply-add contraction in this file.
#pragma clang fp contract(off)

namespace {

bool plain_float(const at::Tensor &t) {
    return t.scalar_type() == at::kFloat && mr::shim_kernels_serve({&t}) && !t.is_sparse();
}

// Small inputs run on the calling thread: splitting them costs more than it saves.
void for_rows(int64_t rows, int64_t row_length, const std::function<void(int64_t, int64_t)> &body) {
    if (rows * row_length < (1 << 15)) {
        body(0, rows);
    } else {
        mr::parallel_over(rows, body);
    }
}

// The stride between consecutive rows of `t` seen as [rows, t.size(-1)], if its leading dimensions collapse into
// one evenly strided run (views into a wider product do); -1 otherwise.
int64_t row_stride(const at::Tensor &t) {
    if (t.dim() < 1 || t.stride(-1) != 1) return -1;
    int64_t stride = -1, expected = -1;
    for (int64_t d = t.dim() - 2; d >= 0; --d) {
        if (t.size(d) == 1) continue;
        if (stride < 0) {
            stride = t.stride(d);
        } else if (t.stride(d) != expected) {
            return -1;
        }
        expected = t.stride(d) * t.size(d);
    }
    return stride < 0 ? t.size(-1) : stride;
}

// ---- RMSNorm ----------------------------------------------------------------------------------------------------

struct RMSNormArgs {
    const float *x, *w;
    float *y;
    float *row_scale;  // optional: each row's 1 / sqrt(mean(x²) + eps), for the backward pass
    int64_t n;
    float eps;
};

void rms_norm_rows_scalar(const RMSNormArgs &a, int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
        const float *xr = a.x + r * a.n;
        float *yr = a.y + r * a.n;
        float sum = 0;
        for (int64_t j = 0; j < a.n; ++j) sum += xr[j] * xr[j];
        const float scale = 1.0f / std::sqrt(sum / static_cast<float>(a.n) + a.eps);
        if (a.row_scale) a.row_scale[r] = scale;
        for (int64_t j = 0; j < a.n; ++j) yr[j] = a.w[j] * (xr[j] * scale);
    }
}

__attribute__((target("avx512f"))) void rms_norm_rows_avx512(const RMSNormArgs &a, int64_t first, int64_t last) {
    const int64_t n = a.n, vectors = n / 16 * 16;
    for (int64_t r = first; r < last; ++r) {
        const float *xr = a.x + r * n;
        float *yr = a.y + r * n;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < vectors; j += 16) {
            const __m512 v = _mm512_loadu_ps(xr + j);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(v, v));
        }
        float sum = _mm512_reduce_add_ps(acc);
        for (int64_t j = vectors; j < n; ++j) sum += xr[j] * xr[j];
        const float scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + a.eps);
        if (a.row_scale) a.row_scale[r] = scale;
        const __m512 s = _mm512_set1_ps(scale);
        for (int64_t j = 0; j < vectors; j += 16)
            _mm512_storeu_ps(yr + j, _mm512_mul_ps(_mm512_loadu_ps(a.w + j), _mm512_mul_ps(_mm512_loadu_ps(xr + j), s)));
        for (int64_t j = vectors; j < n; ++j) yr[j] = a.w[j] * (xr[j] * scale);
    }
}

// The input's gradient: with y = w ⊙ x·s and s = (mean(x²) + eps)^-½, dx = s·(g ⊙ w) − x · s³ · mean(g ⊙ w ⊙ x).
struct RMSNormGradArgs {
    const float *grad, *x, *w, *row_scale;
    float *dx;
    int64_t n;
};

void rms_norm_grad_rows_scalar(const RMSNormGradArgs &a, int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
        const float *g = a.grad + r * a.n, *x = a.x + r * a.n;
        float *dx = a.dx + r * a.n;
        float dot = 0;
        for (int64_t j = 0; j < a.n; ++j) dot += g[j] * a.w[j] * x[j];
        const float s = a.row_scale[r], c = s * s * s * dot / static_cast<float>(a.n);
        for (int64_t j = 0; j < a.n; ++j) dx[j] = s * (g[j] * a.w[j]) - x[j] * c;
    }
}

__attribute__((target("avx512f"))) void rms_norm_grad_rows_avx512(const RMSNormGradArgs &a, int64_t first,
                                                                   int64_t last) {
    const int64_t n = a.n, vectors = n / 16 * 16;
    for (int64_t r = first; r < last; ++r) {
        const float *g = a.grad + r * n, *x = a.x + r * n;
        float *dx = a.dx + r * n;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < vectors; j += 16)
            acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(g + j), _mm512_loadu_ps(a.w + j)),
                                  _mm512_loadu_ps(x + j), acc);
        float dot = _mm512_reduce_add_ps(acc);
        for (int64_t j = vectors; j < n; ++j) dot += g[j] * a.w[j] * x[j];
        const float s = a.row_scale[r], c = s * s * s * dot / static_cast<float>(n);
        const __m512 vs = _mm512_set1_ps(s), vc = _mm512_set1_ps(c);
        for (int64_t j = 0; j < vectors; j += 16) {
            const __m512 gw = _mm512_mul_ps(_mm512_loadu_ps(g + j), _mm512_loadu_ps(a.w + j));
            _mm512_storeu_ps(dx + j, _mm512_sub_ps(_mm512_mul_ps(vs, gw), _mm512_mul_ps(_mm512_loadu_ps(x + j), vc)));
        }
        for (int64_t j = vectors; j < n; ++j) dx[j] = s * (g[j] * a.w[j]) - x[j] * c;
    }
}

// ---- rotary embedding -------------------------------------------------------------------------------------------

struct RopeArgs {
    const float *x, *cos, *sin;
    float *out;
    int64_t heads, seq, dim;
    int64_t x_stride[3];  // batch, head, position (the last dimension is contiguous)
    int64_t table_stride;
};

// Row `row` of the [batch, heads, seq] rows: its input, its position's tables and its (contiguous) output.
struct RopeRow {
    const float *x, *cos, *sin;
    float *out;
};

inline RopeRow rope_row(const RopeArgs &a, int64_t row) {
    const int64_t l = row % a.seq, bh = row / a.seq, h = bh % a.heads, b = bh / a.heads;
    return {a.x + b * a.x_stride[0] + h * a.x_stride[1] + l * a.x_stride[2], a.cos + l * a.table_stride,
            a.sin + l * a.table_stride, a.out + row * a.dim};
}

void rope_rows_scalar(const RopeArgs &a, int64_t first, int64_t last) {
    const int64_t half = a.dim / 2;
    for (int64_t row = first; row < last; ++row) {
        const auto [x, c, s, o] = rope_row(a, row);
        for (int64_t j = 0; j < half; ++j) o[j] = x[j] * c[j] - x[j + half] * s[j];
        for (int64_t j = half; j < a.dim; ++j) o[j] = x[j] * c[j] + x[j - half] * s[j];
    }
}

// Needs dim a multiple of 32 (each half whole vectors).
__attribute__((target("avx512f"))) void rope_rows_avx512(const RopeArgs &a, int64_t first, int64_t last) {
    const int64_t half = a.dim / 2;
    for (int64_t row = first; row < last; ++row) {
        const auto [x, c, s, o] = rope_row(a, row);
        for (int64_t j = 0; j < half; j += 16) {
            const __m512 lo = _mm512_loadu_ps(x + j), hi = _mm512_loadu_ps(x + half + j);
            _mm512_storeu_ps(o + j, _mm512_sub_ps(_mm512_mul_ps(lo, _mm512_loadu_ps(c + j)),
                                                  _mm512_mul_ps(hi, _mm512_loadu_ps(s + j))));
            _mm512_storeu_ps(o + half + j, _mm512_add_ps(_mm512_mul_ps(hi, _mm512_loadu_ps(c + half + j)),
                                                         _mm512_mul_ps(lo, _mm512_loadu_ps(s + half + j))));
        }
    }
}

// ---- SiLU-gated product -----------------------------------------------------------------------------------------

struct SiluMulArgs {
    const float *gate, *up;
    float *out;
    int64_t n, gate_stride, up_stride;
};

void silu_mul_rows_scalar(const SiluMulArgs &a, int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
        const float *g = a.gate + r * a.gate_stride, *u = a.up + r * a.up_stride;
        float *o = a.out + r * a.n;
        for (int64_t j = 0; j < a.n; ++j) o[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
    }
}

__attribute__((target("avx512f"))) void silu_mul_rows_avx512(const SiluMulArgs &a, int64_t first, int64_t last) {
    const int64_t vectors = a.n / 16 * 16;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t r = first; r < last; ++r) {
        const float *g = a.gate + r * a.gate_stride, *u = a.up + r * a.up_stride;
        float *o = a.out + r * a.n;
        for (int64_t j = 0; j < vectors; j += 16) {
            const __m512 x = _mm512_loadu_ps(g + j);
            const __m512 silu = _mm512_div_ps(x, _mm512_add_ps(one, mr::exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
            _mm512_storeu_ps(o + j, _mm512_mul_ps(silu, _mm512_loadu_ps(u + j)));
        }
        for (int64_t j = vectors; j < a.n; ++j) o[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
    }
}

// Gradients of o = silu(g) · u: du = do · silu(g), dg = do · u · σ(g) · (1 + g · (1 − σ(g))).
struct SiluMulGradArgs {
    const float *grad, *gate, *up;
    float *d_gate, *d_up;
    int64_t n, gate_stride, up_stride;
};

void silu_mul_grad_rows_scalar(const SiluMulGradArgs &a, int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
        const float *go = a.grad + r * a.n, *g = a.gate + r * a.gate_stride, *u = a.up + r * a.up_stride;
        float *dg = a.d_gate + r * a.n, *du = a.d_up + r * a.n;
        for (int64_t j = 0; j < a.n; ++j) {
            const float sigma = 1.0f / (1.0f + std::exp(-g[j]));
            du[j] = go[j] * (g[j] * sigma);
            dg[j] = go[j] * u[j] * (sigma * (1.0f + g[j] * (1.0f - sigma)));
        }
    }
}

__attribute__((target("avx512f"))) void silu_mul_grad_rows_avx512(const SiluMulGradArgs &a, int64_t first,
                                                                   int64_t last) {
    const int64_t vectors = a.n / 16 * 16;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t r = first; r < last; ++r) {
        const float *go = a.grad + r * a.n, *g = a.gate + r * a.gate_stride, *u = a.up + r * a.up_stride;
        float *dg = a.d_gate + r * a.n, *du = a.d_up + r * a.n;
        for (int64_t j = 0; j < vectors; j += 16) {
            const __m512 x = _mm512_loadu_ps(g + j), o = _mm512_loadu_ps(go + j);
            const __m512 sigma = _mm512_div_ps(one, _mm512_add_ps(one, mr::exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
            _mm512_storeu_ps(du + j, _mm512_mul_ps(o, _mm512_mul_ps(x, sigma)));
            const __m512 slope = _mm512_mul_ps(sigma, _mm512_add_ps(one, _mm512_mul_ps(x, _mm512_sub_ps(one, sigma))));
            _mm512_storeu_ps(dg + j, _mm512_mul_ps(_mm512_mul_ps(o, _mm512_loadu_ps(u + j)), slope));
        }
        for (int64_t j = vectors; j < a.n; ++j) {
            const float sigma = 1.0f / (1.0f + std::exp(-g[j]));
            du[j] = go[j] * (g[j] * sigma);
            dg[j] = go[j] * u[j] * (sigma * (1.0f + g[j] * (1.0f - sigma)));
        }
    }
}

} // namespace

namespace mr {

bool rms_norm_supported(const at::Tensor &x, const at::Tensor &weight) {
    return plain_float(x) && plain_float(weight) && x.dim() >= 1 && weight.dim() == 1 &&
           weight.size(0) == x.size(-1) && weight.is_contiguous();
}

at::Tensor rms_norm_kernel(const at::Tensor &x, const at::Tensor &weight, double eps, at::Tensor *row_scale) {
    const at::Tensor input = x.contiguous();
    at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
    const int64_t n = input.size(-1), rows = n == 0 ? 0 : input.numel() / n;
    if (row_scale) *row_scale = at::empty({rows}, input.options());
    const RMSNormArgs a{input.data_ptr<float>(), weight.data_ptr<float>(), out.data_ptr<float>(),
                        row_scale ? row_scale->data_ptr<float>() : nullptr, n, static_cast<float>(eps)};
    const bool vector = mr::cpu_has_avx512();
    for_rows(rows, n, [&](int64_t first, int64_t last) {
        vector ? rms_norm_rows_avx512(a, first, last) : rms_norm_rows_scalar(a, first, last);
    });
    return out;
}

at::Tensor rms_norm_input_grad_kernel(const at::Tensor &grad, const at::Tensor &x, const at::Tensor &weight,
                                      const at::Tensor &row_scale) {
    const at::Tensor g = grad.contiguous(), input = x.contiguous();
    at::Tensor dx = at::empty_like(input, at::MemoryFormat::Contiguous);
    const int64_t n = input.size(-1), rows = n == 0 ? 0 : input.numel() / n;
    const RMSNormGradArgs a{g.data_ptr<float>(), input.data_ptr<float>(), weight.data_ptr<float>(),
                            row_scale.data_ptr<float>(), dx.data_ptr<float>(), n};
    const bool vector = mr::cpu_has_avx512();
    for_rows(rows, n, [&](int64_t first, int64_t last) {
        vector ? rms_norm_grad_rows_avx512(a, first, last) : rms_norm_grad_rows_scalar(a, first, last);
    });
    return dx;
}

c10::optional<at::Tensor> fused_rms_norm(const at::Tensor &x, const at::Tensor &weight, double eps) {
    if (!rms_norm_supported(x, weight)) return c10::nullopt;
    if (mr::records_gradient({&x, &weight})) return rms_norm_autograd(x, weight, eps);
    return rms_norm_kernel(x, weight, eps, nullptr);
}

bool rope_supported(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    if (!plain_float(x) || !plain_float(cos) || !plain_float(sin)) return false;
    if (x.dim() != 4 || cos.dim() != 2 || sin.sizes() != cos.sizes() || sin.strides() != cos.strides()) return false;
    const int64_t dim = x.size(3);
    return dim % 2 == 0 && cos.size(0) == x.size(2) && cos.size(1) == dim && cos.stride(1) == 1 && x.stride(3) == 1;
}

at::Tensor rope_kernel(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    const int64_t dim = x.size(3), seq = x.size(2);
    at::Tensor out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
    const RopeArgs a{x.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(), out.data_ptr<float>(),
                     x.size(1), seq, dim, {x.stride(0), x.stride(1), x.stride(2)}, cos.stride(0)};
    const bool vector = mr::cpu_has_avx512() && dim % 32 == 0;
    for_rows(x.size(0) * x.size(1) * seq, dim, [&](int64_t first, int64_t last) {
        vector ? rope_rows_avx512(a, first, last) : rope_rows_scalar(a, first, last);
    });
    return out;
}

c10::optional<at::Tensor> fused_rope(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    if (!rope_supported(x, cos, sin)) return c10::nullopt;
    if (mr::records_gradient({&cos, &sin})) return c10::nullopt;  // differentiable tables: the composed ops
    if (mr::records_gradient({&x})) return rope_autograd(x, cos, sin);
    return rope_kernel(x, cos, sin);
}

bool silu_mul_supported(const at::Tensor &gate, const at::Tensor &up) {
    return plain_float(gate) && plain_float(up) && gate.sizes() == up.sizes() && gate.dim() >= 1 &&
           row_stride(gate) >= 0 && row_stride(up) >= 0;
}

at::Tensor silu_mul_kernel(const at::Tensor &gate, const at::Tensor &up) {
    at::Tensor out = at::empty(gate.sizes(), gate.options().memory_format(at::MemoryFormat::Contiguous));
    const int64_t n = gate.size(-1), rows = n == 0 ? 0 : gate.numel() / n;
    const SiluMulArgs a{gate.data_ptr<float>(), up.data_ptr<float>(), out.data_ptr<float>(), n, row_stride(gate),
                        row_stride(up)};
    const bool vector = mr::cpu_has_avx512();
    for_rows(rows, n, [&](int64_t first, int64_t last) {
        vector ? silu_mul_rows_avx512(a, first, last) : silu_mul_rows_scalar(a, first, last);
    });
    return out;
}

std::pair<at::Tensor, at::Tensor> silu_mul_grad_kernel(const at::Tensor &grad, const at::Tensor &gate,
                                                       const at::Tensor &up) {
    const at::Tensor g = grad.contiguous();
    at::Tensor d_gate = at::empty(gate.sizes(), gate.options().memory_format(at::MemoryFormat::Contiguous));
    at::Tensor d_up = at::empty_like(d_gate);
    const int64_t n = gate.size(-1), rows = n == 0 ? 0 : gate.numel() / n;
    const SiluMulGradArgs a{g.data_ptr<float>(), gate.data_ptr<float>(), up.data_ptr<float>(), d_gate.data_ptr<float>(),
                            d_up.data_ptr<float>(), n, row_stride(gate), row_stride(up)};
    const bool vector = mr::cpu_has_avx512();
    for_rows(rows, n, [&](int64_t first, int64_t last) {
        vector ? silu_mul_grad_rows_avx512(a, first, last) : silu_mul_grad_rows_scalar(a, first, last);
    });
    return {d_gate, d_up};
}

c10::optional<at::Tensor> fused_silu_mul(const at::Tensor &gate, const at::Tensor &up) {
    if (!silu_mul_supported(gate, up)) return c10::nullopt;
    if (mr::records_gradient({&gate, &up})) return silu_mul_autograd(gate, up);
    return silu_mul_kernel(gate, up);
}

} // namespace mr
