"""Reference check for `memorag export`: load an exported directory with transformers and write its logits.

usage: hf_logits.py IDS_JSON MODEL_DIR OUT.safetensors [MODEL_DIR OUT.safetensors ...]
Loads each MODEL_DIR with AutoModelForCausalLM (fp32, eager attention), runs the token ids in IDS_JSON ([[...], ...])
and saves the logits as tensor "logits" (float32 [batch, seq, vocab]) plus the class name and whether lm_head is tied
to the embedding in the metadata.
"""
import json
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ids = torch.tensor(json.load(open(sys.argv[1])), dtype=torch.long)
pairs = sys.argv[2:]
for model_dir, out_path in zip(pairs[0::2], pairs[1::2]):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float().contiguous()
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    save_file({"logits": logits}, out_path, metadata={"class": type(model).__name__, "tied": str(tied)})
    print(f"{model_dir}: {type(model).__name__}, tied lm_head {tied}, logits {tuple(logits.shape)}")
