#!/usr/bin/env python3
"""llama.cpp peer of ``memorag bench generate``: SmolLM2-135M-Instruct from the same GGUF, run by llama.cpp.

Runs ONE case and prints ONE JSON line (the protocol of ``torch_ops.py`` / ``hf_generate.py``)::

    python llamacpp_generate.py --case prefill|decode [--dtype f32|bf16] [--repeats N] [--threads T] [--model DIR|FILE]

Needs the venv of ``scripts/llamacpp-venv.sh`` (llama-cpp-python built from its sdist, CPU only,
``-DGGML_NATIVE=ON -DGGML_OPENMP=ON``).

DTYPE DIFFERS FROM OURS: llama.cpp runs the Q4_1 GGUF *natively quantised* -- its matmuls read the
4-bit weights directly (activations quantised on the fly to 8 bit for the dot products), instead of
dequantising them to f32/bf16 as we and transformers do. ``--dtype`` is accepted for protocol
compatibility but ignored; the JSON line always reports ``"dtype": "q4_1"``.

Cases (same prompts and counting as our worker and ``hf_generate.py``), driven through the
low-level ``Llama.eval`` / ``Llama.reset`` API so exactly the model work is timed:

``prefill`` (tokens_per_s)
    One ``eval`` of a 512-token prompt (one batch: ``n_batch = 512``), logits computed for the last
    position only (``logits_all=False``), after ``reset()`` (empty KV cache each time); prompt ids
    ``(i * 7919 + 13) % 49152``. tokens/s = 512 / t.
``decode`` (tokens_per_s)
    Greedy generation of 64 new tokens after a 32-token prompt (same id rule), with the KV cache, no
    EOS stop. The prompt ``eval`` is not timed; the clock runs from the end of it until the 64th token
    is picked: 64 argmaxes over the last logits and 63 single-token ``eval`` calls (the last token is
    not fed back, as in our ``DecoderLM.generate`` and in ``transformers`` ``generate``).
    tokens/s = 64 / t.

``n_ctx = 1024``, ``n_threads = n_threads_batch = --threads``, one warm-up run before the repeats.
``OMP_WAIT_POLICY=passive`` is set before ``llama_cpp`` is imported (as for the torch peers) unless
the environment already sets it; the policy in force is echoed in the JSON line's ``torch`` field.
CAUTION: in an OpenMP build ggml synchronises its threads between graph ops with OpenMP barriers, so
``passive`` (threads sleep at every barrier) costs llama.cpp a lot when decoding one token at a time:
on the 2-core dev box, 2 threads, decode ~25 tok/s passive vs ~97 tok/s with ``OMP_WAIT_POLICY=active``
(prefill ~247 vs ~256 tok/s; 1 thread ~55 tok/s either way).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import llama_cpp  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
VOCAB = 49152


def prompt(n: int) -> list[int]:
    return [(i * 7919 + 13) % VOCAB for i in range(n)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=["prefill", "decode"])
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16"],
                        help="ignored: llama.cpp runs the Q4_1 weights natively (reported as q4_1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default=os.path.join(
        os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag")), "models", "smollm2-135m-instruct"),
        help="model directory holding the GGUF, or the .gguf file itself")
    args = parser.parse_args(argv)
    path = args.model if args.model.endswith(".gguf") else os.path.join(args.model, GGUF)

    llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=args.threads,
                          n_threads_batch=args.threads, logits_all=False, verbose=False)
    n_vocab = llm.n_vocab()

    def next_token() -> int:
        # logits of the last evaluated position (the only one computed with logits_all=False)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,))
        return int(np.argmax(logits))

    def prefill_time(ids) -> float:
        llm.reset()
        start = time.perf_counter()
        llm.eval(ids)
        return time.perf_counter() - start

    def decode_time(ids, new_tokens: int = 64) -> float:
        llm.reset()
        llm.eval(ids)
        out = []
        start = time.perf_counter()
        while True:
            token = next_token()
            out.append(token)
            if len(out) == new_tokens:
                break
            llm.eval([token])
        return time.perf_counter() - start

    values = []
    if args.case == "prefill":
        ids = prompt(512)
        prefill_time(ids)  # warm-up
        values = [512 / prefill_time(ids) for _ in range(args.repeats)]
    else:
        ids = prompt(32)
        decode_time(ids)  # warm-up
        values = [64 / max(1e-9, decode_time(ids)) for _ in range(args.repeats)]
    print(json.dumps({"case": args.case, "dtype": "q4_1", "metric": "tokens_per_s",
                      "values": [float(f"{v:.6g}") for v in values], "impl": "llama.cpp",
                      "torch": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp CPU, native Q4_1, "
                               f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')})",
                      "threads": args.threads, "inner": 1}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
