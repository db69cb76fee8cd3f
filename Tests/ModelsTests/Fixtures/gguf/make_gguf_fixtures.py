#!/usr/bin/env python3
"""Writes the GGUF test fixtures for Tests/ModelsTests/GGUFTests.swift (deterministic: fixed seeds, fixed order).

Run from anywhere with a Python that has `gguf` (gguf-py, llama.cpp's reference reader/writer) and numpy; the
real-model summary additionally needs `transformers` + `torch` (optional: it is skipped when they are missing):

    python3 -m venv /root/.cache/memorag/venv-gguf
    /root/.cache/memorag/venv-gguf/bin/pip install gguf numpy        # + transformers torch accelerate (optional)
    /root/.cache/memorag/venv-gguf/bin/python Tests/ModelsTests/Fixtures/gguf/make_gguf_fixtures.py

(the fixtures in the repository were made with gguf 0.19.0, numpy 2.4, transformers 5.24, torch 2.13.)

Files written next to this script:

  types.gguf        v3, general.alignment = 64; one tensor per supported type (F32, F16, BF16, Q8_0, Q4_0, Q4_1),
                    including 1-D and 3-D shapes and special values (±inf, -0, NaN, f16 subnormals, all-zero blocks).
  metadata.gguf     v3, default alignment; metadata of every GGUF value type, arrays of every scalar type, an array
                    of strings, nested arrays (array of arrays, and an array of arrays of arrays), a unicode string.
  tiny_llama.gguf   a 2-block llama-architecture model (hidden 32, 4 heads, 2 KV heads, head_dim 8) written the way
                    convert_hf_to_gguf.py does it: attn_q / attn_k rows permuted with llama.cpp's `permute`, with
                    an `output.weight` (untied), rope scaling keys and a small gpt2-style tokenizer.
  tiny_qwen2.gguf   the same for architecture qwen2: NOT permuted, q/k/v biases, no `output.weight` (tied).
  expected.json     what gguf-py says about those files: metadata values, every tensor's dequantized float32 values
                    as uint32 bit patterns (gguf-py's `gguf.quants.dequantize`), the HF name / PyTorch shape / values
                    (with the Q/K permutation undone in numpy) of the tiny models, and byte offsets used by the
                    corruption tests.
  smollm2.json      summaries (no weights) of the real SmolLM2-135M-Instruct Q4_1 file installed by
                    scripts/fetch-models.sh: header facts, and for a few tensors in HF order the checksum, sum and a
                    few elements; plus transformers' own view of the file (`from_pretrained(..., gguf_file=...)`):
                    its config and the checksum of its q_proj / k_proj state_dict tensors.

"checksum" everywhere is  sum_i bits(v_i) * (i + 1)  modulo 2^64, with bits() the float32 bit pattern and i the
flat (row-major, PyTorch order) index, written as 16 hex digits; it pins every bit of every element and its order.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT
from gguf.quants import quantize, dequantize

HERE = Path(__file__).resolve().parent
MODEL = Path(os.environ.get("MEMORAG_CACHE", Path.home() / ".cache" / "memorag")) / \
    "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def bits(a):
    return [int(x) for x in np.ascontiguousarray(a, dtype=np.float32).reshape(-1).view(np.uint32)]


def checksum(a):
    b = np.ascontiguousarray(a, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    idx = np.arange(1, b.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return "%016x" % int((b * idx).sum(dtype=np.uint64))


def llama_permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute (rows of one head interleaved: 2 halves -> pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_unpermute(w, n_head):
    """The inverse of llama_permute."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write(path, writer):
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def tensor_offsets(path):
    """name -> {type_field, offset_field}: absolute byte offsets of a tensor info's type (u32) and offset (u64)."""
    r = gguf.GGUFReader(path)
    out = {}
    for t in r.tensors:
        f = t.field
        # parts: name length, name bytes, n_dims, dims, type, offset
        pos = f.offset + sum(int(p.nbytes) for p in f.parts[:4])
        out[t.name] = {"type_field": pos, "offset_field": pos + 4, "data_offset": int(t.data_offset),
                       "n_bytes": int(t.n_bytes)}
    return out, int(r.data_offset)


def add_quantized(w, name, data, qtype):
    q = quantize(data, qtype)
    w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    return dequantize(q, qtype).reshape(data.shape).astype(np.float32)


# --------------------------------------------------------------------------------------------------- types.gguf
def make_types(expected):
    rng = np.random.default_rng(20240611)
    path = HERE / "types.gguf"
    w = gguf.GGUFWriter(str(path), arch="test")
    w.add_custom_alignment(64)
    tensors = {}

    f32 = rng.standard_normal((3, 40)).astype(np.float32)
    f32.flat[:6] = [np.inf, -np.inf, -0.0, np.nan, 1e-40, 3.4e38]
    tensors["t.f32"] = ("F32", add_quantized(w, "t.f32", f32, QT.F32))

    f16 = (rng.standard_normal(70) * 4).astype(np.float16)       # 1-D, odd length
    f16[:8] = np.array([np.inf, -np.inf, -0.0, np.nan, 6e-8, -3e-5, 65504, 1.0], dtype=np.float16)
    w.add_tensor("t.f16", f16)
    tensors["t.f16"] = ("F16", dequantize(f16.view(np.uint8), QT.F16).reshape(f16.shape))

    bf = rng.standard_normal((2, 3, 16)).astype(np.float32)      # 3-D
    bf.flat[:5] = [np.inf, -0.0, np.nan, 1e-39, -2.5]
    tensors["t.bf16"] = ("BF16", add_quantized(w, "t.bf16", bf, QT.BF16))

    for name, qt, shape in (("t.q8_0", QT.Q8_0, (4, 64)), ("t.q4_0", QT.Q4_0, (3, 96)),
                            ("t.q4_1", QT.Q4_1, (2, 2, 64))):
        x = (rng.standard_normal(shape) * rng.uniform(0.01, 3.0)).astype(np.float32)
        x.reshape(-1, 32)[1] = 0.0                                # an all-zero block (scale 0)
        x.reshape(-1, 32)[2] += 5.0                               # an all-positive block (Q4_1 min > 0)
        tensors[name] = (qt.name, add_quantized(w, name, x, qt))
    write(path, w)

    offsets, data_offset = tensor_offsets(path)
    r = gguf.GGUFReader(path)
    out = {"file": "types.gguf", "alignment": 64, "data_offset": data_offset, "tensors": []}
    for t in r.tensors:
        ty, values = tensors[t.name]
        deq = dequantize(t.data, t.tensor_type).reshape(-1)
        assert np.array_equal(deq.view(np.uint32), values.reshape(-1).view(np.uint32)), t.name
        out["tensors"].append({
            "name": t.name, "type": ty, "dims": [int(d) for d in t.shape], "shape": list(values.shape),
            "offset": int(t.data_offset) - data_offset, **offsets[t.name],
            "bits": bits(deq), "checksum": checksum(deq)})
    expected["types"] = out


# ------------------------------------------------------------------------------------------------ metadata.gguf
def make_metadata(expected):
    path = HERE / "metadata.gguf"
    w = gguf.GGUFWriter(str(path), arch="test")
    scalars = [
        ("v.u8", 250, VT.UINT8), ("v.i8", -100, VT.INT8), ("v.u16", 65000, VT.UINT16), ("v.i16", -32000, VT.INT16),
        ("v.u32", 4_000_000_000, VT.UINT32), ("v.i32", -2_000_000_000, VT.INT32), ("v.f32", 0.1, VT.FLOAT32),
        ("v.bool_t", True, VT.BOOL), ("v.bool_f", False, VT.BOOL), ("v.str", "héllo wörld ✓ 🙂", VT.STRING),
        ("v.u64", 18_000_000_000_000_000_000, VT.UINT64), ("v.i64", -9_000_000_000_000_000_000, VT.INT64),
        ("v.f64", 2.718281828459045, VT.FLOAT64), ("v.empty_str", "", VT.STRING),
    ]
    for key, val, vt in scalars:
        w.add_key_value(key, val, vt)
    arrays = [
        ("a.u8", [0, 1, 255], VT.UINT8), ("a.i8", [-128, 0, 127], VT.INT8), ("a.u16", [0, 65535], VT.UINT16),
        ("a.i16", [-32768, 32767], VT.INT16), ("a.u32", [0, 4294967295], VT.UINT32),
        ("a.i32", [-5, 0, 7, 2147483647], VT.INT32), ("a.f32", [0.5, -1.25, 3.0e10], VT.FLOAT32),
        ("a.bool", [True, False, True], VT.BOOL), ("a.str", ["a", "", "ünï", "<|im_end|>", "Ġthe"], VT.STRING),
        ("a.u64", [0, 18446744073709551615], VT.UINT64), ("a.i64", [-9223372036854775808, 5], VT.INT64),
        ("a.f64", [1.5, -0.1], VT.FLOAT64),
    ]
    for key, val, vt in arrays:
        w.add_key_value(key, val, VT.ARRAY, sub_type=vt)
    # gguf-py cannot write empty arrays (nor empty inner arrays), so every array here has elements
    nested = {"a.nested": [[1, 2, 3], [4]],                         # array of arrays of INT32
              "a.nested_str": [["x", "y"], ["z"]],                  # array of arrays of STRING
              "a.nested2": [[[1.5], [2.5, 3.5]], [[-1.0]]]}         # depth 3, FLOAT32 leaves
    for key, val in nested.items():
        w.add_key_value(key, val, VT.ARRAY, sub_type=VT.ARRAY)
    w.add_tensor("m.one", np.arange(8, dtype=np.float32))
    write(path, w)

    r = gguf.GGUFReader(path)

    out = {"file": "metadata.gguf", "kv_count": len(r.fields) - 3, "keys": {}}
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        types = [t.name for t in field.types]
        out["keys"][key] = {"types": types, "value": field.contents()}
    # gguf-py's reader flattens nested arrays in contents(): keep what was written
    out["nested_written"] = nested
    # f32 values as bit patterns (JSON would round-trip them through double)
    out["f32_bits"] = {"v.f32": bits(np.float32(0.1))[0], "a.f32": bits(np.array([0.5, -1.25, 3.0e10], np.float32))}
    expected["metadata"] = out


# ------------------------------------------------------------------------------------------------- tiny models
def make_tiny(expected, arch):
    rng = np.random.default_rng(7 if arch == "llama" else 8)
    hidden, n_head, n_kv, head_dim, ffn, n_layer, vocab = 32, 4, 2, 8, 64, 2, 10
    path = HERE / f"tiny_{arch}.gguf"
    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_name(f"tiny {arch}")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(ffn)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(500000.0 if arch == "llama" else 1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    if arch == "llama":
        w.add_rope_dimension_count(head_dim)
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(2.0)
        w.add_rope_scaling_orig_ctx_len(64)
    tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab", "Ġa", "Ġab", "<|im_start|>", "<|im_end|>"]
    w.add_tokenizer_model("gpt2" if arch == "qwen2" else "llama")
    w.add_tokenizer_pre("smollm" if arch == "llama" else "qwen2")
    w.add_token_list(tokens)
    w.add_token_types([3, 3, 3, 1, 1, 1, 1, 1, 4, 4])
    w.add_token_merges(["a b", "Ġ a", "Ġa b"])
    if arch == "llama":
        w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, 0.0, 0.0])
    w.add_bos_token_id(1)
    w.add_eos_token_id(9 if arch == "qwen2" else 2)
    w.add_pad_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(arch == "llama")
    w.add_add_eos_token(False)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")

    hf = {}          # hf name -> (values in HF order that the Swift side must reproduce, gguf name, type)

    def put(gname, hname, data, qt, permute_heads=None):
        stored = llama_permute(data, permute_heads) if permute_heads else data
        deq = add_quantized(w, gname, stored, qt) if qt != QT.F16 else None
        if qt == QT.F16:
            h = stored.astype(np.float16)
            w.add_tensor(gname, h)
            deq = h.astype(np.float32)
        back = llama_unpermute(deq, permute_heads) if permute_heads else deq
        hf[hname] = (back, gname, qt.name)

    def rnd(*shape):
        return rng.standard_normal(shape).astype(np.float32) * 0.5

    permute = arch == "llama"
    put("token_embd.weight", "model.embed_tokens.weight", rnd(vocab, hidden), QT.F16)
    types = [QT.Q8_0, QT.F32, QT.Q4_0, QT.Q4_1, QT.BF16]
    for b in range(n_layer):
        p, h = f"blk.{b}.", f"model.layers.{b}."
        put(p + "attn_norm.weight", h + "input_layernorm.weight", 1 + rnd(hidden), QT.F32)
        put(p + "attn_q.weight", h + "self_attn.q_proj.weight", rnd(n_head * head_dim, hidden), types[b % 5],
            n_head if permute else None)
        put(p + "attn_k.weight", h + "self_attn.k_proj.weight", rnd(n_kv * head_dim, hidden), types[(b + 1) % 5],
            n_kv if permute else None)
        put(p + "attn_v.weight", h + "self_attn.v_proj.weight", rnd(n_kv * head_dim, hidden), types[(b + 2) % 5])
        if arch == "qwen2":
            put(p + "attn_q.bias", h + "self_attn.q_proj.bias", rnd(n_head * head_dim), QT.F32)
            put(p + "attn_k.bias", h + "self_attn.k_proj.bias", rnd(n_kv * head_dim), QT.F32)
            put(p + "attn_v.bias", h + "self_attn.v_proj.bias", rnd(n_kv * head_dim), QT.F32)
        put(p + "attn_output.weight", h + "self_attn.o_proj.weight", rnd(hidden, n_head * head_dim), types[(b + 3) % 5])
        put(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", 1 + rnd(hidden), QT.F32)
        put(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", rnd(ffn, hidden), types[(b + 4) % 5])
        put(p + "ffn_up.weight", h + "mlp.up_proj.weight", rnd(ffn, hidden), types[b % 5])
        put(p + "ffn_down.weight", h + "mlp.down_proj.weight", rnd(hidden, ffn), types[(b + 1) % 5])
    put("output_norm.weight", "model.norm.weight", 1 + rnd(hidden), QT.F32)
    if arch == "llama":
        put("output.weight", "lm_head.weight", rnd(vocab, hidden), QT.Q8_0)
        w.add_tensor("rope_freqs.weight", np.ones(head_dim // 2, dtype=np.float32))   # not an HF parameter
    write(path, w)

    out = {"file": path.name, "architecture": arch, "permuted": permute,
           "n_head": n_head, "n_head_kv": n_kv, "tensors": {}}
    for hname, (vals, gname, ty) in hf.items():
        entry = {"gguf": gname, "type": ty, "shape": list(vals.shape), "checksum": checksum(vals),
                 "first": bits(vals.reshape(-1)[:4])}
        if ".q_proj." in hname or ".k_proj." in hname:
            entry["bits"] = bits(vals)
        out["tensors"][hname] = entry
    out["unmapped"] = ["rope_freqs.weight"] if arch == "llama" else []
    out["config"] = {
        "model_type": arch, "hidden_size": hidden, "intermediate_size": ffn, "num_hidden_layers": n_layer,
        "num_attention_heads": n_head, "num_key_value_heads": n_kv, "max_position_embeddings": 128,
        "vocab_size": vocab, "tie_word_embeddings": arch != "llama", "bos_token_id": 1,
        "eos_token_id": 9 if arch == "qwen2" else 2}
    out["tokens"] = tokens
    expected[f"tiny_{arch}"] = out


# ----------------------------------------------------------------------------------------------- real SmolLM2
def make_smollm2():
    if not MODEL.exists():
        print(f"skipping smollm2.json: {MODEL} is missing (run scripts/fetch-models.sh)", file=sys.stderr)
        return
    r = gguf.GGUFReader(str(MODEL))
    f = lambda k: r.fields[k].contents()
    n_head, n_kv = int(f("llama.attention.head_count")), int(f("llama.attention.head_count_kv"))
    out = {"file": MODEL.name, "version": int(f("GGUF.version")), "tensor_count": len(r.tensors),
           "kv_count": len(r.fields) - 3, "data_offset": int(r.data_offset),
           "architecture": f("general.architecture"), "block_count": int(f("llama.block_count")),
           "embedding_length": int(f("llama.embedding_length")), "head_count": n_head, "head_count_kv": n_kv,
           "feed_forward_length": int(f("llama.feed_forward_length")),
           "context_length": int(f("llama.context_length")),
           "rope_freq_base": float(f("llama.rope.freq_base")),
           "rms_eps_bits": bits(np.float32(f("llama.attention.layer_norm_rms_epsilon")))[0],
           "vocab": len(r.fields["tokenizer.ggml.tokens"].data), "merges": len(r.fields["tokenizer.ggml.merges"].data),
           "pre": f("tokenizer.ggml.pre"), "tokenizer_model": f("tokenizer.ggml.model"),
           "token_1": f("tokenizer.ggml.tokens")[1], "merge_0": f("tokenizer.ggml.merges")[0],
           "type_counts": {}, "tensors": {}}
    for t in r.tensors:
        out["type_counts"][t.tensor_type.name] = out["type_counts"].get(t.tensor_type.name, 0) + 1
    want = {"token_embd.weight": ("model.embed_tokens.weight", None),
            "blk.0.attn_q.weight": ("model.layers.0.self_attn.q_proj.weight", n_head),
            "blk.0.attn_k.weight": ("model.layers.0.self_attn.k_proj.weight", n_kv),
            "blk.0.attn_v.weight": ("model.layers.0.self_attn.v_proj.weight", None),
            "blk.29.ffn_down.weight": ("model.layers.29.mlp.down_proj.weight", None),
            "output_norm.weight": ("model.norm.weight", None)}
    hf_values = {}
    for t in r.tensors:
        if t.name not in want:
            continue
        hname, heads = want[t.name]
        shape = [int(d) for d in reversed(t.shape)]
        v = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        if heads:
            v = llama_unpermute(v, heads)
        hf_values[hname] = v
        flat = v.reshape(-1)
        picks = [0, 1, 31, 32, 33, flat.size // 2, flat.size - 1]
        out["tensors"][t.name] = {"hf": hname, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                                  "shape": shape, "checksum": checksum(v), "sum": float(v.sum(dtype=np.float64)),
                                  "abs_sum": float(np.abs(v).sum(dtype=np.float64)),
                                  "picks": picks, "pick_bits": bits(flat[picks])}
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:
        print("transformers/torch missing: no transformers cross-check", file=sys.stderr)
    else:
        cfg = AutoConfig.from_pretrained(str(MODEL.parent), gguf_file=MODEL.name)
        model = AutoModelForCausalLM.from_pretrained(str(MODEL.parent), gguf_file=MODEL.name, dtype=torch.float32)
        sd = model.state_dict()
        tx = {}
        for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                     "model.layers.0.self_attn.v_proj.weight", "model.embed_tokens.weight", "model.norm.weight"):
            t = sd[name].detach().numpy()
            tx[name] = {"shape": list(t.shape), "checksum": checksum(t)}
            assert checksum(t) == checksum(hf_values[name]), f"transformers disagrees with numpy on {name}"
        c = cfg.to_dict()
        keep = ["model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings", "vocab_size", "tie_word_embeddings",
                "bos_token_id", "eos_token_id", "pad_token_id", "head_dim"]
        rp = c.get("rope_parameters") or {}
        out["transformers"] = {"version": __import__("transformers").__version__, "tensors": tx,
                               "config": {k: c.get(k) for k in keep},
                               "rope_theta": rp.get("rope_theta", c.get("rope_theta")),
                               "rms_norm_eps": c.get("rms_norm_eps"),
                               "lm_head_is_embed": bool(torch.equal(sd["lm_head.weight"],
                                                                    sd["model.embed_tokens.weight"]))}
    (HERE / "smollm2.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


def main():
    from importlib.metadata import version
    expected = {"gguf_py_version": version("gguf")}
    make_types(expected)
    make_metadata(expected)
    make_tiny(expected, "llama")
    make_tiny(expected, "qwen2")
    (HERE / "expected.json").write_text(json.dumps(expected, sort_keys=True, separators=(",", ":")) + "\n")
    make_smollm2()
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"wrote fixtures to {HERE} ({total} bytes in all)")


if __name__ == "__main__":
    main()
