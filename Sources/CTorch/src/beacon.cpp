// Attention of a beacon window step: the step's queries see every memory entry and, causally, the step's own keys.
// On the CPU: float32 on AVX-512 takes the one-pass kernel of window_attention.cpp; elsewhere two CPU
// flash-attention calls (memory part unmasked, window part causal) merged by their log-sum-exps, which avoids
// building and reading a [step, memory + step] mask in every layer. On other devices (the libtorch route):
// libtorch's scaled-dot-product attention over memory and window concatenated, causal aligned at the bottom right
// (its fused CUDA kernels take that mask themselves). Inference only (no autograd through the log-sum-exp merge):
// training uses mr_sdpa with a mask.
#include "decode_attention.h"
#include "window_attention.h"
#include "internal.h"

#if __has_include(<ATen/ops/_scaled_dot_product_flash_attention_for_cpu.h>)
#include <ATen/ops/_scaled_dot_product_flash_attention_for_cpu.h>
#define MR_HAVE_CPU_FLASH_ATTENTION 1
#endif

#include <cmath>
#include <limits>
#include <tuple>

namespace {

// Attention output [B, H, L, D] and the log-sum-exp of each query's scores [B, H, L] (what the merge needs).
// libtorch 2.2+ has a CPU flash kernel returning both; older ones (Debian's 1.13) get them written out.
std::tuple<at::Tensor, at::Tensor> attention_with_lse(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                                                      bool causal, double scale) {
#ifdef MR_HAVE_CPU_FLASH_ATTENTION
    auto result = at::_scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, c10::nullopt, scale);
    return {std::get<0>(result), std::get<1>(result)};
#else
    auto scores = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)) * scale;
    if (causal) {
        auto above = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).triu(1);
        scores = scores.masked_fill(above, -std::numeric_limits<double>::infinity());
    }
    auto lse = at::logsumexp(scores, -1);
    auto out = at::matmul(at::exp(scores - lse.unsqueeze(-1)), v.to(at::kFloat)).to(q.scalar_type());
    return {out, lse};
#endif
}

} // namespace

extern "C" {

int mr_attention_memory_window(mr_tensor *out, mr_tensor q, const mr_tensor *k_memory, const mr_tensor *v_memory,
                               int64_t memory_segments, mr_tensor k_window, mr_tensor v_window, double scale) {
    RETURN_TENSOR(out, ([&] {
                      const at::Tensor &query = mr::T(q), &kw = mr::T(k_window), &vw = mr::T(v_window);
                      if (query.dim() != 4 || kw.dim() != 4 || vw.dim() != 4)
                          throw std::invalid_argument("attention_memory_window needs [batch, heads, seq, dim] tensors");
                      const int64_t batch = query.size(0), heads = query.size(1), length = query.size(2),
                                    dim = query.size(3), kv_heads = kw.size(1);
                      if (kv_heads == 0 || heads % kv_heads != 0 || kw.size(2) != length || vw.sizes() != kw.sizes())
                          throw std::invalid_argument("attention_memory_window: inconsistent q / window k, v shapes");
                      if (memory_segments < 0 || (memory_segments > 0 && (k_memory == nullptr || v_memory == nullptr)))
                          throw std::invalid_argument("attention_memory_window: memory segment arrays missing");
                      const int64_t groups = heads / kv_heads;
                      const double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(dim));
                      std::vector<mr::KeyValueSegment> segments;
                      for (int64_t i = 0; i < memory_segments; ++i) {
                          const at::Tensor &km = mr::T(k_memory[i]), &vm = mr::T(v_memory[i]);
                          if (km.dim() != 4 || km.size(0) != batch || km.size(1) != kv_heads || km.size(3) != dim ||
                              vm.sizes() != km.sizes())
                              throw std::invalid_argument("attention_memory_window: inconsistent memory k, v shapes");
                          if (km.size(2) > 0) segments.emplace_back(km, vm);
                      }
                      std::vector<const at::Tensor *> all{&query, &kw, &vw};
                      for (const auto &[km, vm] : segments) all.insert(all.end(), {&km, &vm});
                      if (mr::route_for_all(all) == mr::Route::libtorch) {
                          std::vector<at::Tensor> keys, values;
                          for (const auto &[km, vm] : segments) {
                              keys.push_back(km.to(query.scalar_type()));
                              values.push_back(vm.to(query.scalar_type()));
                          }
                          keys.push_back(kw);
                          values.push_back(vw);
                          return mr::attention(query, at::cat(keys, 2), at::cat(values, 2), c10::nullopt, true, s);
                      }
                      // A decoded token (with the beacon interleaved after it): the decoding kernel, where it applies.
                      const mr::KeyValueSegment window{kw, vw};
                      if (auto fast = mr::decode_attention(query, segments, &window, s)) return *fast;
                      if (auto fast = mr::window_attention(query, segments, window, s)) return *fast;
                      // The window part: causal over the step itself (square, so top-left alignment is right).
                      auto kr = groups == 1 ? kw : kw.repeat_interleave(groups, 1);
                      auto vr = groups == 1 ? vw : vw.repeat_interleave(groups, 1);
                      auto [merged, merged_lse] = attention_with_lse(query, kr, vr, length > 1, s);
                      // Each memory segment: no mask, so the query heads sharing a K/V head become extra query rows.
                      // A segment kept in a narrower dtype than the compute one (bfloat16) is widened here.
                      const auto grouped = query.reshape({batch, kv_heads, groups * length, dim});
                      for (const auto &[km, vm] : segments) {
                          auto [part, part_lse] = attention_with_lse(grouped, km.to(query.scalar_type()),
                                                                     vm.to(query.scalar_type()), false, s);
                          part = part.reshape({batch, heads, length, dim});
                          part_lse = part_lse.reshape({batch, heads, length});
                          // Softmax over the union = each part weighted by its share of the total exp-sum.
                          auto lse = at::logaddexp(merged_lse, part_lse);
                          merged = merged * at::exp(merged_lse - lse).unsqueeze(-1).to(query.scalar_type()) +
                                   part * at::exp(part_lse - lse).unsqueeze(-1).to(query.scalar_type());
                          merged_lse = lse;
                      }
                      return merged;
                  }()))
}

int mr_decode_attention_supported(int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = mr::decode_attention_supported() ? 1 : 0;
    })
}

} // extern "C"
