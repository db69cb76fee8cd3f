// Attention of one decoded token over a long memory or KV cache (see decode_attention.cpp).
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace mr {

/// Keys and values [B, KV, S, D] that every query row sees (no mask).
using KeyValueSegment = std::pair<at::Tensor, at::Tensor>;

/// `query` [B, H, L, D] attending to the concatenation of `segments` along S (every row sees every entry) and, when
/// given, to `causal_window` [B, KV, L, D], the step's own keys at the queries' positions (position i sees its first
/// i + 1); each K/V head is shared by H / KV query heads, and `scale` multiplies the scores. For a few query rows
/// per K/V head (H / KV · L <= 8: decoding, or a decoded token with its interleaved beacon). Returns nullopt where
/// the kernel does not apply (no AVX-512, more rows, several positions without a causal window, an unsupported
/// dtype or head size, a layout without unit stride in D, or autograd wanting a graph): the caller takes the
/// general path.
c10::optional<at::Tensor> decode_attention(const at::Tensor &query, const std::vector<KeyValueSegment> &segments,
                                           const KeyValueSegment *causal_window, double scale);

/// Whether this CPU runs the kernel.
bool decode_attention_supported();

} // namespace mr
