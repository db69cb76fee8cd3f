#!/usr/bin/env python3
"""Reads a faiss index written by MemoRAG-Swift's ``VectorIndex.write`` with Python's faiss (faiss-cpu) and checks
that it holds what Swift says and searches the same.

    python check_faiss_index.py INDEX EXPECTED_JSON

EXPECTED_JSON: {"d": int, "ntotal": int, "metric": "ip"|"l2", "k": int, "queries": [[float]],
                "ids": [[int]], "scores": [[float]]} with Swift's search results for ``queries``.
Exits 0 when ids agree exactly and scores within 1e-4.
"""
import json
import sys

import faiss
import numpy as np


def main(index_path: str, expected_path: str) -> int:
    expected = json.load(open(expected_path))
    index = faiss.read_index(index_path)
    metric = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}[expected["metric"]]
    problems = []
    if index.d != expected["d"]:
        problems.append(f"d {index.d} != {expected['d']}")
    if index.ntotal != expected["ntotal"]:
        problems.append(f"ntotal {index.ntotal} != {expected['ntotal']}")
    if index.metric_type != metric:
        problems.append(f"metric {index.metric_type} != {metric}")
    queries = np.asarray(expected["queries"], dtype=np.float32)
    scores, ids = index.search(queries, expected["k"])
    if ids.tolist() != expected["ids"]:
        problems.append(f"ids differ:\n python {ids.tolist()}\n swift  {expected['ids']}")
    worst = float(np.max(np.abs(scores - np.asarray(expected["scores"], dtype=np.float32))))
    if worst > 1e-4:
        problems.append(f"scores differ by up to {worst}")
    print(f"faiss {faiss.__version__}: {type(index).__name__} d={index.d} ntotal={index.ntotal}; "
          f"max score difference {worst:.2e}")
    for p in problems:
        print("MISMATCH:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
