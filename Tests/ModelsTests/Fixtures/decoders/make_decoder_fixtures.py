"""Tiny random Llama, Qwen2 and Mistral models (HF layout) and transformers' outputs on them.

Run with a python that has torch and transformers (e.g. the venv of scripts/peer-venv.sh):

    python Tests/ModelsTests/Fixtures/decoders/make_decoder_fixtures.py

For each architecture it writes ``<arch>/`` with ``config.json``, ``model.safetensors`` and
``generation_config.json`` exactly as ``save_pretrained`` does, plus ``<arch>/expected.json``:

* ``prompts``: a few token-id prompts (lengths 1, 7, 33 and 70);
* ``last_logits``: the fp32 logits at the last prompt position (full vocab);
* ``greedy``: 20 greedily generated ids per prompt (``generate(do_sample=False)``, no EOS stop);
* versions of torch and transformers.

The models are random (seeded) but their beacon-free weights are realistic in scale; q/k/v of the
Qwen2 model carry biases, the Llama model uses llama3 rope scaling, the Mistral model has GQA 4/1.
"""
import json
import os
import sys

import torch
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 512

COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, max_position_embeddings=256, rms_norm_eps=1e-6,
              bos_token_id=1, eos_token_id=2, pad_token_id=0)


def models():
    yield "llama", LlamaForCausalLM(LlamaConfig(
        **COMMON, num_key_value_heads=2, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64}))
    yield "qwen2", Qwen2ForCausalLM(Qwen2Config(
        **COMMON, num_key_value_heads=2, rope_theta=1000000.0, tie_word_embeddings=True,
        use_sliding_window=False))
    yield "mistral", MistralForCausalLM(MistralConfig(
        **COMMON, num_key_value_heads=1, rope_theta=10000.0, tie_word_embeddings=False,
        sliding_window=4096))


def main() -> int:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    prompts = [torch.randint(3, VOCAB, (n,), generator=generator).tolist() for n in (1, 7, 33, 70)]
    for name, model in models():
        model = model.float().eval()
        # Random init is N(0, 0.02); scale weights up so logits are far from uniform and greedy
        # decoding is decisive (ties would make token parity meaningless).
        with torch.no_grad():
            for p_name, p in model.named_parameters():
                if p.dim() == 2:
                    # Tied embeddings make a token predict itself unless the blocks dominate the residual
                    # stream: give Qwen2's (tied) blocks larger weights than its embedding.
                    tied_block = name == "qwen2" and "embed" not in p_name
                    p.mul_(10.0 if tied_block else 4.0)
                elif "bias" in p_name:
                    p.normal_(0, 0.5)
                else:  # norms
                    p.copy_(1 + 0.1 * torch.randn_like(p))
        out = os.path.join(HERE, name)
        model.save_pretrained(out, safe_serialization=True)
        expected = {"prompts": prompts, "last_logits": [], "greedy": [],
                    "torch": torch.__version__, "transformers": transformers.__version__}
        with torch.no_grad():
            for prompt in prompts:
                ids = torch.tensor([prompt])
                logits = model(ids).logits[0, -1].tolist()
                expected["last_logits"].append([round(x, 6) for x in logits])
                generated = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                           max_new_tokens=20, min_new_tokens=20, eos_token_id=None,
                                           pad_token_id=0)
                expected["greedy"].append(generated[0, len(prompt):].tolist())
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(expected, f)
        print(name, "ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
