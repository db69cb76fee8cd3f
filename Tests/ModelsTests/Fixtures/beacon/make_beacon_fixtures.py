"""Fixtures for BeaconParityTests, made by the Activation Beacon reference implementation.

    PY=$(scripts/beacon-ref-venv.sh | tail -n1)
    git -C FlagEmbedding archive HEAD research/Long_LLM/activation_beacon/src | tar -x -C ~/.cache/memorag/beacon-ref
    OMP_WAIT_POLICY=passive $PY Tests/ModelsTests/Fixtures/beacon/make_beacon_fixtures.py \
        ~/.cache/memorag/beacon-ref/research/Long_LLM/activation_beacon/src Tests/ModelsTests/Fixtures/beacon

For a tiny random Qwen2 (q/k/v beacon projections, untied lm_head) and a tiny random Llama (q/k/v/o beacon
projections, tied embeddings) it writes `<arch>/config.json`, `<arch>/model.safetensors` and `<arch>/expected.json`:
- inference cases (input shorter than a window, exactly a window, several windows, a partial last window; ratios 2, 4,
  8 and step-random over {2, 4, 8}; one case with an attention sink): the ratio the reference chose for each window,
  the final normalised hidden states of the last window step, the (sink, beacon, raw) KV counts per layer after the
  input and after 6 greedy tokens, and the greedy tokens;
- training cases: the loss and (in `<arch>/grads.safetensors`) the gradient of every beacon parameter.
The beacon projections are the plain ones plus noise, so a mix-up between them shows.
The reference code is imported from the directory given as the first argument; it is never copied into the repo.
"""
import json
import os
import sys
import types

import torch
from safetensors.torch import save_file

src = os.path.abspath(sys.argv[1])
out = os.path.abspath(sys.argv[2])
# Import the reference modules as the package `beaconref` without running its __init__ (which pulls in its trainer).
package = types.ModuleType("beaconref")
package.__path__ = [src]
sys.modules["beaconref"] = package
from beaconref.qwen2.modeling_qwen2 import Qwen2ForCausalLM  # noqa: E402
from beaconref.qwen2.configuration_qwen2 import Qwen2Config  # noqa: E402
from beaconref.llama.modeling_llama import LlamaForCausalLM  # noqa: E402
from beaconref.llama.configuration_llama import LlamaConfig  # noqa: E402
from beaconref.modeling_beacon import Memory  # noqa: E402

torch.set_num_threads(1)
WINDOW = 16
VOCAB = 96
GREEDY = 6
LENGTHS = {"short": 10, "window": 16, "several": 48, "partial": 40}
RATIOS = {"2": [2], "4": [4], "8": [8], "step-random": [2, 4, 8]}


def common(beacon_param, tie):
    return dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=10000.0,
                tie_word_embeddings=tie, bos_token_id=1, eos_token_id=2, pad_token_id=None,
                initializer_range=0.15, torch_dtype="float32",
                beacon_window=WINDOW, beacon_stride=WINDOW, beacon_attn="full-coverage", beacon_ratio=[4],
                beacon_ratio_mix="step-random", beacon_param=beacon_param, beacon_embed_init="eos",
                beacon_sink_size=0, beacon_attend_prev=True, beacon_pos="interleave", beacon_parallel_window=1)


def build(arch):
    torch.manual_seed(1234 if arch == "qwen2" else 4321)
    if arch == "qwen2":
        config = Qwen2Config(**common(["q", "k", "v"], tie=False), use_sliding_window=False)
        config._attn_implementation = "eager"
        model = Qwen2ForCausalLM(config)
    else:
        config = LlamaConfig(**common(["q", "k", "v", "o"], tie=True), attention_bias=False, mlp_bias=False)
        config._attn_implementation = "eager"
        model = LlamaForCausalLM(config)
    config.torch_dtype = torch.float32
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight.add_(torch.randn_like(layer.input_layernorm.weight) * 0.1)
            attn = layer.self_attn
            for name in ["q", "k", "v", "o"]:
                plain = getattr(attn, f"{name}_proj")
                if plain.bias is not None:
                    plain.bias.normal_(0, 0.1)
                if name in config.beacon_param:
                    beacon = getattr(attn, f"beacon_{name}_proj")
                    beacon.weight.copy_(plain.weight + torch.randn_like(plain.weight) * 0.1)
                    if beacon.bias is not None:
                        beacon.bias.copy_(plain.bias + torch.randn_like(plain.bias) * 0.1)
        model.model.beacon_embed_tokens.weight.copy_(
            model.model.embed_tokens.weight[2] + torch.randn_like(model.model.beacon_embed_tokens.weight) * 0.1)
    return model, config


def fresh_memory(model, config, ratios, sink=0):
    config.beacon_ratio = ratios
    config.beacon_sink_size = sink
    model.memory = Memory(model_config=config, k_seq_dim=2, v_seq_dim=2)
    chosen = []
    original = model.memory.set_compression_ratio

    def recording(start_idx, end_idx):
        ratio = original(start_idx=start_idx, end_idx=end_idx)
        chosen.append(int(ratio))
        return ratio

    model.memory.set_compression_ratio = recording
    return chosen


def sizes(memory, layers):
    result = {"sink": [], "beacon": [], "raw": []}
    for i in range(layers):
        for name, acts in [("sink", memory.sink_activations), ("beacon", memory.beacon_activations),
                           ("raw", memory.raw_activations)]:
            key = acts[i][0]
            result[name].append(0 if key is None else int(key.shape[2]))
    return result


def inference_case(model, config, ids, ratios, sink):
    chosen = fresh_memory(model, config, ratios, sink)
    model.eval()
    captured = {}
    hook = model.model.norm.register_forward_hook(lambda m, i, o: captured.__setitem__("h", o.detach()))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]))
        hidden = captured["h"][0]
        after_input = sizes(model.memory, config.num_hidden_layers)
        logits = out.logits[0, -1]
        tokens = []
        for _ in range(GREEDY):
            token = int(logits.argmax())
            tokens.append(token)
            out = model(input_ids=torch.tensor([[token]]))
            logits = out.logits[0, -1]
    hook.remove()
    return dict(input_ids=ids, ratios=ratios, sink=sink, chosen_ratios=chosen,
                last_hidden=hidden.tolist(), kv_after_input=after_input,
                kv_after_generation=sizes(model.memory, config.num_hidden_layers), greedy=tokens)


def training_case(model, config, ids, ratios, index, grads):
    chosen = fresh_memory(model, config, ratios)
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids]))
    out.loss.backward()
    for name, p in model.named_parameters():
        if "beacon" in name:
            grads[f"case{index}.{name}"] = p.grad.detach().clone().contiguous()
    model.eval()
    return dict(input_ids=ids, ratios=ratios, chosen_ratios=chosen, loss=float(out.loss))


def main():
    for arch in ["qwen2", "llama"]:
        model, config = build(arch)
        directory = os.path.join(out, arch)
        os.makedirs(directory, exist_ok=True)
        state = {k: v.contiguous() for k, v in model.state_dict().items()
                 if not k.endswith("rotary_emb.inv_freq") and "cached" not in k}
        if config.tie_word_embeddings:
            state.pop("lm_head.weight", None)
        save_file(state, os.path.join(directory, "model.safetensors"))
        config_dict = {k: v for k, v in config.to_dict().items() if not k.startswith("_")}
        config_dict["beacon_ratio"] = [4]
        config_dict["beacon_sink_size"] = 0
        config_dict["model_type"] = arch
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(config_dict, f, indent=2, sort_keys=True)

        generator = torch.Generator().manual_seed(7)
        inference = []
        for length_name, length in LENGTHS.items():
            ids = torch.randint(3, VOCAB, (length,), generator=generator).tolist()
            for ratio_name, ratios in RATIOS.items():
                case = inference_case(model, config, ids, ratios, sink=0)
                case["name"] = f"{length_name}/{ratio_name}"
                inference.append(case)
        ids = torch.randint(3, VOCAB, (40,), generator=generator).tolist()
        case = inference_case(model, config, ids, [4], sink=2)
        case["name"] = "partial/4/sink2"
        inference.append(case)

        grads = {}
        training = []
        for index, (length, ratios) in enumerate([(40, [4]), (48, [2, 4, 8]), (35, [8])]):
            ids = torch.randint(3, VOCAB, (length,), generator=generator).tolist()
            training.append(training_case(model, config, ids, ratios, index, grads))
        save_file(grads, os.path.join(directory, "grads.safetensors"))
        with open(os.path.join(directory, "expected.json"), "w") as f:
            json.dump(dict(inference=inference, training=training), f)
        print(arch, "inference", len(inference), "training", [round(t["loss"], 5) for t in training],
              "chosen", [c["chosen_ratios"] for c in inference if c["ratios"] == [2, 4, 8]])


main()
