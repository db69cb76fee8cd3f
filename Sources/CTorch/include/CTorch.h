// CTorch: a pure-C view of the parts of libtorch that MemoRAG-Swift needs.
//
// Conventions (after tch-rs and mlx-c):
// - Handles are opaque pointers; no libtorch header is visible here, so Swift's importer sees plain C.
// - Every function that can fail returns an `int` status: 0 is success, anything else is failure, and the reason is
//   kept in a thread-local buffer read with `mr_last_error()`. No C++ exception ever leaves the shim.
// - Results come back through out-parameters. A returned `mr_tensor` is a new handle owned by the caller, who
//   releases it exactly once with `mr_tensor_free`. Input handles are borrowed, never consumed.
// - Dtypes travel as the integer values of `c10::ScalarType` (stable across libtorch 1.13 and 2.x).
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mr_tensor_s *mr_tensor;

typedef enum {
    MR_DTYPE_U8 = 0,
    MR_DTYPE_I8 = 1,
    MR_DTYPE_I16 = 2,
    MR_DTYPE_I32 = 3,
    MR_DTYPE_I64 = 4,
    MR_DTYPE_F16 = 5,
    MR_DTYPE_F32 = 6,
    MR_DTYPE_F64 = 7,
    MR_DTYPE_BOOL = 11,
    MR_DTYPE_BF16 = 15,
} mr_dtype;

// ---- errors, library info, threads, RNG -------------------------------------------------------------------------
/// The message of the last failure on this thread ("" when none). Valid until the next failing call on this thread.
const char *mr_last_error(void);
/// Writes "MAJOR.MINOR.PATCH" of the libtorch the shim was compiled against.
int mr_torch_version(char *buffer, size_t capacity);
/// Writes at::get_parallel_info() (OpenMP/MKL/threads summary), truncated to capacity.
int mr_parallel_info(char *buffer, size_t capacity);
int mr_set_num_threads(int n);
/// Sets the OpenMP thread count of the calling thread only (the parallel regions libtorch opens from it), leaving
/// the process-wide count and MKL's as they are.
int mr_set_calling_thread_num_threads(int n);
int mr_get_num_threads(int *out);
int mr_manual_seed(uint64_t seed);
/// The default CPU generator's state as a uint8 tensor (save it to resume a run bitwise).
int mr_rng_get_state(mr_tensor *out);
int mr_rng_set_state(mr_tensor state);
/// Heap settings (glibc mallopt): blocks up to `mmap_threshold` bytes come from the heap rather than fresh mappings,
/// and the heap keeps up to `trim_threshold` free bytes instead of returning them. `*applied` is 1 when the C
/// library took both (0 on other C libraries, or past glibc's limits).
int mr_retain_freed_memory(size_t mmap_threshold, size_t trim_threshold, int *applied);
/// A do-nothing call with the same shape as an op (it writes NULL to `out`), to measure the Swift→C crossing itself.
int mr_noop(mr_tensor *out, mr_tensor a);

// ---- devices ----------------------------------------------------------------------------------------------------
/// Devices travel as one int: MR_DEVICE_CPU (-1) is the CPU, N >= 0 is CUDA device N. Every function taking a device
/// accepts these codes; a CUDA code fails with the reason (no CUDA in this libtorch, no GPU visible, bad index) when
/// it cannot be served. The first CUDA query loads libtorch_cuda.so from beside the loaded libtorch_cpu.so.
#define MR_DEVICE_CPU (-1)
/// CUDA devices this process can use: 0 when the libtorch has no CUDA support or sees no GPU.
int mr_cuda_device_count(int *out);
/// Why CUDA cannot be used ("" when it can), e.g. "this libtorch has no CUDA support (…)".
int mr_cuda_problem(char *buffer, size_t capacity);
/// The compute capability (major, minor) of CUDA device `device`.
int mr_cuda_capability(int device, int *major, int *minor);
int mr_tensor_device(mr_tensor t, int *out);
/// Waits until the work queued on `device` has finished (timing asynchronous CUDA work); nothing to wait for on the CPU.
int mr_synchronize(int device);
/// A copy on `device` (the tensor itself, shared, when it is there already), still in the autograd graph.
int mr_to_device(mr_tensor *out, mr_tensor t, int device);
/// Turns libtorch's autocast on or off for the device type of `device` on the calling thread: ops that autocast
/// lists (matmuls, linear, attention) run in `dtype` while weights stay in theirs. `*previous` (may be NULL)
/// receives the earlier state.
int mr_set_autocast(int device, int enabled, int dtype, int *previous);
/// Whether the shim's own kernels serve CPU tensors (default 1). With 0, CPU tensors take the libtorch route that
/// tensors on other devices take, so tests can check that route on a machine without a GPU.
int mr_set_shim_kernels(int enabled, int *previous);

// ---- lifecycle and data -----------------------------------------------------------------------------------------
void mr_tensor_free(mr_tensor t);
/// Copies `data` (dense, row-major, `dtype`) into a new tensor of `shape` on `device`.
int mr_tensor_from_data(mr_tensor *out, const void *data, size_t nbytes, const int64_t *shape, int64_t ndim,
                        int dtype, int device);
/// A CPU tensor over `data` (dense, row-major, `dtype`) without copying it: the caller keeps the memory valid until
/// libtorch calls `release(context)`, once, when the last tensor sharing the storage is gone. On failure `release`
/// is not called (the caller still holds what `context` stands for). `data` must be aligned for `dtype`.
int mr_tensor_from_blob(mr_tensor *out, void *data, const int64_t *shape, int64_t ndim, int dtype, void *context,
                        void (*release)(void *context));
/// Copies the tensor (made contiguous, on CPU) into `dst`, which must hold exactly numel × element size bytes.
int mr_tensor_copy_to(mr_tensor t, void *dst, size_t nbytes);
int mr_tensor_ndim(mr_tensor t, int64_t *out);
/// Writes up to `capacity` sizes; `ndim` receives the true rank.
int mr_tensor_shape(mr_tensor t, int64_t *sizes, int64_t capacity, int64_t *ndim);
int mr_tensor_dtype(mr_tensor t, int *out);
int mr_tensor_numel(mr_tensor t, int64_t *out);
int mr_tensor_item_double(mr_tensor t, double *out);
int mr_tensor_item_int64(mr_tensor t, int64_t *out);
int mr_tensor_is_contiguous(mr_tensor t, int *out);
/// Deep copy (new storage), keeping the autograd graph like `Tensor.clone()`.
int mr_clone(mr_tensor *out, mr_tensor t);
/// True when both tensors have the same shape and dtype and equal elements (`torch.equal`).
int mr_equal(mr_tensor a, mr_tensor b, int *out);

// ---- creation ---------------------------------------------------------------------------------------------------
// Each creates on `device` (a device code). Random values are drawn on the CPU generator and then moved, so a run
// draws the same numbers on every device and its saved generator state stays one CPU state.
int mr_zeros(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device);
int mr_ones(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device);
int mr_full(mr_tensor *out, const int64_t *shape, int64_t ndim, double value, int dtype, int device);
int mr_empty(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device);
int mr_arange(mr_tensor *out, double start, double end, double step, int dtype, int device);
int mr_rand(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device);
int mr_randn(mr_tensor *out, const int64_t *shape, int64_t ndim, int dtype, int device);
int mr_randint(mr_tensor *out, int64_t low, int64_t high, const int64_t *shape, int64_t ndim, int device);
int mr_triu(mr_tensor *out, mr_tensor t, int64_t diagonal);
int mr_tril(mr_tensor *out, mr_tensor t, int64_t diagonal);
int mr_to_dtype(mr_tensor *out, mr_tensor t, int dtype);

// ---- elementwise ------------------------------------------------------------------------------------------------
typedef enum {
    MR_UNARY_NEG, MR_UNARY_EXP, MR_UNARY_LOG, MR_UNARY_SQRT, MR_UNARY_RSQRT, MR_UNARY_ABS, MR_UNARY_SIN,
    MR_UNARY_COS, MR_UNARY_TANH, MR_UNARY_SIGMOID, MR_UNARY_RELU, MR_UNARY_SILU, MR_UNARY_GELU,
    MR_UNARY_GELU_TANH, MR_UNARY_RECIPROCAL, MR_UNARY_SQUARE, MR_UNARY_LOGICAL_NOT, MR_UNARY_FLOOR, MR_UNARY_CEIL,
    MR_UNARY_SIGN, MR_UNARY_ERF, MR_UNARY_ISNAN, MR_UNARY_ISFINITE,
} mr_unary_op;

typedef enum {
    MR_BINARY_ADD, MR_BINARY_SUB, MR_BINARY_MUL, MR_BINARY_DIV, MR_BINARY_POW, MR_BINARY_MAXIMUM,
    MR_BINARY_MINIMUM, MR_BINARY_EQ, MR_BINARY_NE, MR_BINARY_LT, MR_BINARY_LE, MR_BINARY_GT, MR_BINARY_GE,
    MR_BINARY_LOGICAL_AND, MR_BINARY_LOGICAL_OR, MR_BINARY_REMAINDER, MR_BINARY_FLOOR_DIVIDE,
} mr_binary_op;

int mr_unary(mr_tensor *out, int op, mr_tensor a);
/// Broadcasting `a op b`.
int mr_binary(mr_tensor *out, int op, mr_tensor a, mr_tensor b);
/// `a op s` (or `s op a` when `scalar_first` is nonzero) with a Python-style scalar.
int mr_binary_scalar(mr_tensor *out, int op, mr_tensor a, double s, int scalar_first);
int mr_clamp(mr_tensor *out, mr_tensor a, double min, double max, int has_min, int has_max);
/// `where(cond, a, b)`.
int mr_where(mr_tensor *out, mr_tensor cond, mr_tensor a, mr_tensor b);
int mr_masked_fill(mr_tensor *out, mr_tensor a, mr_tensor mask, double value);

// ---- in-place updates (autograd sees them as usual) -------------------------------------------------------------
/// `a op= b` for ADD, SUB, MUL, DIV; `alpha` scales `b` for ADD and SUB (`a.add_(b, alpha)`).
int mr_inplace_binary(int op, mr_tensor a, mr_tensor b, double alpha);
/// `a op= s` for ADD, SUB, MUL, DIV.
int mr_inplace_scalar(int op, mr_tensor a, double s);
int mr_copy_(mr_tensor dst, mr_tensor src);
int mr_fill_(mr_tensor a, double value);
int mr_zero_(mr_tensor a);
int mr_masked_fill_(mr_tensor a, mr_tensor mask, double value);

// ---- linear algebra ---------------------------------------------------------------------------------------------
int mr_matmul(mr_tensor *out, mr_tensor a, mr_tensor b);
int mr_bmm(mr_tensor *out, mr_tensor a, mr_tensor b);
/// `x @ weight.T + bias`; `bias` may be NULL.
int mr_linear(mr_tensor *out, mr_tensor x, mr_tensor weight, mr_tensor bias);

// ---- reductions -------------------------------------------------------------------------------------------------
typedef enum {
    MR_REDUCE_SUM, MR_REDUCE_MEAN, MR_REDUCE_AMAX, MR_REDUCE_AMIN, MR_REDUCE_LOGSUMEXP, MR_REDUCE_VAR,
    MR_REDUCE_STD, MR_REDUCE_NORM2, MR_REDUCE_PROD, MR_REDUCE_ANY, MR_REDUCE_ALL,
} mr_reduce_op;

/// Reduces over `dims` (all dimensions when ndims == 0). VAR and STD are unbiased=false (population).
int mr_reduce(mr_tensor *out, int op, mr_tensor a, const int64_t *dims, int64_t ndims, int keepdim);
int mr_argmax(mr_tensor *out, mr_tensor a, int64_t dim, int keepdim);
int mr_max_dim(mr_tensor *values, mr_tensor *indices, mr_tensor a, int64_t dim, int keepdim);
int mr_topk(mr_tensor *values, mr_tensor *indices, mr_tensor a, int64_t k, int64_t dim, int largest, int sorted);
int mr_sort(mr_tensor *values, mr_tensor *indices, mr_tensor a, int64_t dim, int descending);
int mr_cumsum(mr_tensor *out, mr_tensor a, int64_t dim);
int mr_softmax(mr_tensor *out, mr_tensor a, int64_t dim);
int mr_log_softmax(mr_tensor *out, mr_tensor a, int64_t dim);
/// Samples `n` indices per row from the (unnormalised) probabilities in `probs`.
int mr_multinomial(mr_tensor *out, mr_tensor probs, int64_t n, int replacement);

// ---- views and shape ---------------------------------------------------------------------------------------------
int mr_reshape(mr_tensor *out, mr_tensor a, const int64_t *shape, int64_t ndim);
int mr_permute(mr_tensor *out, mr_tensor a, const int64_t *dims, int64_t ndim);
int mr_transpose(mr_tensor *out, mr_tensor a, int64_t dim0, int64_t dim1);
/// `a[start:end:step]` along `dim`; negative and out-of-range bounds are clamped like Python's.
int mr_slice(mr_tensor *out, mr_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step);
int mr_narrow(mr_tensor *out, mr_tensor a, int64_t dim, int64_t start, int64_t length);
int mr_select(mr_tensor *out, mr_tensor a, int64_t dim, int64_t index);
int mr_cat(mr_tensor *out, const mr_tensor *ts, int64_t n, int64_t dim);
int mr_stack(mr_tensor *out, const mr_tensor *ts, int64_t n, int64_t dim);
/// Splits into pieces of `split_size` along `dim`; writes up to `capacity` handles and the true count to `count`.
int mr_split(mr_tensor *outs, int64_t capacity, int64_t *count, mr_tensor a, int64_t split_size, int64_t dim);
int mr_contiguous(mr_tensor *out, mr_tensor a);
int mr_unsqueeze(mr_tensor *out, mr_tensor a, int64_t dim);
int mr_squeeze(mr_tensor *out, mr_tensor a, int64_t dim);
int mr_expand(mr_tensor *out, mr_tensor a, const int64_t *shape, int64_t ndim);
int mr_repeat(mr_tensor *out, mr_tensor a, const int64_t *repeats, int64_t ndim);
int mr_repeat_interleave(mr_tensor *out, mr_tensor a, int64_t repeats, int64_t dim);
int mr_flatten(mr_tensor *out, mr_tensor a, int64_t start_dim, int64_t end_dim);

// ---- indexing ---------------------------------------------------------------------------------------------------
int mr_index_select(mr_tensor *out, mr_tensor a, int64_t dim, mr_tensor index);
int mr_gather(mr_tensor *out, mr_tensor a, int64_t dim, mr_tensor index);
/// Out-of-place scatter: a copy of `a` with `src` written at `index` along `dim` (added when `accumulate`).
int mr_scatter(mr_tensor *out, mr_tensor a, int64_t dim, mr_tensor index, mr_tensor src, int accumulate);
/// Out-of-place `a.index_put((index,), values, accumulate)`: rows of `a` chosen by a 1-D index or bool mask.
int mr_index_put(mr_tensor *out, mr_tensor a, mr_tensor index, mr_tensor values, int accumulate);
/// One [Σ rows, cols] view over 2-D contiguous tensors that lie one after another in the same storage, in order;
/// `*out` is NULL when they do not.
int mr_adjacent_rows_view(mr_tensor *out, const mr_tensor *tensors, int64_t n);
/// In-place `a.index_put_((index,), values)`: writes through `a` (a view writes into its base).
int mr_index_put_(mr_tensor a, mr_tensor index, mr_tensor values);
int mr_nonzero(mr_tensor *out, mr_tensor a);

// ---- neural-network functions -----------------------------------------------------------------------------------
int mr_embedding(mr_tensor *out, mr_tensor weight, mr_tensor indices);
/// Mean (reduction 1), sum (2) or per-element (0) cross entropy of logits [N, C] against class indices [N];
/// targets equal to `ignore_index` contribute nothing (and the mean is over the others).
int mr_cross_entropy(mr_tensor *out, mr_tensor logits, mr_tensor targets, int64_t ignore_index, int reduction,
                     double label_smoothing);
/// Summed cross entropy of hidden [N, D] · weightᵀ against targets [N] (the language-model head and its loss as one
/// differentiable operation), `chunk_rows` rows at a time (0: chunks of about 24 MB of logits). No [N, V] tensor is
/// made: each chunk's gradients are computed with its loss and the backward pass scales them. float32 and bfloat16
/// (logits in float32); other dtypes take the composed ops.
int mr_linear_cross_entropy(mr_tensor *out, mr_tensor hidden, mr_tensor weight, mr_tensor targets,
                            int64_t ignore_index, int64_t chunk_rows);
/// softmax(q kᵀ · scale + mask) v over the last two dims. `mask` may be NULL; a bool mask is true where attention
/// is allowed, a floating mask is added to the scores. `scale` ≤ 0 means 1/sqrt(head_dim).
/// `is_causal` applies the usual lower-triangular mask aligned at the bottom right (no mask may be given then).
/// k and v may have fewer heads than q (grouped-query attention: each K/V head serves heads/kv_heads queries).
int mr_sdpa(mr_tensor *out, mr_tensor q, mr_tensor k, mr_tensor v, mr_tensor mask, int is_causal, double scale);
/// Attention of a beacon window step (inference only): q [B, H, L, D] sees every entry of the memory, given as
/// `memory_segments` pieces k_memory[i], v_memory[i] [B, KV, M_i, D] taken as one concatenation (0 pieces: no
/// memory; the arrays may then be NULL), and causally the step's own k_window, v_window [B, KV, L, D], with no mask
/// tensor: float32 on AVX-512 in one pass of the shim's own kernel (window_attention.cpp), otherwise libtorch
/// flash-attention passes merged by log-sum-exp. scale <= 0 means 1/sqrt(D).
int mr_attention_memory_window(mr_tensor *out, mr_tensor q, const mr_tensor *k_memory, const mr_tensor *v_memory,
                               int64_t memory_segments, mr_tensor k_window, mr_tensor v_window, double scale);
/// 1 when this CPU runs the decoding-attention kernel that mr_attention_memory_window and mr_sdpa use for a single
/// query position (AVX-512); elsewhere they take the flash-attention path.
int mr_decode_attention_supported(int *out);
/// x · rsqrt(mean(x², -1) + eps) · weight, computed in float32 (float64 for float64 input) and cast back to x's dtype
/// before the weight multiplies it (Llama/HF semantics).
int mr_rms_norm(mr_tensor *out, mr_tensor x, mr_tensor weight, double eps);
/// Layer norm over the last dimension; `weight` and `bias` may be NULL.
int mr_layer_norm(mr_tensor *out, mr_tensor x, mr_tensor weight, mr_tensor bias, double eps);
/// HF rotate-half rotary embedding: x · cos + rotate_half(x) · sin, with cos/sin broadcast against x.
int mr_rope(mr_tensor *out, mr_tensor x, mr_tensor cos, mr_tensor sin);
/// silu(gate) * up (the SwiGLU feed-forward's gated product).
int mr_silu_mul(mr_tensor *out, mr_tensor gate, mr_tensor up);
int mr_dropout(mr_tensor *out, mr_tensor x, double p, int train);

// ---- int8 weights for inference -----------------------------------------------------------------------------------
/// A linear layer's weight quantized to int8 (symmetric, one scale per output row) and packed for fbgemm; applied
/// with dynamically quantized activations. Inference only: no autograd through it.
typedef struct mr_packed_linear_s *mr_packed_linear;
/// Quantizes and packs `weight` [out, in] (float) with an optional `bias` [out] (NULL for none). `reduce_range`
/// quantizes activations to 7 bits, which CPUs without VNNI need (their 16-bit accumulation could overflow).
int mr_packed_linear_int8(mr_packed_linear *out, mr_tensor weight, mr_tensor bias, int reduce_range);
/// y = x Wᵀ + b for float32 x [..., in] → [..., out]. Each row (token) gets its own activation scale, so that one
/// token's outlier activations do not crush the others' resolution.
int mr_packed_linear_apply(mr_tensor *out, mr_packed_linear linear, mr_tensor x);
void mr_packed_linear_free(mr_packed_linear linear);
/// 1 when this libtorch has a quantized engine that packs int8 linears (fbgemm, x86 or onednn).
int mr_packed_linear_supported(int *out);
/// What a packed linear was made from, to store it: `*weight` the int8 values [out, in], `*scales` the per-row
/// scales (float64 [out]), `*bias` the bias (NULL when none), `*reduce_range` the activation setting. Packing these
/// again (`mr_packed_linear_from_int8`) gives a packed weight that computes exactly what this one does.
int mr_packed_linear_parts(mr_packed_linear linear, mr_tensor *weight, mr_tensor *scales, mr_tensor *bias,
                           int *reduce_range);
/// Packs `count` linears from stored int8 values (`weights[i]` int8 [out, in], `scales[i]` float64 [out],
/// `biases[i]` float32 [out] or NULL) without quantizing anything, on all intra-op threads (each takes the next
/// linear, largest first). `outs` receives `count` handles; on failure none is kept.
int mr_packed_linear_from_int8(mr_packed_linear *outs, const mr_tensor *weights, const mr_tensor *scales,
                               const mr_tensor *biases, int64_t count, int reduce_range);

// ---- autograd ---------------------------------------------------------------------------------------------------
int mr_set_requires_grad(mr_tensor t, int requires_grad);
int mr_requires_grad(mr_tensor t, int *out);
/// Back-propagates from `t` (`grad` may be NULL for a scalar `t`).
int mr_backward(mr_tensor t, mr_tensor grad, int retain_graph);
/// `*out` is NULL when the tensor has no gradient yet.
int mr_grad(mr_tensor *out, mr_tensor t);
int mr_set_grad(mr_tensor t, mr_tensor grad);
int mr_detach(mr_tensor *out, mr_tensor t);
/// Zeroes the gradient in place, or drops it (`set_to_none`).
int mr_zero_grad(mr_tensor t, int set_to_none);
/// Sets the thread's grad mode and reports the previous one (for scoped restore).
int mr_set_grad_enabled(int enabled, int *previous);
int mr_is_grad_enabled(int *out);

// ---- optimisation helpers (one call for all parameters) ----------------------------------------------------------
/// The global L2 norm of the gradients of `n` tensors (those without a gradient are skipped), computed in float32
/// per tensor as `torch.nn.utils.clip_grad_norm_` measures it; the gradients are not changed (clipping is a scale
/// `mr_adamw_step` applies).
int mr_grad_norm(const mr_tensor *params, int64_t n, double *total_norm);
/// One AdamW step with the arithmetic of `torch.optim.AdamW` (single-tensor path, amsgrad off), fused into one pass
/// over each parameter's buffers in float32 (float32 and bfloat16 parameters; others take composed ops). Each
/// gradient is read multiplied by `grad_scale` (e.g. 1/tokens × the clipping coefficient) and is not modified.
/// Parameters without a gradient are skipped and their `steps[i]` is left as is; the others' step is incremented.
int mr_adamw_step(const mr_tensor *params, const mr_tensor *exp_avgs, const mr_tensor *exp_avg_sqs, int64_t *steps,
                  int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay,
                  double grad_scale);

#ifdef __cplusplus
}
#endif

#endif
