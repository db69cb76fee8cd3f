#!/usr/bin/env python3
"""PyTorch eager peer of ``memorag bench ops``.

Runs ONE benchmark case and prints ONE JSON line to stdout, so that the Swift
driver can interleave it with the Swift worker in rounds (A, B, A, B, ...) and
compare like with like. Everything else (warnings, diagnostics) goes to stderr.

Usage::

    PY=$(scripts/peer-venv.sh | tail -n1)
    $PY Benchmarks/peer/torch_ops.py --case CASE [--dtype f32|bf16] [--repeats N] [--threads T]

Output (one line)::

    {"case": CASE, "dtype": "f32", "metric": "gflops"|"us_per_op"|"tokens_per_s",
     "values": [v1, ..., vN], "impl": "pytorch-eager", "torch": "2.13.0+cpu",
     "threads": T, "inner": K}

``values`` holds one figure per timed repeat (higher is better for ``gflops``
and ``tokens_per_s``, lower is better for ``us_per_op``). ``inner`` is the
number of operations timed inside each repeat (20000 for ``overhead``, the
calibrated k for the matmul/attention cases, 1 step for ``llama_step``).

Common protocol
---------------
* ``torch.set_num_threads(T)``, T defaults to ``os.cpu_count()``.
* ``torch.manual_seed(0)`` before any tensor is created; inputs are drawn with
  ``torch.randn`` / ``torch.randint`` in float32 and then cast to the case dtype
  (``--dtype bf16`` -> ``torch.bfloat16``), so both dtypes see the same values
  up to rounding.
* Warm-up first, then ``--repeats`` timed repeats (``time.perf_counter``).
  Results are always dropped (out-of-place ops); CPU execution is synchronous,
  so no synchronisation is needed. Plain eager mode: no ``inference_mode`` /
  ``no_grad`` (no input requires grad, so autograd records nothing anyway).
* ``OMP_WAIT_POLICY`` defaults to ``passive`` (set before ``import torch``):
  with active spinning, parallel regions on the 2-core VMs stall for >= 8 ms.

Cases (the Swift side must do *exactly* the same work)
-------------------------------------------------------
``overhead`` (metric ``us_per_op``)
    ``a = torch.randn(1)``, ``b = torch.randn(1)`` (1-element tensors of the case
    dtype). One repeat times a Python loop of 20,000 ``c = a + b``
    (out-of-place, result dropped) and reports ``t / 20000`` in microseconds.
    Warm-up: one untimed loop of 20,000. This measures per-op dispatch cost.

``matmul_1024`` (metric ``gflops``)
    ``A = randn(1024, 1024)``, ``B = randn(1024, 1024)``; one op = ``A @ B``
    (a new [1024, 1024] result each time).
    Calibration: warm-up ops until at least 2 ops and 0.2 s, then ops are
    timed one by one until at least 0.1 s has elapsed; with ``t1`` the mean
    time of one op,
    ``k = max(1, round(0.3 / t1))`` (a repeat lasts ~0.3 s) and stays fixed.
    One repeat times a loop of k ops: GFLOP/s = 2*M*N*K*k / t / 1e9.

``matmul_4096x576x1536`` (metric ``gflops``)
    ``A = randn(4096, 576)``, ``B = randn(576, 1536)``; one op = ``A @ B``
    (M=4096, K=576, N=1536). Same calibration and formula as ``matmul_1024``.

``attention_smollm2`` (metric ``gflops``)
    ``q, k, v = randn(9, 1024, 64)`` each (9 heads of SmolLM2-135M, 1024 tokens,
    head dim 64; drawn in that order). One op::

        s = torch.bmm(q, k.transpose(1, 2)) * 0.125   # [9, 1024, 1024]
        p = torch.softmax(s, -1)
        o = torch.bmm(p, v)                           # [9, 1024, 64]

    No mask. Same calibration as the matmuls; only the two bmm's are counted:
    flops per op = 2 * (2 * 9 * 1024 * 1024 * 64).

``llama_step`` (metric ``tokens_per_s``)
    Forward + backward (no optimizer step) of a small Llama, written out below in
    plain torch (``TinyLlama``), batch 4 x seq 512:

    * vocab 8192, hidden 384, 6 layers, 6 attention heads of dim 64, 2 KV heads
      (GQA: K/V ``repeat_interleave``-d by 3 along the head dim to 6 heads),
      SwiGLU MLP with intermediate 1024: ``down(silu(gate(x)) * up(x))``;
      no biases anywhere.
    * RMSNorm, eps 1e-5, HF ``LlamaRMSNorm`` semantics: computed in float32,
      ``x * rsqrt(mean(x^2, -1) + eps)``, cast back to the input dtype, then
      multiplied by the weight.
    * Pre-norm blocks: ``h = h + attn(norm1(h)); h = h + mlp(norm2(h))``;
      final norm; untied ``lm_head`` [8192, 384].
    * RoPE, HF rotate-half convention, theta 10000, positions 0..511:
      ``inv_freq = 1 / theta^(arange(0, 64, 2) / 64)`` (float32),
      ``emb = cat(pos * inv_freq, pos * inv_freq)``, ``cos/sin`` of ``emb`` cast
      to the model dtype, ``x * cos + rotate_half(x) * sin`` with
      ``rotate_half(x) = cat(-x[..., 32:], x[..., :32])``; applied to q and k
      before the GQA repeat.
    * Attention: ``F.scaled_dot_product_attention(q, k, v, is_causal=True)``
      (scale 1/sqrt(64)), heads merged back, then ``o_proj``.
    * Init: ``torch.manual_seed(0)``; every Linear / Embedding weight
      ``normal_(0, 0.02)`` in module order (embed, then per layer q, k, v, o,
      gate, up, down, then lm_head); norm weights ones. Created in float32,
      then the whole model is cast with ``.to(torch.bfloat16)`` for
      ``--dtype bf16`` (parameters and activations in bf16).
    * Tokens: ``torch.randint(0, 8192, (4, 512))`` drawn right after the init.
    * Loss: ``F.cross_entropy(logits[:, :-1].reshape(-1, 8192),
      tokens[:, 1:].reshape(-1))`` (mean), computed in the logits' dtype.
    * One step = ``loss = model(tokens); loss.backward()``; it is timed alone,
      then ``model.zero_grad(set_to_none=True)`` runs untimed. 2 warm-up steps.
      tokens/s = 4 * 512 / t.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

# Must be set before torch (and its OpenMP runtime) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}

OVERHEAD_LOOP = 20_000
TARGET_REPEAT_S = 0.3  # calibrated duration of one matmul/attention repeat
WARMUP_S = 0.2  # minimum warm-up of the matmul/attention cases
CALIBRATION_MIN_S = 0.1  # minimum duration of the calibration measurement


# --------------------------------------------------------------------------
# Timing helpers
# --------------------------------------------------------------------------

def calibrate(op) -> int:
    """Warm up, then return k so that a loop of k ops takes ~TARGET_REPEAT_S."""
    start = time.perf_counter()
    for i in range(1_000_000):  # warm-up: >= 2 ops and >= WARMUP_S
        op()
        if i >= 1 and time.perf_counter() - start >= WARMUP_S:
            break
    n, start = 0, time.perf_counter()
    while True:
        op()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= CALIBRATION_MIN_S:
            break
    return max(1, round(TARGET_REPEAT_S / (elapsed / n)))


def time_loop(op, k: int) -> float:
    start = time.perf_counter()
    for _ in range(k):
        op()
    return time.perf_counter() - start


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def case_overhead(dtype, repeats):
    a = torch.randn(1).to(dtype)
    b = torch.randn(1).to(dtype)

    def loop() -> float:
        start = time.perf_counter()
        for _ in range(OVERHEAD_LOOP):
            c = a + b  # noqa: F841  (result dropped on purpose)
        return time.perf_counter() - start

    loop()  # warm-up
    values = [loop() / OVERHEAD_LOOP * 1e6 for _ in range(repeats)]
    return "us_per_op", values, OVERHEAD_LOOP


def gflops_case(op, flops_per_op, repeats):
    k = calibrate(op)
    values = [flops_per_op * k / time_loop(op, k) / 1e9 for _ in range(repeats)]
    return "gflops", values, k


def case_matmul(m, k_dim, n, dtype, repeats):
    a = torch.randn(m, k_dim).to(dtype)
    b = torch.randn(k_dim, n).to(dtype)
    return gflops_case(lambda: a @ b, 2 * m * n * k_dim, repeats)


def case_attention_smollm2(dtype, repeats):
    heads, seq, head_dim = 9, 1024, 64
    q = torch.randn(heads, seq, head_dim).to(dtype)
    k = torch.randn(heads, seq, head_dim).to(dtype)
    v = torch.randn(heads, seq, head_dim).to(dtype)

    def op():
        s = torch.bmm(q, k.transpose(1, 2)) * 0.125
        p = torch.softmax(s, -1)
        return torch.bmm(p, v)

    flops = 2 * (2 * heads * seq * seq * head_dim)
    return gflops_case(op, flops, repeats)


# --------------------------------------------------------------------------
# Tiny Llama (plain torch, mirrored by the Swift side)
# --------------------------------------------------------------------------

VOCAB, HIDDEN, LAYERS = 8192, 384, 6
HEADS, KV_HEADS, HEAD_DIM = 6, 2, 64
INTERMEDIATE = 1024
RMS_EPS = 1e-5
ROPE_THETA = 10000.0
BATCH, SEQ = 4, 512


class RMSNorm(nn.Module):
    """HF LlamaRMSNorm: normalise in float32, cast back, then scale."""

    def __init__(self, dim: int, eps: float = RMS_EPS):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = HEADS // KV_HEADS
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        o = o.transpose(1, 2).reshape(b, s, HEADS * HEAD_DIM)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(HIDDEN, INTERMEDIATE, bias=False)
        self.up_proj = nn.Linear(HIDDEN, INTERMEDIATE, bias=False)
        self.down_proj = nn.Linear(INTERMEDIATE, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm(HIDDEN)
        self.self_attn = Attention()
        self.post_attention_layernorm = RMSNorm(HIDDEN)
        self.mlp = MLP()

    def forward(self, h, cos, sin):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class TinyLlama(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(HIDDEN)
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)
        # Deterministic init, in module registration order.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
        freqs = torch.arange(SEQ, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)  # [SEQ, HEAD_DIM]
        # Buffers follow .to(dtype), i.e. cos/sin are cast to the model dtype.
        self.register_buffer("rope_cos", emb.cos(), persistent=False)
        self.register_buffer("rope_sin", emb.sin(), persistent=False)

    def forward(self, tokens):
        s = tokens.shape[1]
        cos, sin = self.rope_cos[:s], self.rope_sin[:s]
        h = self.embed_tokens(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin)
        logits = self.lm_head(self.norm(h))
        return F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))


def case_llama_step(dtype, repeats):
    model = TinyLlama().to(dtype)
    tokens = torch.randint(0, VOCAB, (BATCH, SEQ))

    def step() -> float:
        start = time.perf_counter()
        loss = model(tokens)
        loss.backward()
        elapsed = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        return elapsed

    step()  # warm-up (2 steps)
    step()
    values = [BATCH * SEQ / step() for _ in range(repeats)]
    return "tokens_per_s", values, 1


CASES = {
    "overhead": case_overhead,
    "matmul_1024": lambda dt, r: case_matmul(1024, 1024, 1024, dt, r),
    "matmul_4096x576x1536": lambda dt, r: case_matmul(4096, 576, 1536, dt, r),
    "attention_smollm2": case_attention_smollm2,
    "llama_step": case_llama_step,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    metric, values, inner = CASES[args.case](DTYPES[args.dtype], args.repeats)

    values = [float(f"{v:.6g}") for v in values]
    assert all(math.isfinite(v) for v in values), values
    print(json.dumps({
        "case": args.case,
        "dtype": args.dtype,
        "metric": metric,
        "values": values,
        "impl": "pytorch-eager",
        "torch": torch.__version__,
        "threads": args.threads,
        "inner": inner,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
