#!/usr/bin/env python3
"""transformers peer of ``memorag bench start``: SmolLM2-135M-Instruct loaded from the same GGUF in a fresh process.

Prints ONE JSON line::

    python hf_load.py [--threads T] [--model DIR] [--spawned-at SECONDS_SINCE_1970]

``load_s``
    ``AutoModelForCausalLM.from_pretrained(DIR, gguf_file=..., torch_dtype=torch.float32)`` alone: transformers
    reads the GGUF and dequantises every tensor to float32 (what ours does on its slow path, before the beacon delta,
    int8 packing and the fingerprint).
``ready_s``
    From the driver's spawn (``--spawned-at``) to the model being ready: interpreter start and the imports of torch
    and transformers included.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default=os.path.join(
        os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag")), "models", "smollm2-135m-instruct"))
    parser.add_argument("--spawned-at", type=float, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, gguf_file=GGUF, torch_dtype=torch.float32).eval()
    load = time.perf_counter() - start
    ready = time.time() - args.spawned_at if args.spawned_at is not None else load
    assert model.config.num_hidden_layers == 30
    print(json.dumps({"load_s": load, "ready_s": ready, "route": "from_pretrained",
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "impl": f"transformers {transformers.__version__} / torch {torch.__version__}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
