#!/usr/bin/env python3
"""HF `tokenizers` peer of ``memorag bench tokenize``.

Runs ONE case and prints ONE JSON line (the protocol of ``torch_ops.py``)::

    python hf_tokenize.py --case smollm2|minilm --file TEXT [--repeats N] [--threads T]

``smollm2``: the SmolLM2 tokenizer (checkpoints/memorag-smollm2-135m/tokenizer.json) encodes the whole file as
one string (no special tokens). ``minilm``: all-MiniLM-L6-v2's WordPiece encodes the file as one string. Metric:
MB/s of UTF-8 input (higher is better). One warm-up encode first. ``RAYON_NUM_THREADS`` is set to the thread count.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag"))
TOKENIZERS = {
    "smollm2": os.path.join(ROOT, "checkpoints", "memorag-smollm2-135m", "tokenizer.json"),
    "minilm": os.path.join(CACHE, "models", "all-MiniLM-L6-v2", "tokenizer.json"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=sorted(TOKENIZERS))
    parser.add_argument("--file", required=True)
    parser.add_argument("--dtype", default="f32")  # protocol compatibility; unused
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    import tokenizers
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(TOKENIZERS[args.case])
    tok.no_truncation()
    tok.no_padding()
    text = open(args.file, encoding="utf-8").read()
    megabytes = len(text.encode("utf-8")) / 1e6
    tok.encode(text, add_special_tokens=False)
    values = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        tok.encode(text, add_special_tokens=False)
        values.append(megabytes / (time.perf_counter() - start))
    print(json.dumps({"case": args.case, "dtype": args.dtype, "metric": "mb_per_s",
                      "values": [float(f"{v:.6g}") for v in values], "impl": "hf-tokenizers",
                      "torch": f"tokenizers {tokenizers.__version__}", "threads": args.threads, "inner": 1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
