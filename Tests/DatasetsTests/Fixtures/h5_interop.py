"""h5py, the reference HDF5 reader, against MemoRAG-Swift's stores (run by DatasetsTests through runPythonCheck).

  h5_interop.py check-tokens FILE EXPECTED.json   # the pretraining store we wrote has exactly these contents
  h5_interop.py check-sft FILE EXPECTED.json      # the SFT store we wrote has exactly these contents
  h5_interop.py write-tokens FILE                 # writes a pretraining store with h5py for our reader

Exit status 0 when every check passes; each failure is printed.
"""
import json
import sys

import h5py
import numpy as np

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def attr_str(f, name):
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def check_tokens(path, expected_path):
    exp = json.load(open(expected_path))
    with h5py.File(path, "r") as f:
        expect(attr_str(f, "format") == "memorag.tokens", "format attribute")
        expect(int(f.attrs["version"]) == 1, "version attribute")
        expect(int(f.attrs["vocab_size"]) == exp["vocab_size"], "vocab_size")
        expect(attr_str(f, "tokenizer_sha256") == exp["tokenizer_sha256"], "tokenizer_sha256")
        expect([s.decode() if isinstance(s, bytes) else s for s in f.attrs["sources"]] == exp["sources"], "sources")
        t = f["tokens"]
        expect(t.dtype == np.uint32 and t.ndim == 1, f"tokens dtype {t.dtype}")
        expect(t.chunks is not None and t.compression == "gzip", f"tokens chunked+deflate ({t.chunks}, {t.compression})")
        o = f["doc_offsets"]
        expect(o.dtype == np.uint64 and o.shape == (len(exp["documents"]) + 1,), f"doc_offsets {o.dtype} {o.shape}")
        expect(int(f.attrs["n_tokens"]) == t.shape[0], "n_tokens")
        offsets = o[:]
        for i, doc in enumerate(exp["documents"]):
            got = t[offsets[i]:offsets[i + 1]].tolist()
            expect(got == doc, f"document {i}: {got[:8]}… != {doc[:8]}…")
        if "validation" in exp:
            expect(f["validation_documents"][:].tolist() == exp["validation"], "validation_documents")


def check_sft(path, expected_path):
    exp = json.load(open(expected_path))
    with h5py.File(path, "r") as f:
        expect(attr_str(f, "format") == "memorag.sft", "format attribute")
        ctx, off = f["contexts/tokens"], f["contexts/offsets"][:]
        expect(ctx.dtype == np.uint32 and off.dtype == np.uint64, "context dtypes")
        expect(len(off) == len(exp["contexts"]) + 1, "number of contexts")
        for i, c in enumerate(exp["contexts"]):
            expect(ctx[off[i]:off[i + 1]].tolist() == c, f"context {i}")
        task = f["examples/task"]
        mapping = h5py.check_enum_dtype(task.dtype)
        expect(mapping == {"recall": 0, "rewrite": 1, "answer": 2, "summarize": 3}, f"task enum {mapping}")
        names = {v: k for k, v in mapping.items()}
        cid = f["examples/context_id"][:]
        pt, po = f["examples/prompt_tokens"], f["examples/prompt_offsets"][:]
        tt, to = f["examples/target_tokens"], f["examples/target_offsets"][:]
        expect(len(cid) == len(exp["examples"]), "number of examples")
        for i, e in enumerate(exp["examples"]):
            expect(int(cid[i]) == e["context_id"], f"example {i} context_id")
            expect(pt[po[i]:po[i + 1]].tolist() == e["prompt"], f"example {i} prompt")
            expect(tt[to[i]:to[i + 1]].tolist() == e["target"], f"example {i} target")
            expect(names[int(task[i])] == e["task"], f"example {i} task")


def write_tokens(path):
    docs = [[5, 6, 7], [8], [9, 10, 11, 12]]
    with h5py.File(path, "w") as f:
        flat = np.array([t for d in docs for t in d], dtype=np.uint32)
        f.create_dataset("tokens", data=flat, chunks=(4,), maxshape=(None,), compression="gzip")
        f.create_dataset("doc_offsets", data=np.cumsum([0] + [len(d) for d in docs]).astype(np.uint64))
        f.attrs["format"] = "memorag.tokens"
        f.attrs["version"] = 1
        f.attrs["vocab_size"] = 16
        f.attrs["n_tokens"] = len(flat)
        f.attrs["tokenizer_sha256"] = "ab" * 32
        f.attrs["sources"] = ["h5py.txt"]


if __name__ == "__main__":
    mode = sys.argv[1]
    {"check-tokens": lambda: check_tokens(sys.argv[2], sys.argv[3]),
     "check-sft": lambda: check_sft(sys.argv[2], sys.argv[3]),
     "write-tokens": lambda: write_tokens(sys.argv[2])}[mode]()
    print("failures:", len(failures))
    sys.exit(1 if failures else 0)
