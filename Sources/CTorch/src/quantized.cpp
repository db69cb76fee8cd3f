// Int8 weights for inference: a linear layer's weight quantized once per output row and packed by libtorch's quantized
// engine (fbgemm on x86), applied with dynamically quantized activations. Decoding a small model reads every weight
// once per token, so a quarter of the bytes is most of the win; prefill runs on int8 dot-product instructions.
#include "internal.h"

#include <ATen/native/quantized/PackedParams.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/Parallel.h>
#include <ATen/quantized/Quantizer.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>

struct mr_packed_linear_s {
    c10::intrusive_ptr<LinearPackedParamsBase> packed;
    at::Tensor bias;  // undefined when none; added after the per-row rescaling
    int64_t inputs, outputs;
    bool reduce_range;
};

namespace {

// libtorch warns (once, on stderr) that quantized tensor creation is deprecated; the packed weight is all we keep.
struct SilentWarnings final : c10::WarningHandler {
#if TORCH_VERSION_MAJOR >= 2
    void process(const c10::Warning &) override {}
#else
    void process(const c10::SourceLocation &, const std::string &, const bool) override {}
#endif
};
#if TORCH_VERSION_MAJOR >= 2
using WarningHandlerGuard = c10::WarningUtils::WarningHandlerGuard;
#else
using WarningHandlerGuard = c10::Warning::WarningHandlerGuard;
#endif

// The x86 quantized engine to pack with, best first (QNNPACK, the default on some builds, has no per-channel
// dynamic linear); nullopt when this libtorch has none.
c10::optional<at::QEngine> x86_engine() {
    const auto engines = at::globalContext().supportedQEngines();
    for (auto wanted : {at::QEngine::X86, at::QEngine::FBGEMM, at::QEngine::ONEDNN})
        if (std::find(engines.begin(), engines.end(), wanted) != engines.end()) return wanted;
    return c10::nullopt;
}

// Makes that engine the current one, once.
void select_engine() {
    static const bool selected = [] {
        const auto engine = x86_engine();
        if (engine) at::globalContext().setQEngine(*engine);
        return engine.has_value();
    }();
    if (!selected) throw std::runtime_error("this libtorch has no x86 quantized engine (fbgemm/onednn) for int8 linears");
}

// The packed product with one activation scale per row (token). fbgemm quantizes its whole input with one scale;
// a prompt's first token carries activations ~50x larger than the rest (the attention sink), which would leave the
// other tokens a handful of levels (held-out loss of SmolLM2-135M on Persuasion: fp32 3.541, one scale 4.556).
// A linear map commutes with scaling each row, so every row is divided by its largest |x| before the single
// quantized call and the outputs multiplied back: per-token resolution for one GEMM (3.571). The bias is added
// after the rescaling, so it is kept out of the packed weight.
at::Tensor apply_per_row(const mr_packed_linear_s &linear, const at::Tensor &rows) {
    const auto &packed = linear.packed;
    at::Tensor y;
    if (rows.size(0) <= 1) {
        y = packed->apply_dynamic(rows, linear.reduce_range);
    } else {
        const auto scale = rows.abs().amax(1, /*keepdim=*/true).clamp_min(1e-30);
        y = packed->apply_dynamic(rows / scale, linear.reduce_range).mul_(scale);
    }
    return linear.bias.defined() ? y.add_(linear.bias) : y;
}

// quantized::linear_prepack, looked up once.
c10::intrusive_ptr<LinearPackedParamsBase> prepack(const at::Tensor &q) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("quantized::linear_prepack", "")
                         .typed<c10::intrusive_ptr<LinearPackedParamsBase>(at::Tensor, c10::optional<at::Tensor>)>();
    return op.call(q, c10::nullopt);
}

} // namespace

extern "C" {

int mr_packed_linear_supported(int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = x86_engine().has_value() ? 1 : 0;
    })
}

int mr_packed_linear_int8(mr_packed_linear *out, mr_tensor weight, mr_tensor bias, int reduce_range) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        // fbgemm packs and multiplies in host memory: int8 weights exist on the CPU route only.
        if (!mr::shim_kernels_serve({&mr::T(weight)}))
            throw std::invalid_argument("int8 weights run on the CPU only (fbgemm), not on " +
                                        mr::T(weight).device().str() + "; use fp32 or bf16 there");
        select_engine();
        at::NoGradGuard no_grad;
        const auto w = mr::T(weight).detach().to(at::kFloat).contiguous();
        if (w.dim() != 2) throw std::invalid_argument("int8 linear: the weight must be [out, in]");
        // Symmetric per-row scales: max |w| of the row maps to 127 (an all-zero row gets scale 1).
        auto scales = (w.abs().amax(1) / 127.0).to(at::kDouble);
        scales = at::where(scales > 0, scales, at::ones_like(scales));
        const auto zero_points = at::zeros({w.size(0)}, at::TensorOptions().dtype(at::kLong));
        SilentWarnings silent;
        WarningHandlerGuard quiet(&silent);
        const auto q = at::quantize_per_channel(w, scales, zero_points, 0, at::kQInt8);
        at::Tensor b;
        if (bias != nullptr) b = mr::T(bias).detach().to(at::kFloat).contiguous();
        *out = new mr_packed_linear_s{prepack(q), b, w.size(1), w.size(0), reduce_range != 0};
    })
}

int mr_packed_linear_apply(mr_tensor *out, mr_packed_linear linear, mr_tensor x) {
    RETURN_TENSOR(out, ([&] {
                      if (linear == nullptr) throw std::invalid_argument("null packed linear");
                      const auto &input = mr::T(x);
                      if (!mr::shim_kernels_serve({&input}))
                          throw std::invalid_argument("int8 weights run on the CPU only (fbgemm), not on " +
                                                      input.device().str() + "; use fp32 or bf16 there");
                      if (input.scalar_type() != at::kFloat)
                          throw std::invalid_argument("int8 linear: the input must be float32");
                      if (input.dim() < 1 || input.size(-1) != linear->inputs)
                          throw std::invalid_argument("int8 linear: the input's last dimension is " +
                                                      std::to_string(input.dim() ? input.size(-1) : 0) + ", the weight's " +
                                                      std::to_string(linear->inputs));
                      at::NoGradGuard no_grad;
                      auto shape = input.sizes().vec();
                      shape.back() = linear->outputs;
                      return apply_per_row(*linear, input.reshape({-1, linear->inputs}).contiguous()).reshape(shape);
                  }()))
}

void mr_packed_linear_free(mr_packed_linear linear) { delete linear; }

int mr_packed_linear_parts(mr_packed_linear linear, mr_tensor *weight, mr_tensor *scales, mr_tensor *bias,
                           int *reduce_range) {
    PROTECT({
        if (linear == nullptr) throw std::invalid_argument("null packed linear");
        if (weight == nullptr || scales == nullptr || bias == nullptr || reduce_range == nullptr)
            throw std::invalid_argument("null output pointer");
        at::NoGradGuard no_grad;
        // The packed matrix unpacked: the int8 values as they were quantized, and the scales fbgemm keeps (float32,
        // which is all it computes with).
        const auto q = std::get<0>(linear->packed->unpack());
        if (q.qscheme() != at::kPerChannelAffine && q.qscheme() != at::kPerChannelSymmetric)
            throw std::runtime_error("int8 linear: the packed weight is not quantized per row");
        auto values = q.int_repr().contiguous();
        auto row_scales = q.q_per_channel_scales().to(at::kDouble).contiguous();
        *weight = mr::wrap(std::move(values));
        *scales = mr::wrap(std::move(row_scales));
        *bias = linear->bias.defined() ? mr::wrap(linear->bias) : nullptr;
        *reduce_range = linear->reduce_range ? 1 : 0;
    })
}

int mr_packed_linear_from_int8(mr_packed_linear *outs, const mr_tensor *weights, const mr_tensor *scales,
                               const mr_tensor *biases, int64_t count, int reduce_range) {
    PROTECT({
        if (count < 0 || (count > 0 && (outs == nullptr || weights == nullptr || scales == nullptr || biases == nullptr)))
            throw std::invalid_argument("invalid packed linear list");
        select_engine();
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> w(count), s(count), b(count);
        for (int64_t i = 0; i < count; ++i) {
            w[i] = mr::T(weights[i]);
            s[i] = mr::T(scales[i]);
            if (biases[i] != nullptr) b[i] = mr::T(biases[i]);
            const auto name = "int8 linear " + std::to_string(i) + ": ";
            if (!w[i].device().is_cpu() || w[i].scalar_type() != at::kChar || w[i].dim() != 2)
                throw std::invalid_argument(name + "the weight must be int8 [out, in] on the CPU");
            if (!s[i].device().is_cpu() || s[i].scalar_type() != at::kDouble || s[i].dim() != 1 || s[i].size(0) != w[i].size(0))
                throw std::invalid_argument(name + "the scales must be float64 [out] on the CPU");
            if (b[i].defined() && (b[i].scalar_type() != at::kFloat || b[i].dim() != 1 || b[i].size(0) != w[i].size(0)))
                throw std::invalid_argument(name + "the bias must be float32 [out]");
        }
        // Largest first, each thread taking the next one: packing is single-threaded per matrix, and the sizes range
        // from a vocabulary-sized table to small projections.
        std::vector<int64_t> order(count);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return w[x].numel() > w[y].numel(); });
        std::vector<c10::intrusive_ptr<LinearPackedParamsBase>> packed(count);
        std::atomic<int64_t> next{0};
        std::mutex failure_lock;
        std::string failure;
        SilentWarnings silent;
        const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), count));
        mr::parallel_over(workers, [&](int64_t, int64_t) {
            WarningHandlerGuard quiet(&silent);  // the handler is per thread
            for (int64_t k = next++; k < count; k = next++) {
                const int64_t i = order[k];
                try {
                    const auto zero_points = at::zeros({w[i].size(0)}, at::TensorOptions().dtype(at::kLong));
                    // A quantized view of the stored values (no copy: the deleter holds the int8 tensor).
                    auto values = w[i].contiguous();
                    const auto q = at::from_blob_quantized_per_channel_affine(
                        values.data_ptr(), values.sizes(), [values](void *) {}, s[i].contiguous(), zero_points, 0,
                        at::TensorOptions().dtype(at::kQInt8));
                    packed[i] = prepack(q);
                } catch (const std::exception &e) {
                    std::lock_guard<std::mutex> hold(failure_lock);
                    if (failure.empty()) failure = "int8 linear " + std::to_string(i) + ": " + e.what();
                    next = count;
                }
            }
        });
        if (!failure.empty()) throw std::runtime_error(failure);
        for (int64_t i = 0; i < count; ++i) {
            auto bias = b[i].defined() ? b[i].contiguous() : at::Tensor();
            outs[i] = new mr_packed_linear_s{packed[i], bias, w[i].size(1), w[i].size(0), reduce_range != 0};
        }
    })
}

} // extern "C"
