#!/usr/bin/env python3
"""PyTorch eager peer of ``memorag bench train``: one causal-LM training step of SmolLM2-135M-Instruct, loaded by
transformers from the same GGUF.

Runs ONE case and prints ONE JSON line (the protocol of ``torch_ops.py``)::

    python torch_train.py --case lm_step|matmul_peak [--dtype f32|bf16] [--repeats N] [--threads T] [--model DIR]
                          [--adamw single|fused]

Cases (our worker, ``memorag bench train-worker``, does exactly the same work):

``lm_step`` (tokens_per_s)
    Every parameter trains. Sample: one sequence of 256 ids ``(i * 7919 + 13) % 49152``. One step =
    forward -> logits [1, 256, V]; loss = cross_entropy(logits[:, :-1] as float32, ids[:, 1:], reduction=sum);
    backward; gradients multiplied by 1/255 (the token-mean, as our trainer does); clip_grad_norm_(1.0);
    AdamW (lr 1e-5, betas 0.9/0.95, weight decay 0.1 except biases and norm weights, eps 1e-8; the single-tensor
    path, PyTorch's default for CPU parameters, or with ``--adamw fused`` its fused CPU kernel, ``fused=True``);
    zero_grad(set_to_none=True). Two warm-up steps, then one step per repeat: tokens/s = 256 / t.
``matmul_peak`` (gflops)
    ``A @ B`` with A, B = randn(2048, 2048) in the case dtype; warm-up 2 ops, then each repeat times 5 ops:
    GFLOP/s = 2 * 2048^3 * 5 / t / 1e9. The yardstick for model FLOP utilisation.

Weights are dequantised by transformers to float32, then cast to bf16 for ``--dtype bf16`` (pure bf16 training:
weights, gradients and AdamW moments all bf16, as in our trainer with dtype=bf16).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
VOCAB = 49152
LENGTH = 256


def lm_step(args, dtype) -> list[float]:
    model = AutoModelForCausalLM.from_pretrained(args.model, gguf_file=GGUF, torch_dtype=torch.float32)
    model = model.to(dtype).train()
    for p in model.parameters():
        p.requires_grad_(True)
    named = [(n, p) for n, p in model.named_parameters()]
    decay = [p for n, p in named if not (n.endswith(".bias") or n.endswith("norm.weight"))]
    no_decay = [p for n, p in named if n.endswith(".bias") or n.endswith("norm.weight")]
    params = [p for _, p in named]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-5, betas=(0.9, 0.95), eps=1e-8,
                                  **({"fused": True} if args.adamw == "fused" else {"foreach": False}))
    ids = torch.tensor([[(i * 7919 + 13) % VOCAB for i in range(LENGTH)]])

    def step() -> float:
        start = time.perf_counter()
        logits = model(input_ids=ids, use_cache=False).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1),
                               reduction="sum")
        loss.backward()
        for p in params:
            if p.grad is not None:
                p.grad.mul_(1.0 / (LENGTH - 1))
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    step()
    step()
    return [LENGTH / step() for _ in range(args.repeats)]


def matmul_peak(args, dtype) -> list[float]:
    torch.manual_seed(0)
    a = torch.randn(2048, 2048).to(dtype)
    b = torch.randn(2048, 2048).to(dtype)
    for _ in range(2):
        a @ b
    values = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        values.append(2 * 2048 ** 3 * 5 / (time.perf_counter() - start) / 1e9)
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=["lm_step", "matmul_peak"])
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--adamw", default="single", choices=["single", "fused"])
    parser.add_argument("--model", default=os.path.join(
        os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag")), "models", "smollm2-135m-instruct"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    if args.case == "lm_step":
        metric, values = "tokens_per_s", lm_step(args, dtype)
    else:
        metric, values = "gflops", matmul_peak(args, dtype)
    print(json.dumps({"case": args.case, "dtype": args.dtype, "metric": metric,
                      "values": [float(f"{v:.6g}") for v in values], "impl": "pytorch-eager" + ("-fused-adamw" if args.adamw == "fused" else ""),
                      "torch": f"{torch.__version__} / transformers {transformers.__version__}",
                      "threads": args.threads, "inner": 1}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
