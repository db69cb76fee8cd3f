// Int8 weights for inference: a linear layer's weight quantized once per output row and packed by libtorch's quantized
// engine (fbgemm on x86), applied with dynamically quantized activations. Decoding a small model reads every weight
// once per token, so a quarter of the bytes is most of the win; prefill runs on int8 dot-product instructions.
#include "internal.h"

#include <ATen/native/quantized/PackedParams.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/version.h>

#include <algorithm>

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
        static auto prepack = c10::Dispatcher::singleton()
                                  .findSchemaOrThrow("quantized::linear_prepack", "")
                                  .typed<c10::intrusive_ptr<LinearPackedParamsBase>(at::Tensor, c10::optional<at::Tensor>)>();
        *out = new mr_packed_linear_s{prepack.call(q, c10::nullopt), b, w.size(1), w.size(0), reduce_range != 0};
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

} // extern "C"
