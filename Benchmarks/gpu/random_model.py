"""A model directory of random weights in the shapes of a config (issue 21's timing models: the real weights do not
travel to the GPU machine). Writes OUT/config.json and OUT/model.safetensors (bf16, normal(0, 0.02) matrices, unit
norms), in the HF names of Llama/Qwen2 decoders; beacon tensors are left out, so the loader initialises them as it
does for the shipped model's base. Needs only torch (the safetensors layout is written here).

    python3 Benchmarks/gpu/random_model.py Benchmarks/gpu/smollm2-135m-beacon.json OUT_DIR
"""
import json
import os
import struct
import sys


def shapes(config):
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim", hidden // heads)
    bias = config["model_type"] == "qwen2" or config.get("attention_bias", False)
    yield "model.embed_tokens.weight", (config["vocab_size"], hidden)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "post_attention_layernorm.weight", (hidden,)
        yield p + "self_attn.q_proj.weight", (heads * head_dim, hidden)
        yield p + "self_attn.k_proj.weight", (kv * head_dim, hidden)
        yield p + "self_attn.v_proj.weight", (kv * head_dim, hidden)
        yield p + "self_attn.o_proj.weight", (hidden, heads * head_dim)
        if bias:
            yield p + "self_attn.q_proj.bias", (heads * head_dim,)
            yield p + "self_attn.k_proj.bias", (kv * head_dim,)
            yield p + "self_attn.v_proj.bias", (kv * head_dim,)
        yield p + "mlp.gate_proj.weight", (inter, hidden)
        yield p + "mlp.up_proj.weight", (inter, hidden)
        yield p + "mlp.down_proj.weight", (hidden, inter)
    yield "model.norm.weight", (hidden,)
    if not config.get("tie_word_embeddings", False):
        yield "lm_head.weight", (config["vocab_size"], hidden)


def main(config_path, out):
    import torch  # here, so summarize.py can import shapes() without torch

    config = json.load(open(config_path))
    os.makedirs(out, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    # transformers refuses a safetensors file without the format PyTorch writes into its metadata.
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape in shapes(config):
        if name.endswith("norm.weight"):
            tensor = torch.ones(shape, dtype=torch.bfloat16)
        elif name.endswith(".bias"):
            tensor = torch.zeros(shape, dtype=torch.bfloat16)
        else:
            tensor = (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)
        data = tensor.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print(f"{out}: {offset / 2 / 1e6:.0f} M parameters")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
