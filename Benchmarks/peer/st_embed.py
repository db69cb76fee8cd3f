#!/usr/bin/env python3
"""sentence-transformers peer of ``memorag bench embed``.

Runs ONE case and prints ONE JSON line (the protocol of ``torch_ops.py``)::

    python st_embed.py --case embed --texts CHUNKS_JSON [--batch-size 32] [--repeats N] [--threads T]

``embed``: all-MiniLM-L6-v2 (the PyPI package's copy under the cache dir, the same files our embedder reads)
encodes every text of CHUNKS_JSON (a JSON list of strings) with ``SentenceTransformer.encode`` (its own length
sort, batching, truncation to 256 word pieces, mean pooling, normalisation), fp32 on the CPU with T intra-op
threads. Metric: texts per second (higher is better). One warm-up batch first. Run with OMP_WAIT_POLICY=passive,
as the driver does.
"""
import argparse
import json
import os
import sys
import time

CACHE = os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag"))
MODEL = os.path.join(CACHE, "models", "all-MiniLM-L6-v2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=["embed"])
    parser.add_argument("--texts", required=True)
    parser.add_argument("--dtype", default="f32", choices=["f32"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts = json.load(open(args.texts, encoding="utf-8"))
    model = SentenceTransformer(MODEL, device="cpu")
    model.eval()
    with torch.inference_mode():
        model.encode(texts[: args.batch_size], batch_size=args.batch_size)
        values = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
            values.append(len(texts) / (time.perf_counter() - start))
    print(json.dumps({"case": args.case, "dtype": args.dtype, "metric": "chunks_per_s",
                      "values": [float(f"{v:.6g}") for v in values], "impl": "sentence-transformers",
                      "torch": f"{torch.__version__}, sentence-transformers {sentence_transformers.__version__}",
                      "threads": args.threads, "inner": len(texts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
