"""The GPU check's measures as one table: per model and case, tokens/s of ours and of the Activation Beacon reference
(medians of the timed repeats, from the same run), their ratio, and model FLOP utilisation against the GPU's bf16
peak. Needs the standard library only (and random_model.py beside it for the parameter count).

    python3 Benchmarks/gpu/summarize.py OUT/measures.jsonl OUT/machine.txt > OUT/measures.md

Model FLOPs per token are the usual 2N for a forward pass (memorize) and 6N for a training step, N being the
parameters of every matmul (attention, MLP and the LM head, tied or not; embeddings lookups and norms excluded).
The beacon step trains only the beacon projections, so it computes less than 6N: its MFU is the model-FLOP figure
the field quotes, not the hardware's.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_model import shapes  # noqa: E402

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' datasheets; the longest matching name wins.
PEAKS = {"H200": 989e12, "H100": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12, "A100": 312e12, "L40S": 362e12}
CONFIGS = {"smollm2-135m": "smollm2-135m-beacon.json", "qwen2-1.5b": "qwen2-1.5b-beacon.json"}


def matmul_parameters(config):
    total = 0
    for name, shape in shapes(config):
        if len(shape) == 2 and name != "model.embed_tokens.weight":
            total += shape[0] * shape[1]
    if config.get("tie_word_embeddings", False):  # the LM head is the embedding matrix, multiplied all the same
        total += config["vocab_size"] * config["hidden_size"]
    return total


def peak(machine_text):
    matches = [key for key in PEAKS if key in machine_text]
    return PEAKS[max(matches, key=len)] if matches else None


def main(measures_path, machine_path):
    here = os.path.dirname(os.path.abspath(__file__))
    gpu_peak = peak(open(machine_path).read()) if os.path.exists(machine_path) else None
    rows = {}
    for line in open(measures_path):
        record = json.loads(line)
        key = (record["model"], record["case"])
        rows.setdefault(key, {})[record["contender"]] = record
    print("| model | case | ours tok/s | reference tok/s | ours / reference | MFU ours | MFU reference |")
    print("|---|---|---|---|---|---|---|")
    for (model, case), contenders in sorted(rows.items()):
        config = json.load(open(os.path.join(here, CONFIGS[model]))) if model in CONFIGS else None
        flops = (6 if case.startswith(("train_", "recompute_")) else 2) * matmul_parameters(config) if config else None

        def figures(contender):
            record = contenders.get(contender)
            if not record or not record.get("values"):
                return None, "–", "–"
            speed = statistics.median(record["values"])
            mfu = f"{100 * speed * flops / gpu_peak:.1f}%" if flops and gpu_peak else "–"
            return speed, f"{speed:,.0f}", mfu

        ours, ours_text, ours_mfu = figures("ours")
        peer, peer_text, peer_mfu = figures("peer")
        ratio = f"{ours / peer:.2f}×" if ours and peer else "–"
        print(f"| {model} | {case} | {ours_text} | {peer_text} | {ratio} | {ours_mfu} | {peer_mfu} |")
    if gpu_peak is None:
        print("\n(MFU left out: the GPU's bf16 peak is not in summarize.py's table)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
