#!/usr/bin/env python3
"""transformers peer of ``memorag bench generate``: SmolLM2-135M-Instruct loaded from the same GGUF.

Runs ONE case and prints ONE JSON line (the protocol of ``torch_ops.py``)::

    python hf_generate.py --case prefill|decode [--dtype f32|bf16|int8] [--repeats N] [--threads T] [--model DIR]

Cases (our worker does exactly the same):

``prefill`` (tokens_per_s)
    One forward pass over a 512-token prompt, logits kept for the last position only
    (``logits_to_keep=1``), no cache kept; prompt ids ``(i * 7919 + 13) % 49152``.
    tokens/s = 512 / t.
``decode`` (tokens_per_s)
    Greedy generation of 64 new tokens after a 32-token prompt (same id rule), with the KV
    cache, no EOS stop (``min_new_tokens = max_new_tokens = 64``); the prefill is timed
    separately and subtracted: tokens/s = 64 / (t_generate - t_prefill_alone).

Weights are dequantised by transformers to float32, then cast to bf16 for ``--dtype bf16``; ``--dtype int8``
applies PyTorch's dynamic quantization (``torch.ao.quantization.quantize_dynamic``, per-channel int8 weights,
fbgemm) to every ``nn.Linear``, lm_head included: the same kernels as ours, with one activation scale per call
where ours groups rows by magnitude (more accurate, slightly more work in prefill).
Plain eager, ``torch.inference_mode()`` (what a serving stack would use).
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
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
VOCAB = 49152


def prompt(n: int) -> torch.Tensor:
    return torch.tensor([[(i * 7919 + 13) % VOCAB for i in range(n)]])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=["prefill", "decode"])
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16", "int8"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default=os.path.join(
        os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag")), "models", "smollm2-135m-instruct"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "int8": torch.float32}[args.dtype]
    model = AutoModelForCausalLM.from_pretrained(args.model, gguf_file=GGUF, torch_dtype=torch.float32)
    model = model.to(dtype).eval()
    if args.dtype == "int8":
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())  # untie, as ours packs it
        model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)

    def prefill_time(ids) -> float:
        start = time.perf_counter()
        model(ids, logits_to_keep=1, use_cache=False)
        return time.perf_counter() - start

    values = []
    with torch.inference_mode():
        if args.case == "prefill":
            ids = prompt(512)
            prefill_time(ids)  # warm-up
            values = [512 / prefill_time(ids) for _ in range(args.repeats)]
        else:
            ids = prompt(32)
            kwargs = dict(attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=64,
                          min_new_tokens=64, pad_token_id=0)
            model.generate(ids, **kwargs)  # warm-up
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.generate(ids, **kwargs)
                total = time.perf_counter() - start
                values.append(64 / max(1e-9, total - prefill_time(ids)))
    print(json.dumps({"case": args.case, "dtype": args.dtype, "metric": "tokens_per_s",
                      "values": [float(f"{v:.6g}") for v in values], "impl": "transformers",
                      "torch": f"{torch.__version__} / transformers {transformers.__version__}",
                      "threads": args.threads, "inner": 1}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
