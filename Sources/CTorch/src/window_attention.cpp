// Attention of a beacon window step over [memory ; window] in one flash pass: float32 on AVX-512.
//
// From 32K tokens on, the memory's attention is half of a memorizing window step and more. libtorch's CPU flash
// kernel runs it at ~220 GFLOP/s on this 2-core Sapphire Rapids VM, whose sgemm reaches 330: MKL packs K and V again
// for every block, and the softmax makes separate passes over 256 × 512 scores. Here
// - the scores of 48 query rows (three vectors) against 8 keys are made in 24 registers, the keys read where they lie
//   (row-major, one broadcast per key and dimension) against the query block transposed once;
// - they are kept key-major, so the online softmax works element-wise on vectors of 16 query rows (no horizontal
//   reductions) over a block of scores that stays in L1;
// - the weighted values accumulate in registers for a few rows × the head size, probabilities broadcast;
// - the window's own keys go through the same loop with the causal mask by position (blocks past every row's
//   position are skipped), so one softmax covers both parts and nothing is merged afterwards.
// Query heads that share a K/V head are extra query rows: row g·L + i is head h·groups + g at position i.
// Inference only.
#include "window_attention.h"
#include "avx512_math.h"
#include "internal.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

namespace {

using mr::KeyValueSegment;

constexpr int kRows = 48;          // query rows per block: three vectors
constexpr int kTile = 8;           // keys per score tile: 8 × 3 accumulators
constexpr int64_t kKeyBlock = 128; // keys per softmax step: a block's scores (24 KB) stay in L1
constexpr int kBlocksPerItem = 4;  // query blocks that share each key block while it is in L2
// The score of a masked entry: below any real one, yet finite, so differences to it never make a NaN.
constexpr float kMasked = -0.5f * std::numeric_limits<float>::max();

// One stretch of keys and values of a K/V head, rows of D floats: a memory segment, or (causal) the window.
struct KeyRange {
    const float *keys, *values;
    int64_t count;
    bool causal;
};

// The state of one block of query rows through the pass.
template <int D> struct alignas(64) QueryBlock {
    float transposed[D * kRows];   // [D][48]: the rows' queries, scaled into log2 units
    float out[kRows * D];          // unnormalised output rows
    float row_max[kRows], row_sum[kRows];
    int32_t positions[kRows];      // window position of each row (padding rows: past every key)
    int64_t first_row;             // of the K/V head's grouped rows
    int32_t min_position, max_position;
};

struct alignas(64) ScoreBlock {
    float scores[kKeyBlock * kRows];  // [key][48]
};

// Scores of the block's rows against keys k[0 .. NK) into scores[t][48]; with `mask`, entries whose key position
// (key_position + t) is past the row's become kMasked. Raises `maximum` to each row's largest score.
template <int D, int NK>
__attribute__((target("avx512f"))) void score_tile(const float *transposed, const float *k, float *scores, bool mask,
                                                   const __m512i *row_positions, int64_t key_position,
                                                   __m512 *maximum) {
    __m512 acc[NK][3];
    for (int t = 0; t < NK; ++t)
        for (int v = 0; v < 3; ++v) acc[t][v] = _mm512_setzero_ps();
#pragma clang loop unroll_count(4)
    for (int d = 0; d < D; ++d) {
        const __m512 q0 = _mm512_load_ps(transposed + d * kRows), q1 = _mm512_load_ps(transposed + d * kRows + 16),
                     q2 = _mm512_load_ps(transposed + d * kRows + 32);
        for (int t = 0; t < NK; ++t) {
            const __m512 key = _mm512_set1_ps(k[t * D + d]);
            acc[t][0] = _mm512_fmadd_ps(q0, key, acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(q1, key, acc[t][1]);
            acc[t][2] = _mm512_fmadd_ps(q2, key, acc[t][2]);
        }
    }
    const __m512 masked = _mm512_set1_ps(kMasked);
    for (int t = 0; t < NK; ++t)
        for (int v = 0; v < 3; ++v) {
            __m512 s = acc[t][v];
            if (mask) {
                const __m512i key = _mm512_set1_epi32(static_cast<int32_t>(key_position + t));
                s = _mm512_mask_mov_ps(s, _mm512_cmplt_epi32_mask(row_positions[v], key), masked);
            }
            _mm512_store_ps(scores + t * kRows + v * 16, s);
            maximum[v] = _mm512_max_ps(maximum[v], s);
        }
}

template <int D>
void score_tail(int n, const float *transposed, const float *k, float *scores, bool mask, const __m512i *positions,
                int64_t key_position, __m512 *maximum) {
    switch (n) {
#define MR_TAIL(N)                                                                                                    \
    case N: score_tile<D, N>(transposed, k, scores, mask, positions, key_position, maximum); break;
        MR_TAIL(1) MR_TAIL(2) MR_TAIL(3) MR_TAIL(4) MR_TAIL(5) MR_TAIL(6) MR_TAIL(7)
#undef MR_TAIL
    default: break;
    }
}

// One online-softmax step over `count` keys: scores become e^(s - new max) in place, each row's running maximum
// and sum advance, and the output rows are rescaled where the maximum grew.
template <int D>
__attribute__((target("avx512f"))) void softmax_step(QueryBlock<D> &block, float *scores, int64_t count,
                                                     const __m512 *block_max) {
    __m512 maximum[3], sum[3];
    alignas(64) float rescale[kRows];
    bool grew = false;
    for (int v = 0; v < 3; ++v) {
        const __m512 old = _mm512_load_ps(block.row_max + v * 16);
        maximum[v] = _mm512_max_ps(old, block_max[v]);
        grew |= _mm512_cmp_ps_mask(maximum[v], old, _CMP_GT_OQ) != 0;
        const __m512 alpha = mr::exp2_nonpositive(_mm512_sub_ps(old, maximum[v]));
        _mm512_store_ps(rescale + v * 16, alpha);
        _mm512_store_ps(block.row_max + v * 16, maximum[v]);
        sum[v] = _mm512_mul_ps(_mm512_load_ps(block.row_sum + v * 16), alpha);
    }
    for (int64_t j = 0; j < count; ++j)
        for (int v = 0; v < 3; ++v) {
            float *s = scores + j * kRows + v * 16;
            const __m512 p = mr::exp2_nonpositive(_mm512_sub_ps(_mm512_load_ps(s), maximum[v]));
            _mm512_store_ps(s, p);
            sum[v] = _mm512_add_ps(sum[v], p);
        }
    for (int v = 0; v < 3; ++v) _mm512_store_ps(block.row_sum + v * 16, sum[v]);
    if (!grew) return;
    for (int r = 0; r < kRows; ++r) {
        const __m512 alpha = _mm512_set1_ps(rescale[r]);
        for (int d = 0; d < D; d += 16)
            _mm512_store_ps(block.out + r * D + d, _mm512_mul_ps(alpha, _mm512_load_ps(block.out + r * D + d)));
    }
}

// out[r] += Σ_j p[j][r] · values[j] for R rows (p key-major with row stride kRows), NV vectors of 16 per row.
template <int NV, int R>
__attribute__((target("avx512f"))) void accumulate_values(const float *p, const float *values, int64_t count,
                                                          float *out) {
    __m512 acc[R][NV];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_load_ps(out + (r * NV + v) * 16);
    for (int64_t j = 0; j < count; ++j) {
        __m512 x[NV];
        for (int v = 0; v < NV; ++v) x[v] = _mm512_loadu_ps(values + (j * NV + v) * 16);
        for (int r = 0; r < R; ++r) {
            const __m512 weight = _mm512_set1_ps(p[j * kRows + r]);
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(weight, x[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) _mm512_store_ps(out + (r * NV + v) * 16, acc[r][v]);
}

// Keys [first, first + count) of `range` for one query block: scores, softmax step, values.
template <int D>
__attribute__((target("avx512f"))) void attend_keys(QueryBlock<D> &block, const KeyRange &range, int64_t first,
                                                    int64_t count, float *scores) {
    bool mask = false;
    if (range.causal) {
        if (first > block.max_position) return;  // past every row's position
        mask = first + count - 1 > block.min_position;
    }
    const __m512i positions[3] = {_mm512_load_si512(block.positions), _mm512_load_si512(block.positions + 16),
                                  _mm512_load_si512(block.positions + 32)};
    __m512 maximum[3] = {_mm512_set1_ps(kMasked), _mm512_set1_ps(kMasked), _mm512_set1_ps(kMasked)};
    const float *keys = range.keys + first * D;
    int64_t t = 0;
    for (; t + kTile <= count; t += kTile)
        score_tile<D, kTile>(block.transposed, keys + t * D, scores + t * kRows, mask, positions, first + t, maximum);
    if (t < count)
        score_tail<D>(static_cast<int>(count - t), block.transposed, keys + t * D, scores + t * kRows, mask,
                      positions, first + t, maximum);
    softmax_step<D>(block, scores, count, maximum);
    constexpr int vectors = D / 16, rows = 24 / vectors;  // 24 accumulators
    static_assert(kRows % rows == 0, "a query block splits into whole register tiles");
    for (int r = 0; r < kRows; r += rows)
        accumulate_values<vectors, rows>(scores + r, range.values + first * D, count, block.out + r * D);
}

template <int D>
at::Tensor attend(const at::Tensor &query, const std::vector<KeyValueSegment> &segments,
                  const KeyValueSegment &window, double scale) {
    const int64_t batch = query.size(0), heads = query.size(1), length = query.size(2);
    const int64_t kv_heads = window.first.size(1), groups = heads / kv_heads;
    const int64_t rows = groups * length, blocks = (rows + kRows - 1) / kRows;
    const int64_t items_per_head = (blocks + kBlocksPerItem - 1) / kBlocksPerItem;
    const float log2_scale = static_cast<float>(scale * 1.4426950408889634);
    at::Tensor out = at::empty({batch, heads, length, D}, query.options());
    const float *q = query.data_ptr<float>();
    float *o = out.data_ptr<float>();
    const auto qs = query.strides();

    auto head_range = [](const at::Tensor &t, int64_t b, int64_t h, const at::Tensor &values) {
        return std::make_pair(t.data_ptr<float>() + b * t.stride(0) + h * t.stride(1),
                              values.data_ptr<float>() + b * values.stride(0) + h * values.stride(1));
    };

    mr::parallel_over(batch * kv_heads * items_per_head, [&](int64_t begin, int64_t end) {
        std::unique_ptr<QueryBlock<D>[]> state(new QueryBlock<D>[kBlocksPerItem]);
        std::unique_ptr<ScoreBlock> scores(new ScoreBlock);
        for (int64_t item = begin; item < end; ++item) {
            const int64_t bh = item / items_per_head, b = bh / kv_heads, h = bh % kv_heads;
            const int64_t first_block = item % items_per_head * kBlocksPerItem;
            const int n_blocks = static_cast<int>(std::min<int64_t>(kBlocksPerItem, blocks - first_block));
            for (int i = 0; i < n_blocks; ++i) {
                QueryBlock<D> &block = state[i];
                block.first_row = (first_block + i) * kRows;
                block.min_position = std::numeric_limits<int32_t>::max();
                block.max_position = -1;
                for (int r = 0; r < kRows; ++r) {
                    const int64_t row = block.first_row + r;
                    block.row_max[r] = kMasked;
                    block.row_sum[r] = 0;
                    std::fill(block.out + r * D, block.out + (r + 1) * D, 0.0f);
                    if (row >= rows) {
                        block.positions[r] = std::numeric_limits<int32_t>::max();
                        for (int d = 0; d < D; ++d) block.transposed[d * kRows + r] = 0;
                        continue;
                    }
                    const int64_t g = row / length, i_pos = row % length;
                    const float *src = q + b * qs[0] + (h * groups + g) * qs[1] + i_pos * qs[2];
                    for (int d = 0; d < D; ++d) block.transposed[d * kRows + r] = src[d * qs[3]] * log2_scale;
                    const auto position = static_cast<int32_t>(i_pos);
                    block.positions[r] = position;
                    block.min_position = std::min(block.min_position, position);
                    block.max_position = std::max(block.max_position, position);
                }
            }
            std::vector<KeyRange> ranges;
            for (const auto &[keys, values] : segments) {
                const auto [k, v] = head_range(keys, b, h, values);
                ranges.push_back({k, v, keys.size(2), false});
            }
            const auto [wk, wv] = head_range(window.first, b, h, window.second);
            ranges.push_back({wk, wv, window.first.size(2), true});
            for (const KeyRange &range : ranges)
                for (int64_t first = 0; first < range.count; first += kKeyBlock) {
                    const int64_t count = std::min(kKeyBlock, range.count - first);
                    for (int i = 0; i < n_blocks; ++i) attend_keys<D>(state[i], range, first, count, scores->scores);
                }
            for (int i = 0; i < n_blocks; ++i) {
                const QueryBlock<D> &block = state[i];
                for (int r = 0; r < kRows && block.first_row + r < rows; ++r) {
                    const int64_t row = block.first_row + r, g = row / length, i_pos = row % length;
                    float *dst = o + ((b * heads + h * groups + g) * length + i_pos) * D;
                    const float inverse = 1.0f / block.row_sum[r];
                    for (int d = 0; d < D; ++d) dst[d] = block.out[r * D + d] * inverse;
                }
            }
        }
    });
    return out;
}

// `t` as float32 with rows of D floats one after another ([B, KV, S, D], any batch and head strides).
at::Tensor float_rows(const at::Tensor &t) {
    at::Tensor f = t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
    if (f.stride(3) != 1 || (f.size(2) > 1 && f.stride(2) != f.size(3))) f = f.contiguous();
    return f;
}

} // namespace

namespace mr {

c10::optional<at::Tensor> window_attention(const at::Tensor &query, const std::vector<KeyValueSegment> &segments,
                                           const KeyValueSegment &window, double scale) {
    if (!cpu_has_avx512() || query.dim() != 4 || query.scalar_type() != at::kFloat || !shim_kernels_serve({&query}))
        return c10::nullopt;
    std::vector<const at::Tensor *> all{&query, &window.first, &window.second};
    for (const auto &[k, v] : segments) {
        all.push_back(&k);
        all.push_back(&v);
    }
    if (records_gradient_any(all)) return c10::nullopt;
    for (const at::Tensor *t : all)
        if (!shim_kernels_serve({t}) || !is_float_or_bf16(*t)) return c10::nullopt;
    const int64_t dim = query.size(3), length = query.size(2), window_length = window.first.size(2);
    if (dim != 16 && dim != 32 && dim != 64 && dim != 128) return c10::nullopt;
    if (window_length > std::numeric_limits<int32_t>::max() / 2) return c10::nullopt;

    if (window_length != length) throw std::invalid_argument("window attention: the window needs one entry per query");

    std::vector<KeyValueSegment> memory;
    for (const auto &[k, v] : segments)
        if (k.size(2) > 0) memory.emplace_back(float_rows(k), float_rows(v));
    const KeyValueSegment own{float_rows(window.first), float_rows(window.second)};
    switch (dim) {
    case 16: return attend<16>(query, memory, own, scale);
    case 32: return attend<32>(query, memory, own, scale);
    case 64: return attend<64>(query, memory, own, scale);
    default: return attend<128>(query, memory, own, scale);
    }
}

} // namespace mr
