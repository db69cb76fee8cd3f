// Neural-network functions. Each is a short composition of ATen ops (so autograd works through it) done in one
// Swift→C crossing.
#include "decode_attention.h"
#include "fused_elementwise.h"
#include "internal.h"

#include <torch/version.h>

#include <cmath>

namespace {

at::Tensor causal_mask(int64_t queries, int64_t keys, const at::Device &device) {
    // Query i (of the last `queries` positions) sees keys 0 ... keys - queries + i: aligned at the bottom right.
    return at::ones({queries, keys}, at::TensorOptions().dtype(at::kBool).device(device)).tril(keys - queries);
}

at::Tensor rotate_half(const at::Tensor &x) {
    auto half = x.size(-1) / 2;
    return at::cat({-x.narrow(-1, half, x.size(-1) - half), x.narrow(-1, 0, half)}, -1);
}

} // namespace

at::Tensor mr::attention(const at::Tensor &q, const at::Tensor &k_in, const at::Tensor &v_in,
                     c10::optional<at::Tensor> mask, bool is_causal, double scale) {
    if (q.dim() < 3 || k_in.dim() < 3 || v_in.dim() < 3)
        throw std::invalid_argument("attention needs q, k, v of rank >= 3 ([..., heads, seq, dim])");
    // Grouped-query attention: fewer K/V heads than query heads, each shared by a group of queries.
    at::Tensor k = k_in, v = v_in;
    bool grouped = false;
    int64_t heads = q.size(-3), kv_heads = k.size(-3);
    if (heads != kv_heads) {
        if (kv_heads == 0 || heads % kv_heads != 0 || v.size(-3) != kv_heads)
            throw std::invalid_argument("attention: " + std::to_string(heads) + " query heads cannot share " +
                                        std::to_string(kv_heads) + " key/value heads");
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
        grouped = true;  // SDPA shares the heads itself, without materialising copies
#else
        k = k.repeat_interleave(heads / kv_heads, -3);
        v = v.repeat_interleave(heads / kv_heads, -3);
#endif
    }
    int64_t queries = q.size(-2), keys = k.size(-2);
    if (is_causal && mask) throw std::invalid_argument("attention: give either a mask or is_causal, not both");
    const double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    if (!mask) {
        // One new query (decoding) sees every cached key: the decoding kernel, where it applies.
        if (auto fast = mr::decode_attention(q, {{k_in, v_in}}, nullptr, s)) return *fast;
    }
    if (is_causal && queries == 1) {
        is_causal = false;  // one new query (decoding) sees every cached key: no mask at all
    } else if (is_causal && queries != keys) {
        mask = causal_mask(queries, keys, q.device());
        is_causal = false;
    }
    if (mask && mask->scalar_type() != at::kBool) mask = mask->to(q.scalar_type());
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, s, grouped);
#elif TORCH_VERSION_MAJOR == 2
    (void)grouped;
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, s);
#else
    (void)grouped;
    auto scores = at::matmul(q, k.transpose(-2, -1)) * s;
    if (is_causal) mask = causal_mask(queries, keys, q.device());
    if (mask) {
        if (mask->scalar_type() == at::kBool)
            scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity());
        else
            scores = scores + *mask;
    }
    return at::matmul(at::softmax(scores, -1), v);
#endif
}

extern "C" {

int mr_embedding(mr_tensor *out, mr_tensor weight, mr_tensor indices) {
    RETURN_TENSOR(out, at::embedding(mr::T(weight), mr::T(indices)))
}

int mr_cross_entropy(mr_tensor *out, mr_tensor logits, mr_tensor targets, int64_t ignore_index, int reduction,
                     double label_smoothing) {
    RETURN_TENSOR(out, ([&] {
                      if (reduction < 0 || reduction > 2)
                          throw std::invalid_argument("reduction must be 0 (none), 1 (mean) or 2 (sum)");
                      return at::cross_entropy_loss(mr::T(logits), mr::T(targets), {}, reduction, ignore_index,
                                                    label_smoothing);
                  }()))
}

int mr_sdpa(mr_tensor *out, mr_tensor q, mr_tensor k, mr_tensor v, mr_tensor mask, int is_causal, double scale) {
    RETURN_TENSOR(out, mr::attention(mr::T(q), mr::T(k), mr::T(v),
                                 mask ? c10::optional<at::Tensor>(mr::T(mask)) : c10::optional<at::Tensor>(),
                                 is_causal != 0, scale))
}

int mr_rms_norm(mr_tensor *out, mr_tensor x, mr_tensor weight, double eps) {
    RETURN_TENSOR(out, ([&] {
                      const auto &input = mr::T(x);
                      if (auto fused = mr::fused_rms_norm(input, mr::T(weight), eps)) return *fused;
                      // HF computes in float32 whatever the input dtype; float64 stays float64 (tests, references).
                      auto h = input.to(input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
                      h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps);
                      return mr::T(weight) * h.to(input.scalar_type());
                  }()))
}

int mr_layer_norm(mr_tensor *out, mr_tensor x, mr_tensor weight, mr_tensor bias, double eps) {
    RETURN_TENSOR(out, ([&] {
                      const auto &input = mr::T(x);
                      c10::optional<at::Tensor> w, b;
                      if (weight) w = mr::T(weight);
                      if (bias) b = mr::T(bias);
                      return at::layer_norm(input, {input.size(-1)}, w, b, eps);
                  }()))
}

int mr_rope(mr_tensor *out, mr_tensor x, mr_tensor cos, mr_tensor sin) {
    RETURN_TENSOR(out, ([&] {
                      const auto &input = mr::T(x);
                      if (auto fused = mr::fused_rope(input, mr::T(cos), mr::T(sin))) return *fused;
                      return input * mr::T(cos) + rotate_half(input) * mr::T(sin);
                  }()))
}

int mr_silu_mul(mr_tensor *out, mr_tensor gate, mr_tensor up) {
    RETURN_TENSOR(out, ([&] {
                      const auto &g = mr::T(gate), &u = mr::T(up);
                      if (auto fused = mr::fused_silu_mul(g, u)) return *fused;
                      return at::silu(g) * u;
                  }()))
}

int mr_dropout(mr_tensor *out, mr_tensor x, double p, int train) {
    RETURN_TENSOR(out, at::dropout(mr::T(x), p, train != 0))
}

} // extern "C"
