// Attention of one decoded token over a long memory or KV cache (see decode_attention.cpp).
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace mr {

/// Keys and values [B, KV, S, D] that every query row sees (no mask).
using KeyValueSegment = std::pair<at::Tensor, at::Tensor>;

/// `query` [B, H, 1, D] attending to the concatenation of `segments` along S, each K/V head shared by H / KV query
/// heads; `scale` multiplies the scores. Returns nullopt where the kernel does not apply (no AVX-512, several query
/// positions, an unsupported dtype or head size, a layout without unit stride in D, or autograd wanting a graph),
/// and the caller takes the general path.
c10::optional<at::Tensor> decode_attention(const at::Tensor &query, const std::vector<KeyValueSegment> &segments,
                                           double scale);

/// Whether this CPU runs the kernel.
bool decode_attention_supported();

} // namespace mr
