"""Reference check for `memorag export`: load an exported directory with transformers and write its logits.

usage: hf_logits.py MODEL_DIR IDS_JSON OUT.safetensors
Loads MODEL_DIR with AutoModelForCausalLM (fp32, eager attention), runs the token ids in IDS_JSON ([[...], ...]) and
saves the logits as tensor "logits" (float32 [batch, seq, vocab]) plus the class name in the metadata.
"""
import json
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

model_dir, ids_path, out_path = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
model.eval()
ids = torch.tensor(json.load(open(ids_path)), dtype=torch.long)
with torch.no_grad():
    logits = model(input_ids=ids).logits.float().contiguous()
save_file({"logits": logits}, out_path, metadata={"class": type(model).__name__})
print(f"{type(model).__name__}: logits {tuple(logits.shape)}")
