// The language-model head and its cross entropy as one operation, a chunk of rows at a time.
//
// Composed, the loss of a 1,024-token window of a 49,152-word vocabulary makes a 200 MB logits tensor, then its
// log-softmax (200 MB), and the backward pass two more of that size. Buffers that large are fresh mappings every
// time (above glibc's mmap threshold), so besides the memory traffic every page is zero-filled by the kernel: perf
// put kernel time at 8 % of a beacon training step. Here each chunk of rows gets its logits (a buffer small enough
// to be reused), its loss, and at once — while the chunk is at hand — the gradient of the loss with respect to the
// hidden states and, if it is trained, the head's weight: softmax minus the one-hot target, times the weight. The
// backward pass only scales those saved gradients. Same products as the composed path, about a third of the memory
// traffic, and no large buffer at all.
#include "avx512_math.h"
#include "internal.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

// Row r of `logits` [rows, vocab] (float32, contiguous): `losses[r]` = logsumexp(row) − row[target] (0 for an
// ignored target); with `gradient`, the row becomes softmax(row) − onehot(target) (all zeros when ignored).
struct CrossEntropyRows {
    float *logits;
    int64_t vocab;
    const int64_t *targets;
    int64_t ignore_index;
    bool gradient;
    double *losses;
};

// One row as the passes below see it; the target's logit is read before the row is overwritten.
struct CrossEntropyRow {
    float *x;
    int64_t target;
    bool ignored;
    float target_logit;
};

inline CrossEntropyRow cross_entropy_row(const CrossEntropyRows &a, int64_t r) {
    float *x = a.logits + r * a.vocab;
    const int64_t t = a.targets[r];
    const bool ignored = t == a.ignore_index;
    return {x, t, ignored, ignored ? 0.0f : x[t]};
}

// The scalar passes over elements [from, to) of a row: all of it without AVX-512, the tail past the last whole
// vector with it.
float row_max(const float *x, int64_t from, int64_t to, float max) {
    for (int64_t j = from; j < to; ++j) max = std::max(max, x[j]);
    return max;
}

double row_exp_sum(float *x, int64_t from, int64_t to, float max, bool store) {
    double sum = 0;
    for (int64_t j = from; j < to; ++j) {
        const float e = std::exp(x[j] - max);
        sum += e;
        if (store) x[j] = e;
    }
    return sum;
}

void row_scale(float *x, int64_t from, int64_t to, float factor) {
    for (int64_t j = from; j < to; ++j) x[j] *= factor;
}

// Records the row's loss from its max and exp-sum; returns the factor that turns its stored exponentials into
// probabilities (0 for an ignored row, whose gradient is all zeros).
inline float finish_loss(const CrossEntropyRows &a, int64_t r, const CrossEntropyRow &row, float max, double sum) {
    a.losses[r] = row.ignored ? 0.0 : static_cast<double>(max) + std::log(sum) - static_cast<double>(row.target_logit);
    return row.ignored ? 0.0f : static_cast<float>(1.0 / sum);
}

void cross_entropy_rows_scalar(const CrossEntropyRows &a, int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) {
        const CrossEntropyRow row = cross_entropy_row(a, r);
        const float max = row_max(row.x, 0, a.vocab, -std::numeric_limits<float>::infinity());
        const float inverse = finish_loss(a, r, row, max, row_exp_sum(row.x, 0, a.vocab, max, a.gradient));
        if (!a.gradient) continue;
        row_scale(row.x, 0, a.vocab, inverse);
        if (!row.ignored) row.x[row.target] -= 1.0f;
    }
}

__attribute__((target("avx512f"))) void cross_entropy_rows_avx512(const CrossEntropyRows &a, int64_t first,
                                                                   int64_t last) {
    const int64_t vectors = a.vocab / 16 * 16;
    for (int64_t r = first; r < last; ++r) {
        const CrossEntropyRow row = cross_entropy_row(a, r);
        float *x = row.x;
        __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        for (int64_t j = 0; j < vectors; j += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
        const float max = row_max(x, vectors, a.vocab, _mm512_reduce_max_ps(vmax));
        // The row (192 KB for 49,152 words) stays in L2 between these passes.
        const __m512 shift = _mm512_set1_ps(max);
        __m512 vsum = _mm512_setzero_ps();
        for (int64_t j = 0; j < vectors; j += 16) {
            const __m512 e = mr::exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + j), shift));
            vsum = _mm512_add_ps(vsum, e);
            if (a.gradient) _mm512_storeu_ps(x + j, e);
        }
        const double sum = _mm512_reduce_add_ps(vsum) + row_exp_sum(x, vectors, a.vocab, max, a.gradient);
        const float inverse = finish_loss(a, r, row, max, sum);
        if (!a.gradient) continue;
        const __m512 scale = _mm512_set1_ps(inverse);
        for (int64_t j = 0; j < vectors; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), scale));
        row_scale(x, vectors, a.vocab, inverse);
        if (!row.ignored) x[row.target] -= 1.0f;
    }
}

struct LossAndGradients {
    at::Tensor loss, grad_hidden, grad_weight;
};

// The summed loss of hidden [N, D] · weightᵀ [D, V] against targets [N], and the gradients asked for.
LossAndGradients chunked_loss(const at::Tensor &hidden, const at::Tensor &weight, const at::Tensor &targets,
                              int64_t ignore_index, int64_t chunk_rows, bool grad_hidden, bool grad_weight) {
    const int64_t rows = hidden.size(0), vocab = weight.size(0);
    const at::Tensor h = hidden.contiguous(), w = weight.contiguous(), t = targets.contiguous();
    const int64_t *target = t.data_ptr<int64_t>();
    for (int64_t r = 0; r < rows; ++r) {
        if (target[r] != ignore_index && (target[r] < 0 || target[r] >= vocab))
            throw std::invalid_argument("linear_cross_entropy: target " + std::to_string(target[r]) +
                                        " outside the vocabulary (0..<" + std::to_string(vocab) + ")");
    }
    if (chunk_rows <= 0) chunk_rows = std::max<int64_t>(16, (24 << 20) / (4 * std::max<int64_t>(vocab, 1)));
    LossAndGradients out;
    if (grad_hidden) out.grad_hidden = at::empty_like(h);
    // The weight's gradient sums over chunks: kept in float32 whatever the weight's dtype, rounded once at the end.
    if (grad_weight) out.grad_weight = at::zeros(w.sizes(), w.options().dtype(at::kFloat));
    std::vector<double> losses(static_cast<size_t>(rows), 0.0);
    const bool gradient = grad_hidden || grad_weight;
    const bool avx512 = mr::cpu_has_avx512();
    for (int64_t start = 0; start < rows; start += chunk_rows) {
        const int64_t n = std::min(chunk_rows, rows - start);
        const at::Tensor hc = h.narrow(0, start, n);
        at::Tensor logits = at::mm(hc, w.t());
        if (logits.scalar_type() != at::kFloat) logits = logits.to(at::kFloat);
        const CrossEntropyRows args{logits.data_ptr<float>(), vocab, target + start, ignore_index, gradient,
                                    losses.data() + start};
        mr::parallel_over(n, [&](int64_t first, int64_t last) {
            avx512 ? cross_entropy_rows_avx512(args, first, last) : cross_entropy_rows_scalar(args, first, last);
        });
        if (!gradient) continue;
        const at::Tensor g = logits.scalar_type() == h.scalar_type() ? logits : logits.to(h.scalar_type());
        if (grad_hidden) {
            at::Tensor dst = out.grad_hidden.narrow(0, start, n);
            at::mm_out(dst, g, w);
        }
        if (grad_weight) out.grad_weight.addmm_(logits.t(), hc.to(at::kFloat));
    }
    if (grad_weight && w.scalar_type() != at::kFloat) out.grad_weight = out.grad_weight.to(w.scalar_type());
    double total = 0;
    for (double l : losses) total += l;
    out.loss = at::scalar_tensor(total, hidden.options().dtype(at::kFloat));
    return out;
}

struct LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &hidden, const at::Tensor &weight,
                              const at::Tensor &targets, int64_t ignore_index, int64_t chunk_rows) {
        auto result = chunked_loss(hidden, weight, targets, ignore_index, chunk_rows, hidden.requires_grad(),
                                   weight.requires_grad());
        ctx->save_for_backward({result.grad_hidden, result.grad_weight});
        return result.loss;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grad_outputs) {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &scale = grad_outputs[0];
        auto scaled = [&](const at::Tensor &g) {
            return g.defined() ? g * scale.to(g.scalar_type()) : at::Tensor();
        };
        return {scaled(saved[0]), scaled(saved[1]), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

} // namespace

extern "C" {

int mr_linear_cross_entropy(mr_tensor *out, mr_tensor hidden, mr_tensor weight, mr_tensor targets,
                            int64_t ignore_index, int64_t chunk_rows) {
    RETURN_TENSOR(out, ([&] {
                      const at::Tensor &h = mr::T(hidden), &w = mr::T(weight), &t = mr::T(targets);
                      if (h.dim() != 2 || w.dim() != 2 || t.dim() != 1 || h.size(1) != w.size(1) ||
                          t.size(0) != h.size(0))
                          throw std::invalid_argument("linear_cross_entropy needs hidden [N, D], weight [V, D] and "
                                                      "targets [N]");
                      if (t.scalar_type() != at::kLong) throw std::invalid_argument("linear_cross_entropy: targets must be int64");
                      const bool kernel = (h.scalar_type() == at::kFloat || h.scalar_type() == at::kBFloat16) &&
                                          w.scalar_type() == h.scalar_type() && mr::shim_kernels_serve({&h, &w, &t});
                      if (!kernel) {
                          // Other dtypes (float64 in tests) and devices: the composed ops, differentiable as they are.
                          return at::cross_entropy_loss(at::linear(h, w).to(at::kFloat), t, {}, at::Reduction::Sum,
                                                        ignore_index);
                      }
                      if (!mr::records_gradient({&h, &w}))
                          return chunked_loss(h, w, t, ignore_index, chunk_rows, false, false).loss;
                      return LinearCrossEntropy::apply(h, w, t, ignore_index, chunk_rows);
                  }()))
}

} // extern "C"
