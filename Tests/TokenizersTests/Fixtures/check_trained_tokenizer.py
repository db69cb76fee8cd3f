#!/usr/bin/env python3
"""Checks a tokenizer written by BPETrainer (Swift) with HF `tokenizers` (and transformers, when installed).

    python check_trained_tokenizer.py DIR CASES.json [--corpus FILE --vocab-size N --min-frequency M
                                                      --special-token T ...]

DIR holds tokenizer.json (+ tokenizer_config.json); CASES.json is {"cases": [{"text": str, "ids": [int]}]}, the
ids from the Swift reference encoder. Every case must encode to the same ids with `Tokenizer.from_file` (and with
transformers' AutoTokenizer, add_special_tokens=False) and decode back to its text. With --corpus, HF's own
BpeTrainer is trained on the same file with the same settings and the merge lists are compared (reported only).
Exits 1 on any encoding difference; the last line printed is a JSON summary.
"""
import argparse
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


def merges_of(tokenizer_json):
    return [m if isinstance(m, str) else " ".join(m) for m in tokenizer_json["model"]["merges"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("cases")
    parser.add_argument("--corpus")
    parser.add_argument("--vocab-size", type=int)
    parser.add_argument("--min-frequency", type=int, default=2)
    parser.add_argument("--special-token", action="append", default=[])
    args = parser.parse_args()

    path = os.path.join(args.dir, "tokenizer.json")
    tok = Tokenizer.from_file(path)
    cases = json.load(open(args.cases, encoding="utf-8"))["cases"]
    summary = {"cases": len(cases), "mismatches": 0, "roundtrip_failures": 0}
    for case in cases:
        ids = tok.encode(case["text"], add_special_tokens=False).ids
        if ids != case["ids"]:
            summary["mismatches"] += 1
            if summary["mismatches"] <= 5:
                print(f"MISMATCH {case['text'][:80]!r}: HF {ids[:30]} Swift {case['ids'][:30]}")
        if tok.decode(ids, skip_special_tokens=False) != case["text"]:
            summary["roundtrip_failures"] += 1
            if summary["roundtrip_failures"] <= 5:
                print(f"ROUNDTRIP {case['text'][:80]!r} -> {tok.decode(ids, skip_special_tokens=False)[:80]!r}")

    try:
        from transformers import AutoTokenizer
        auto = AutoTokenizer.from_pretrained(args.dir)
        summary["transformers_class"] = type(auto).__name__
        summary["transformers_mismatches"] = sum(
            auto.encode(c["text"], add_special_tokens=False) != c["ids"] for c in cases)
    except ImportError:
        summary["transformers_class"] = None
        print("transformers not installed: AutoTokenizer check skipped")

    if args.corpus:
        reference = Tokenizer(models.BPE())
        reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        reference.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, min_frequency=args.min_frequency,
                                      special_tokens=args.special_token or ["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        reference.train([args.corpus], trainer)
        hf = merges_of(json.loads(reference.to_str()))
        ours = merges_of(json.load(open(path, encoding="utf-8")))
        prefix = 0
        while prefix < min(len(hf), len(ours)) and hf[prefix] == ours[prefix]:
            prefix += 1
        common = len(set(hf) & set(ours))
        summary["hf_trainer"] = {"hf_merges": len(hf), "swift_merges": len(ours), "identical_prefix": prefix,
                                 "common_merges": common, "identical": hf == ours}
        print(f"HF BpeTrainer: {len(hf)} merges, Swift: {len(ours)}; identical prefix {prefix}, "
              f"in common {common} ({100.0 * common / max(1, len(hf)):.1f}%)")

    print(f"{summary['cases']} cases: {summary['mismatches']} encoding mismatches, "
          f"{summary['roundtrip_failures']} round-trip failures"
          + (f", transformers {summary['transformers_class']}: {summary['transformers_mismatches']} mismatches"
             if summary.get("transformers_class") else ""))
    print(json.dumps(summary))
    failed = summary["mismatches"] or summary["roundtrip_failures"] or summary.get("transformers_mismatches")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
