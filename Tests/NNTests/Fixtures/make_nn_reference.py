#!/usr/bin/env python3
"""Generate ``nn_reference.safetensors``: reference inputs/weights/outputs for NN layers.

Run (from the repository root)::

    PY=$(scripts/peer-venv.sh | tail -n1)
    $PY Tests/NNTests/Fixtures/make_nn_reference.py

Requires torch, safetensors and transformers (the rope/attention/mlp references
run transformers' own modules). Deterministic: ``torch.manual_seed(0)`` once,
then every tensor is drawn in the order of the sections below; the file is
byte-reproducible for a given torch/transformers version.

Conventions
-----------
* Inputs, weights and outputs are float32 (ids/targets/positions int64; the
  ``rmsnorm_bf16.*`` tensors bfloat16). Weights keep PyTorch/HF layouts, e.g.
  a Linear weight is [out_features, in_features].
* Outputs are computed in float64 from the float32 values and then rounded to
  float32 (``module.double()``), except where a module forces float32
  internally; those places are named below. Every float64 reference is
  checked in this script against the plain float32 torch/transformers path
  (and, for attention, against an independent float64 re-implementation).
* Random draws: ``randn`` unless stated; norm weights are ``1 + 0.1 * randn``.

Tensors
-------
``linear.x`` [2,5,7], ``linear.weight`` [4,7], ``linear.bias`` [4],
``linear.out`` [2,5,4]
    ``out = x @ weight.T + bias`` (``F.linear``).

``embedding.weight`` [11,6], ``embedding.ids`` [2,3] int64 (in 0..10),
``embedding.out`` [2,3,6]
    ``out[b, s] = weight[ids[b, s]]`` (``F.embedding``; exact).

``rmsnorm.x`` [2,3,8], ``rmsnorm.weight`` [8], ``rmsnorm.out`` [2,3,8]
    HF ``LlamaRMSNorm``, eps = 1e-5 (metadata ``rmsnorm.eps``):
    ``out = weight * (x * rsqrt(mean(x^2, -1) + eps))``.

``rmsnorm_bf16.x`` [2,3,8], ``rmsnorm_bf16.weight`` [8], ``rmsnorm_bf16.out`` [2,3,8] (bfloat16)
    ``rmsnorm.x`` / ``rmsnorm.weight`` rounded to bfloat16 and run through HF
    ``LlamaRMSNorm`` cast to bfloat16 (as in a bf16 model): the statistics are
    computed in float32, ``h = (x.float() * rsqrt(mean(x.float()^2) + eps))``
    is rounded to bfloat16, then ``out = weight * h`` is a bfloat16 product
    (rounded to bfloat16 once more). Computed by torch itself, not in float64.

``layernorm.x`` [2,3,8], ``layernorm.weight`` [8], ``layernorm.bias`` [8], ``layernorm.out`` [2,3,8]
    ``F.layer_norm`` over the last dim, eps = 1e-5 (metadata ``layernorm.eps``):
    ``(x - mean) / sqrt(var_biased + eps) * weight + bias``.

``rope.q`` [1,4,5,16], ``rope.k`` [1,2,5,16] (batch, heads, seq, head_dim),
``rope.positions`` [5] int64 = [3,4,5,6,7], ``rope.inv_freq`` [8],
``rope.cos`` [5,16], ``rope.sin`` [5,16], ``rope.q_out``, ``rope.k_out``
    transformers' ``LlamaRotaryEmbedding`` (theta 10000, ``rope_type`` default)
    and ``apply_rotary_pos_emb``: ``inv_freq = 1 / theta^(arange(0,16,2)/16)``;
    ``emb = cat(pos * inv_freq, pos * inv_freq)``; ``cos/sin = cos/sin(emb)``
    (HF computes inv_freq, the angles and cos/sin in float32 — the stored
    ``rope.cos``/``rope.sin`` are exactly those); then
    ``q_out = q * cos + rotate_half(q) * sin`` with
    ``rotate_half(x) = cat(-x[..., 8:], x[..., :8])``, same for k
    (this last step in float64).

``rope_llama3.q``, ``rope_llama3.k``, ``rope_llama3.positions``,
``rope_llama3.inv_freq``, ``rope_llama3.cos``, ``rope_llama3.sin``,
``rope_llama3.q_out``, ``rope_llama3.k_out`` (same shapes and positions as ``rope.*``)
    As ``rope.*`` but theta 500000 and llama3 frequency scaling
    (``rope_type`` llama3, factor 8, low_freq_factor 1, high_freq_factor 4,
    original_max_position_embeddings 8192; all in metadata
    ``rope_llama3.*``): with ``wavelen = 2*pi / inv_freq``,
    ``low = omax / low_freq_factor``, ``high = omax / high_freq_factor``:
    wavelen > low -> ``inv_freq / factor``; wavelen < high -> unchanged;
    otherwise ``(1 - a) * inv_freq / factor + a * inv_freq`` with
    ``a = (omax / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)``.
    ``rope_llama3.inv_freq`` is the scaled vector HF uses (attention scaling 1).

``attention.x`` [2,6,32], ``attention.q_proj.weight`` [32,32],
``attention.k_proj.weight`` [16,32], ``attention.v_proj.weight`` [16,32],
``attention.o_proj.weight`` [32,32], ``attention.out`` [2,6,32]
    HF ``LlamaAttention`` (``LlamaConfig``: hidden 32, 4 heads, 2 KV heads,
    head_dim 8, attention_bias False, rope theta 10000, eager attention),
    positions 0..5, causal mask::

        q = (x @ Wq.T).view(2,6,4,8).transpose(1,2)      # [B,H,S,D]
        k = (x @ Wk.T).view(2,6,2,8).transpose(1,2)      # [B,KV,S,D]
        v = (x @ Wv.T).view(2,6,2,8).transpose(1,2)
        q, k = rope(q), rope(k)                          # as rope.*, pos 0..5
        k, v = repeat_kv(k, 2), repeat_kv(v, 2)          # head h uses kv head h // 2
        s = q @ k.transpose(-1,-2) * 8**-0.5 + mask      # mask: finfo(f32).min above diagonal
        p = softmax(s, -1)
        out = (p @ v).transpose(1,2).reshape(2,6,32) @ Wo.T

    In float64 except HF's float32 cos/sin and its softmax, which HF always
    runs in float32 (``softmax(..., dtype=float32)``) before casting back.

``attention_bias.x``, ``attention_bias.{q,k,v,o}_proj.weight`` (shapes as above),
``attention_bias.q_proj.bias`` [32], ``attention_bias.k_proj.bias`` [16],
``attention_bias.v_proj.bias`` [16], ``attention_bias.out`` [2,6,32]
    The Qwen2 variant: transformers' ``Qwen2Attention`` (``Qwen2Config`` with the
    same sizes, no sliding window): q/k/v projections WITH bias, o_proj
    WITHOUT bias; otherwise identical to ``attention.*``.

``mlp.x`` [2,6,32], ``mlp.gate_proj.weight`` [48,32], ``mlp.up_proj.weight`` [48,32],
``mlp.down_proj.weight`` [32,48], ``mlp.out`` [2,6,32]
    HF ``LlamaMLP`` (hidden 32, intermediate 48, silu, no bias):
    ``out = down(silu(gate(x)) * up(x))``, ``silu(z) = z * sigmoid(z)``.

``cross_entropy.logits`` [6,10], ``cross_entropy.targets`` [6] int64 (entries 1 and 4
are -100), ``cross_entropy.loss`` [] (0-d), ``cross_entropy.losses`` [6]
    ``losses[i] = logsumexp(logits[i]) - logits[i, targets[i]]``, and 0 where
    ``targets[i] == -100`` (``F.cross_entropy(reduction="none")``);
    ``loss`` = mean of ``losses`` over the 4 non-ignored rows
    (``F.cross_entropy(ignore_index=-100)``, reduction mean).

``__metadata__`` (all strings): torch, transformers, safetensors versions,
generator, the eps values, rope/llama3 parameters, attention configs.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before importing torch

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import safetensors  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

try:
    import transformers
    from transformers import LlamaConfig, Qwen2Config
    from transformers.models.llama.modeling_llama import (
        LlamaAttention, LlamaMLP, LlamaRMSNorm, LlamaRotaryEmbedding, apply_rotary_pos_emb)
    from transformers.models.qwen2.modeling_qwen2 import Qwen2Attention, Qwen2RotaryEmbedding
except ImportError as error:  # pragma: no cover
    raise SystemExit(f"transformers is required (use scripts/peer-venv.sh): {error}")

OUT = Path(__file__).resolve().with_name("nn_reference.safetensors")
F64 = torch.float64
F32 = torch.float32

RMS_EPS = 1e-5
LN_EPS = 1e-5
ROPE_THETA = 10000.0
LLAMA3_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}
ATTN = dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8)

tensors: dict[str, torch.Tensor] = {}
metadata: dict[str, str] = {}


def put(prefix: str, **named: torch.Tensor) -> None:
    for name, value in named.items():
        tensors[f"{prefix}.{name}"] = value.detach().contiguous().clone()


def f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(F32)


def check(ref: torch.Tensor, other: torch.Tensor, what: str, tol: float = 2e-5) -> None:
    """The float64 reference must agree with an independent/float32 path."""
    err = (ref.double() - other.double()).abs().max().item()
    assert err <= tol, f"{what}: max abs diff {err:.3g} > {tol}"


def rope_config(**rope) -> LlamaConfig:
    """A LlamaConfig carrying only what LlamaRotaryEmbedding reads (transformers 5 and 4)."""
    base = dict(hidden_size=64, num_attention_heads=4, head_dim=16, max_position_embeddings=131072)
    if hasattr(LlamaConfig(), "rope_parameters"):  # transformers >= 5
        return LlamaConfig(**base, rope_parameters=rope)
    legacy = {k: v for k, v in rope.items() if k != "rope_theta"}
    return LlamaConfig(**base, rope_theta=rope["rope_theta"],
                       rope_scaling=legacy if legacy.get("rope_type", "default") != "default" else None)


def attention_config(cls, **extra):
    kwargs = dict(ATTN, max_position_embeddings=64, attn_implementation="eager", **extra)
    if hasattr(cls(), "rope_parameters"):
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": ROPE_THETA}
    else:
        kwargs["rope_theta"] = ROPE_THETA
    return cls(**kwargs)


# --------------------------------------------------------------------------

def make_linear() -> None:
    x, w, b = torch.randn(2, 5, 7), torch.randn(4, 7), torch.randn(4)
    out = F.linear(x.double(), w.double(), b.double())
    check(out, F.linear(x, w, b), "linear")
    put("linear", x=x, weight=w, bias=b, out=f32(out))


def make_embedding() -> None:
    w = torch.randn(11, 6)
    ids = torch.randint(0, 11, (2, 3), dtype=torch.int64)
    put("embedding", weight=w, ids=ids, out=F.embedding(ids, w))


def make_rmsnorm() -> None:
    x = torch.randn(2, 3, 8)
    w = 1 + 0.1 * torch.randn(8)
    out = w.double() * (x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + RMS_EPS))
    module = LlamaRMSNorm(8, eps=RMS_EPS)
    with torch.no_grad():
        module.weight.copy_(w)
    check(out, module(x), "rmsnorm")
    put("rmsnorm", x=x, weight=w, out=f32(out))

    # bf16: exactly what a bf16 HF model does (float32 statistics, bf16 rounding twice).
    module_bf16 = module.to(torch.bfloat16)
    x_bf16 = x.to(torch.bfloat16)
    out_bf16 = module_bf16(x_bf16)
    assert out_bf16.dtype == torch.bfloat16
    check(out, out_bf16, "rmsnorm_bf16", tol=0.1)
    put("rmsnorm_bf16", x=x_bf16, weight=module_bf16.weight, out=out_bf16)
    metadata["rmsnorm.eps"] = repr(RMS_EPS)


def make_layernorm() -> None:
    x = torch.randn(2, 3, 8)
    w = 1 + 0.1 * torch.randn(8)
    b = 0.1 * torch.randn(8)
    out = F.layer_norm(x.double(), (8,), w.double(), b.double(), LN_EPS)
    check(out, F.layer_norm(x, (8,), w, b, LN_EPS), "layernorm")
    put("layernorm", x=x, weight=w, bias=b, out=f32(out))
    metadata["layernorm.eps"] = repr(LN_EPS)


def make_rope(prefix: str, rope: dict) -> None:
    q = torch.randn(1, 4, 5, 16)
    k = torch.randn(1, 2, 5, 16)
    positions = torch.tensor([3, 4, 5, 6, 7], dtype=torch.int64)
    rotary = LlamaRotaryEmbedding(rope_config(**rope))
    assert rotary.attention_scaling == 1.0
    cos, sin = rotary(q, positions[None])  # float32, [1, 5, 16]
    q_out, k_out = apply_rotary_pos_emb(q.double(), k.double(), cos.double(), sin.double())
    q32, k32 = apply_rotary_pos_emb(q, k, cos, sin)
    check(q_out, q32, f"{prefix}.q_out")
    check(k_out, k32, f"{prefix}.k_out")
    # Independent float64 check of the rotate-half formula.
    half = torch.cat((-q.double()[..., 8:], q.double()[..., :8]), -1)
    check(q_out, q.double() * cos.double()[:, None] + half * sin.double()[:, None], f"{prefix} formula", 1e-12)
    put(prefix, q=q, k=k, positions=positions, inv_freq=rotary.inv_freq.to(F32),
        cos=cos[0], sin=sin[0], q_out=f32(q_out), k_out=f32(k_out))
    for key, value in rope.items():
        metadata[f"{prefix}.{key}"] = str(value)
    metadata[f"{prefix}.head_dim"] = "16"


def reference_attention(x, wq, wk, wv, wo, bq=None, bk=None, bv=None):
    """Independent float64 GQA attention (float64 rope too), for cross-checking HF."""
    x = x.double()
    b, s, _ = x.shape
    h, kvh, d = ATTN["num_attention_heads"], ATTN["num_key_value_heads"], ATTN["head_dim"]
    q = F.linear(x, wq.double(), None if bq is None else bq.double()).view(b, s, h, d).transpose(1, 2)
    k = F.linear(x, wk.double(), None if bk is None else bk.double()).view(b, s, kvh, d).transpose(1, 2)
    v = F.linear(x, wv.double(), None if bv is None else bv.double()).view(b, s, kvh, d).transpose(1, 2)
    inv_freq = 1.0 / ROPE_THETA ** (torch.arange(0, d, 2, dtype=F64) / d)
    ang = torch.arange(s, dtype=F64)[:, None] * inv_freq[None]
    ang = torch.cat((ang, ang), -1)
    cos, sin = ang.cos(), ang.sin()
    rot = lambda t: t * cos + torch.cat((-t[..., d // 2:], t[..., :d // 2]), -1) * sin  # noqa: E731
    q, k = rot(q), rot(k)
    k, v = k.repeat_interleave(h // kvh, 1), v.repeat_interleave(h // kvh, 1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    scores = scores.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, h * d)
    return F.linear(out, wo.double())


def run_hf_attention(module, rotary_cls, x, dtype):
    module = module.to(dtype)
    xs = x.to(dtype)
    b, s, _ = x.shape
    positions = torch.arange(s)[None].expand(b, s)
    rotary = rotary_cls(module.config)
    cos, sin = rotary(xs, positions)
    mask = torch.full((s, s), torch.finfo(F32).min, dtype=dtype).triu(1)[None, None].expand(b, 1, s, s)
    with torch.no_grad():
        out, _ = module(xs, position_embeddings=(cos, sin), attention_mask=mask)
    return out


def make_attention(prefix: str, cls, rotary_cls, config, with_bias: bool) -> None:
    module = cls(config, layer_idx=0).eval()
    x = torch.randn(2, 6, 32)
    with torch.no_grad():  # deterministic weights drawn from the global generator
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            lin = getattr(module, name)
            lin.weight.copy_(torch.randn_like(lin.weight) / math.sqrt(lin.in_features))
            if lin.bias is not None:
                lin.bias.copy_(0.1 * torch.randn_like(lin.bias))
    assert (module.q_proj.bias is not None) == with_bias and module.o_proj.bias is None
    params = {f"{n}.weight": getattr(module, n).weight.detach().clone()
              for n in ("q_proj", "k_proj", "v_proj", "o_proj")}
    if with_bias:
        params.update({f"{n}.bias": getattr(module, n).bias.detach().clone()
                       for n in ("q_proj", "k_proj", "v_proj")})
    out = run_hf_attention(module, rotary_cls, x, F64)
    out32 = run_hf_attention(module, rotary_cls, x, F32)
    check(out, out32, prefix)
    independent = reference_attention(x, params["q_proj.weight"], params["k_proj.weight"],
                                      params["v_proj.weight"], params["o_proj.weight"],
                                      params.get("q_proj.bias"), params.get("k_proj.bias"),
                                      params.get("v_proj.bias"))
    check(out, independent, f"{prefix} vs independent", 1e-6)
    put(prefix, x=x, out=f32(out), **params)
    metadata[f"{prefix}.module"] = f"transformers.{cls.__name__}"
    metadata[f"{prefix}.config"] = json.dumps(
        dict(ATTN, attention_bias=with_bias, o_proj_bias=False, rope_theta=ROPE_THETA,
             positions="0..S-1", mask="causal, additive finfo(float32).min", attn_implementation="eager"),
        sort_keys=True)


def make_mlp() -> None:
    config = LlamaConfig(hidden_size=32, intermediate_size=48, hidden_act="silu", mlp_bias=False)
    module = LlamaMLP(config)
    x = torch.randn(2, 6, 32)
    with torch.no_grad():
        for name in ("gate_proj", "up_proj", "down_proj"):
            lin = getattr(module, name)
            lin.weight.copy_(torch.randn_like(lin.weight) / math.sqrt(lin.in_features))
    with torch.no_grad():
        out32 = module(x)
        out = module.double()(x.double())
    check(out, out32, "mlp")
    put("mlp", x=x, out=f32(out), **{f"{n}.weight": getattr(module, n).weight.float()
                                     for n in ("gate_proj", "up_proj", "down_proj")})
    metadata["mlp.config"] = json.dumps(
        {"hidden_size": 32, "intermediate_size": 48, "hidden_act": "silu", "mlp_bias": False}, sort_keys=True)


def make_cross_entropy() -> None:
    logits = 2 * torch.randn(6, 10)
    targets = torch.randint(0, 10, (6,), dtype=torch.int64)
    targets[1] = -100
    targets[4] = -100
    loss = F.cross_entropy(logits.double(), targets, ignore_index=-100)
    losses = F.cross_entropy(logits.double(), targets, ignore_index=-100, reduction="none")
    check(loss, F.cross_entropy(logits, targets), "cross_entropy")
    check(loss, losses.sum() / (targets != -100).sum(), "cross_entropy mean", 1e-12)
    put("cross_entropy", logits=logits, targets=targets, loss=f32(loss), losses=f32(losses))
    metadata["cross_entropy.ignore_index"] = "-100"
    metadata["cross_entropy.reduction"] = "mean over non-ignored targets"


def sort_metadata_in_place(path: Path) -> None:
    """Make the file byte-reproducible.

    ``save_file`` writes ``__metadata__`` in (random) hash-map order; rewrite the
    header with the metadata keys sorted. The header keeps its length (same
    keys, same compact JSON), so tensor data offsets are unaffected.
    """
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    ordered = {"__metadata__": dict(sorted(header.pop("__metadata__", {}).items()))}
    ordered.update(header)
    text = json.dumps(ordered, separators=(",", ":")).encode("ascii")
    if len(text) <= n:
        path.write_bytes(raw[:8] + text.ljust(n, b" ") + raw[8 + n:])


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # single-threaded reductions: fully reproducible
    make_linear()
    make_embedding()
    make_rmsnorm()
    make_layernorm()
    make_rope("rope", {"rope_type": "default", "rope_theta": ROPE_THETA})
    make_rope("rope_llama3", LLAMA3_ROPE)
    make_attention("attention", LlamaAttention, LlamaRotaryEmbedding,
                   attention_config(LlamaConfig, attention_bias=False), False)
    make_attention("attention_bias", Qwen2Attention, Qwen2RotaryEmbedding,
                   attention_config(Qwen2Config), True)
    make_mlp()
    make_cross_entropy()

    for name, t in tensors.items():
        assert t.dtype in (F32, torch.int64, torch.bfloat16), (name, t.dtype)
        assert not t.is_floating_point() or torch.isfinite(t.float()).all(), name
    metadata.update({
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "seed": "0",
        "generator": "Tests/NNTests/Fixtures/make_nn_reference.py",
    })
    save_file(dict(sorted(tensors.items())), str(OUT), metadata=metadata)
    sort_metadata_in_place(OUT)
    print(f"wrote {OUT} ({len(tensors)} tensors, {OUT.stat().st_size} bytes)")
    for name, t in sorted(tensors.items()):
        print(f"  {name:34s} {str(t.dtype).removeprefix('torch.'):9s} {list(t.shape)}")


if __name__ == "__main__":
    main()
