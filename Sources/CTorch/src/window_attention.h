// Attention of a beacon window step over [memory ; window] in one flash pass (see window_attention.cpp).
#pragma once

#include "decode_attention.h"

namespace mr {

/// `query` [B, H, L, D] attending to every entry of `segments` (concatenated along S) and, causally, to `window`
/// [B, KV, L, D], the step's own keys at the queries' positions (position i sees its first i + 1). Each K/V head is
/// shared by H / KV query heads; `scale` multiplies the scores. Returns nullopt where the kernel does not apply (no
/// AVX-512, not float32, a head size that is not 16, 32, 64 or 128, or autograd wanting a graph): the caller takes
/// the general path. Memory segments in another dtype are widened to float32 first.
c10::optional<at::Tensor> window_attention(const at::Tensor &query, const std::vector<KeyValueSegment> &segments,
                                           const KeyValueSegment &window, double scale);

} // namespace mr
