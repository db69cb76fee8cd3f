// Attention of one decoded token over a long memory or KV cache (flash-decoding on the CPU).
//
// Decoding after a beacon memory of ~5K entries per layer reads 235 MB of keys and values per token (SmolLM2-135M,
// fp32), more than the model's int8 weights. libtorch's CPU flash kernel spends this case on GEMMs of one to three
// query rows and splits the work by K/V head only (three items for two threads), which measured 20 ms per token for
// the 30 layers: a third of this VM's memory bandwidth. Here the keys of every K/V head are cut into chunks that
// the threads share; each chunk is read once for its scores and once for its values, with the query rows of the
// head's group kept in registers, and the chunks are merged by their softmax statistics. Inference only.
#include "decode_attention.h"
#include "avx512_math.h"
#include "internal.h"

#include <ATen/core/grad_mode.h>
#include <c10/util/BFloat16.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace {

constexpr int64_t kChunk = 512;   // keys per work item: small enough to spread ~5K keys over the threads
constexpr int64_t kMaxRows = 8;   // query rows per K/V head (the group size): accumulators stay near registers

// A K/V head's keys [first, first + count) of one segment, and where its partial result goes.
struct WorkItem {
    const void *keys, *values;   // the first key and value row
    int64_t key_stride, value_stride;
    int64_t count;
    int64_t head;                // b * KV + h
};

__attribute__((target("avx512f"))) inline __m512 load16(const float *p) { return _mm512_loadu_ps(p); }

__attribute__((target("avx512f"))) inline __m512 load16(const c10::BFloat16 *p) {
    // bfloat16 is the upper half of a float32.
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

// Row `j` of a chunk (NV vectors of 16) into `row`, and a prefetch of row j + 16: the chunk streams from memory,
// and the hardware prefetcher alone left a third of the bandwidth unused.
template <int NV, typename T>
__attribute__((target("avx512f"))) inline void load_row(const T *base, int64_t j, int64_t stride, __m512 (&row)[NV]) {
    for (int v = 0; v < NV; ++v) row[v] = load16(base + j * stride + v * 16);
    for (int byte = 0; byte < NV * 16 * int(sizeof(T)); byte += 64)
        _mm_prefetch(reinterpret_cast<const char *>(base + (j + 16) * stride) + byte, _MM_HINT_T0);
}

// e^x for x <= 0 (scores minus their maximum).
__attribute__((target("avx512f"))) inline __m512 exp_nonpositive(__m512 x) {
    return mr::exp2_nonpositive(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)));
}

// One work item: `rows` query rows (float, pre-scaled, [rows, 16·NV]) against `item.count` keys. Leaves the
// unnormalised output in `out` [rows, 16·NV], each row's score maximum in `row_max` and its sum of e^(s - max) in
// `row_sum`. `scores` holds rows × kChunk floats.
template <int NV, typename T>
__attribute__((target("avx512f"))) void attend_chunk(const float *query, int64_t rows, const WorkItem &item,
                                                     float *scores, float *out, float *row_max, float *row_sum) {
    const T *keys = static_cast<const T *>(item.keys);
    const T *values = static_cast<const T *>(item.values);
    const int64_t count = item.count;
    __m512 q[kMaxRows][NV];
    for (int64_t r = 0; r < rows; ++r)
        for (int v = 0; v < NV; ++v) q[r][v] = _mm512_loadu_ps(query + r * 16 * NV + v * 16);

    for (int64_t j = 0; j < count; ++j) {
        __m512 k[NV];
        load_row(keys, j, item.key_stride, k);
        for (int64_t r = 0; r < rows; ++r) {
            __m512 dot = _mm512_mul_ps(q[r][0], k[0]);
            for (int v = 1; v < NV; ++v) dot = _mm512_fmadd_ps(q[r][v], k[v], dot);
            scores[r * kChunk + j] = _mm512_reduce_add_ps(dot);
        }
    }

    for (int64_t r = 0; r < rows; ++r) {
        float *s = scores + r * kChunk;
        const int64_t whole = count / 16 * 16;
        const __mmask16 tail = static_cast<__mmask16>((1u << (count - whole)) - 1);
        __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        for (int64_t j = 0; j < whole; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + j));
        if (tail) m = _mm512_mask_max_ps(m, tail, m, _mm512_maskz_loadu_ps(tail, s + whole));
        const float maximum = _mm512_reduce_max_ps(m);
        const __m512 mv = _mm512_set1_ps(maximum);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < whole; j += 16) {
            const __m512 p = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(s + j), mv));
            _mm512_storeu_ps(s + j, p);
            sum = _mm512_add_ps(sum, p);
        }
        if (tail) {
            const __m512 p = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + whole), mv));
            _mm512_mask_storeu_ps(s + whole, tail, p);
            sum = _mm512_mask_add_ps(sum, tail, sum, p);
        }
        row_max[r] = maximum;
        row_sum[r] = _mm512_reduce_add_ps(sum);
    }

    __m512 acc[kMaxRows][NV];
    for (int64_t r = 0; r < rows; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
    for (int64_t j = 0; j < count; ++j) {
        __m512 x[NV];
        load_row(values, j, item.value_stride, x);
        for (int64_t r = 0; r < rows; ++r) {
            const __m512 p = _mm512_set1_ps(scores[r * kChunk + j]);
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(p, x[v], acc[r][v]);
        }
    }
    for (int64_t r = 0; r < rows; ++r)
        for (int v = 0; v < NV; ++v) _mm512_storeu_ps(out + r * 16 * NV + v * 16, acc[r][v]);
}

using ChunkKernel = void (*)(const float *, int64_t, const WorkItem &, float *, float *, float *, float *);

template <typename T> ChunkKernel kernel_for(int64_t vectors) {
    switch (vectors) {
    case 1: return attend_chunk<1, T>;
    case 2: return attend_chunk<2, T>;
    case 4: return attend_chunk<4, T>;
    case 8: return attend_chunk<8, T>;
    default: return nullptr;
    }
}

} // namespace

namespace mr {

bool decode_attention_supported() { return cpu_has_avx512(); }

c10::optional<at::Tensor> decode_attention(const at::Tensor &query, const std::vector<KeyValueSegment> &segments,
                                           const KeyValueSegment *causal_window, double scale) {
    if (!decode_attention_supported() || query.dim() != 4 || !is_float_or_bf16(query) || !shim_kernels_serve({&query}) ||
        records_gradient({&query}))
        return c10::nullopt;
    const int64_t batch = query.size(0), heads = query.size(1), length = query.size(2), dim = query.size(3);
    if (length != 1 && causal_window == nullptr) return c10::nullopt;  // several positions need their causal keys
    const at::Tensor &first = segments.empty() ? causal_window->first : segments.front().first;
    if (first.dim() != 4 || !is_float_or_bf16(first)) return c10::nullopt;
    const int64_t kv_heads = first.size(1);
    if (kv_heads == 0 || heads % kv_heads != 0 || dim % 16 != 0) return c10::nullopt;
    const int64_t rows = heads / kv_heads * length;  // row g·L + i: query head h·groups + g at position i
    if (rows > kMaxRows) return c10::nullopt;
    const auto kv_type = first.scalar_type();
    ChunkKernel kernel = kv_type == at::kFloat ? kernel_for<float>(dim / 16) : kernel_for<c10::BFloat16>(dim / 16);
    if (kernel == nullptr) return c10::nullopt;
    // Memory segments share one dtype (the kernel's); the window is widened to float32 below, so any of the two.
    auto usable = [&](const at::Tensor &keys, const at::Tensor &values, bool any_type = false) {
        const bool typed = any_type ? is_float_or_bf16(keys) && is_float_or_bf16(values)
                                    : keys.scalar_type() == kv_type && values.scalar_type() == kv_type;
        return keys.dim() == 4 && keys.sizes() == values.sizes() && keys.size(0) == batch && keys.size(1) == kv_heads &&
               keys.size(3) == dim && typed &&
               keys.stride(3) == 1 && values.stride(3) == 1 && shim_kernels_serve({&keys, &values}) &&
               !records_gradient({&keys, &values});
    };
    if (causal_window &&
        (!usable(causal_window->first, causal_window->second, true) || causal_window->first.size(2) != length))
        return c10::nullopt;
    for (const auto &[keys, values] : segments)
        if (!usable(keys, values)) return c10::nullopt;

    // Work items in head order: every chunk of every memory segment.
    std::vector<WorkItem> items;
    std::vector<int64_t> head_start(batch * kv_heads + 1, 0);
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < kv_heads; ++h) {
            head_start[b * kv_heads + h] = static_cast<int64_t>(items.size());
            for (const auto &[keys, values] : segments) {
                const int64_t element = keys.element_size();
                const auto *k = static_cast<const char *>(keys.data_ptr()) +
                                (b * keys.stride(0) + h * keys.stride(1)) * element;
                const auto *v = static_cast<const char *>(values.data_ptr()) +
                                (b * values.stride(0) + h * values.stride(1)) * element;
                for (int64_t start = 0; start < keys.size(2); start += kChunk)
                    items.push_back({k + start * keys.stride(2) * element, v + start * values.stride(2) * element,
                                     keys.stride(2), values.stride(2), std::min(kChunk, keys.size(2) - start),
                                     b * kv_heads + h});
            }
        }
    head_start[batch * kv_heads] = static_cast<int64_t>(items.size());
    if (items.empty() && causal_window == nullptr) return c10::nullopt;

    // The query rows of each K/V head, as float and pre-scaled: [B·KV, rows, D].
    const at::Tensor scaled = (query.to(at::kFloat) * scale).reshape({batch * kv_heads, rows, dim}).contiguous();
    const float *q = scaled.data_ptr<float>();
    const int64_t n = static_cast<int64_t>(items.size());
    std::vector<float> partial(n * rows * dim), maxima(n * rows), sums(n * rows);
    if (n > 0)
        mr::parallel_over(n, [&](int64_t begin, int64_t end) {
            thread_local std::vector<float> scores;
            scores.resize(kMaxRows * kChunk);
            for (int64_t i = begin; i < end; ++i)
                kernel(q + items[i].head * rows * dim, rows, items[i], scores.data(), &partial[i * rows * dim],
                       &maxima[i * rows], &sums[i * rows]);
        });

    // The step's own keys (at most kMaxRows of them), as float [B·KV, L, D]: row g·L + i sees keys 0 ... i.
    at::Tensor window_keys, window_values;
    const float *window_key_data = nullptr, *window_value_data = nullptr;
    if (causal_window) {
        window_keys = causal_window->first.to(at::kFloat).reshape({batch * kv_heads, length, dim}).contiguous();
        window_values = causal_window->second.to(at::kFloat).reshape({batch * kv_heads, length, dim}).contiguous();
        window_key_data = window_keys.data_ptr<float>();
        window_value_data = window_values.data_ptr<float>();
    }

    // Merge per head and row: out = (Σ_c e^(m_c - m) o_c + Σ_j e^(s_j - m) v_j) / (Σ_c e^(m_c - m) l_c + Σ_j e^(s_j - m)).
    at::Tensor out = at::zeros({batch * kv_heads, rows, dim}, at::TensorOptions().dtype(at::kFloat));
    float *o = out.data_ptr<float>();
    for (int64_t bh = 0; bh < batch * kv_heads; ++bh) {
        const int64_t begin = head_start[bh], end = head_start[bh + 1];
        float *target = o + bh * rows * dim;
        for (int64_t r = 0; r < rows; ++r) {
            const float *query_row = q + (bh * rows + r) * dim;
            float window_scores[kMaxRows];
            const int64_t seen = causal_window ? r % length + 1 : 0;
            float maximum = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < seen; ++j) {
                const float *key = window_key_data + (bh * length + j) * dim;
                float dot = 0;
                for (int64_t d = 0; d < dim; ++d) dot += query_row[d] * key[d];
                window_scores[j] = dot;
                maximum = std::max(maximum, dot);
            }
            for (int64_t i = begin; i < end; ++i) maximum = std::max(maximum, maxima[i * rows + r]);
            float total = 0;
            float *row_out = target + r * dim;
            for (int64_t i = begin; i < end; ++i) {
                const float weight = std::exp(maxima[i * rows + r] - maximum);
                total += weight * sums[i * rows + r];
                const float *chunk = &partial[(i * rows + r) * dim];
                for (int64_t d = 0; d < dim; ++d) row_out[d] += weight * chunk[d];
            }
            for (int64_t j = 0; j < seen; ++j) {
                const float weight = std::exp(window_scores[j] - maximum);
                total += weight;
                const float *value = window_value_data + (bh * length + j) * dim;
                for (int64_t d = 0; d < dim; ++d) row_out[d] += weight * value[d];
            }
            for (int64_t d = 0; d < dim; ++d) row_out[d] /= total;
        }
    }
    return out.reshape({batch, heads, length, dim}).to(query.scalar_type());
}

} // namespace mr
