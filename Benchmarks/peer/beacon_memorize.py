#!/usr/bin/env python3
"""Activation Beacon reference peer of ``memorag bench memorize``.

Runs ONE case and prints ONE JSON line (the protocol of ``torch_ops.py``, plus ``peak_rss_mb``)::

    python beacon_memorize.py --case r4_8k|train_r8_2k --model DIR --reference SRC [--repeats N] [--threads T]
                              [--device cpu|cuda] [--dtype f32|bf16]

``SRC`` is FlagEmbedding's ``research/Long_LLM/activation_beacon/src`` (extracted with ``git archive``; never copied
into this repository); ``DIR`` the bench model (SmolLM2-135M as HF safetensors with beacon keys and no beacon
tensors, so the reference initialises them from the EOS embedding and the plain projections, as we do). Its
``config.json`` picks the reference's Llama or Qwen2 class. On CUDA (the GPU check, ``Benchmarks/gpu/check.sh``)
the model runs in ``--dtype`` with the reference's sdpa attention, each timing ends with a device synchronise, and
``peak_rss_mb`` is the peak of allocated device memory instead.

Cases (our worker does exactly the same):

``rR_Nk`` (tokens_per_s)
    Memorize N×1024 tokens, ids ``(i * 7919 + 13) % 49152``, at the fixed ratio R: one forward call in eval mode
    under ``torch.no_grad()`` on a fresh memory (the reference's window loop; it also computes lm_head logits for
    every window, which is part of its cost). tokens/s = tokens / t.
``train_rR_Nk`` (tokens_per_s)
    One training step on an N×1024-token sample at ratio R: ``model(input_ids, labels=input_ids).loss.backward()``
    with only the beacon parameters trainable. tokens/s = tokens / t.
``recompute_rR_Nk`` (tokens_per_s)
    The same step with the reference's per-layer gradient checkpointing (``gradient_checkpointing_enable``); ours
    recomputes window by window (``beaconLossBackward``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import types

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402


def parse_case(name):
    recompute = name.startswith("recompute_")
    training = recompute or name.startswith("train_")
    body = name[10:] if recompute else name[6:] if training else name
    ratio, size = body.split("_")
    return int(ratio[1:]), int(size[:-1]) * 1024, training, recompute


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True)
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", required=True)
    parser.add_argument("--reference", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    package = types.ModuleType("beaconref")
    package.__path__ = [os.path.abspath(args.reference)]
    sys.modules["beaconref"] = package
    model_type = json.load(open(os.path.join(args.model, "config.json")))["model_type"]
    if model_type == "qwen2":
        from beaconref.qwen2.modeling_qwen2 import Qwen2ForCausalLM as ReferenceForCausalLM  # noqa: E402
    else:
        from beaconref.llama.modeling_llama import LlamaForCausalLM as ReferenceForCausalLM  # noqa: E402

    ratio, tokens, training, recompute = parse_case(args.case)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = ReferenceForCausalLM.from_pretrained(args.model, torch_dtype=dtype, attn_implementation="sdpa").to(device)
    model.memory.set(verbose=False, beacon_ratio=[ratio])
    ids = torch.tensor([[(i * 7919 + 13) % 49152 for i in range(tokens)]], device=device)

    def elapsed(start):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start
    values = []
    if training:
        for name, p in model.named_parameters():
            p.requires_grad_("beacon" in name)
        if recompute:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        for _ in range(args.repeats):
            model.memory.reset()
            start = time.perf_counter()
            model(input_ids=ids, labels=ids).loss.backward()
            values.append(tokens / elapsed(start))
            model.zero_grad(set_to_none=True)
    else:
        model.eval()
        with torch.no_grad():
            for _ in range(args.repeats):
                model.memory.reset()
                start = time.perf_counter()
                model(input_ids=ids)
                values.append(tokens / elapsed(start))
    print(json.dumps({"case": args.case, "dtype": args.dtype, "metric": "tokens_per_s",
                      "values": [float(f"{v:.6g}") for v in values], "impl": "activation_beacon reference",
                      "torch": f"{torch.__version__} / transformers {transformers.__version__}",
                      "threads": args.threads, "inner": 1,
                      "device": args.device,
                      "peak_rss_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
