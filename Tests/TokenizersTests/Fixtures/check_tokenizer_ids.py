#!/usr/bin/env python3
"""Checks a tokenizer.json (+ tokenizer_config.json) written by the Swift package against HF `tokenizers` (and
transformers, when installed): the ids the Swift tokenizer gives must be the ids HF gives.

    python check_tokenizer_ids.py DIR CASES.json

CASES.json is {"cases": [{"text": str, "ids": [int], "ids_plain": [int], "decoded": str}], "chat": optional
{"messages": [{"role", "content"}], "rendered": str}}: per text the Swift ids with and without special tokens and the
Swift decode of `ids_plain` (special tokens kept); with "chat", the Swift rendering of the messages with a
generation prompt, compared with transformers' `apply_chat_template`. Exits 1 on any difference; the last line
printed is a JSON summary.
"""
import json
import os
import sys

from tokenizers import Tokenizer


def report(summary, key, text, detail):
    summary[key] += 1
    if summary[key] <= 5:
        print(f"{key.upper()} {text[:80]!r}: {detail}")


def main():
    directory, cases_path = sys.argv[1], sys.argv[2]
    spec = json.load(open(cases_path, encoding="utf-8"))
    cases = spec["cases"]
    tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    summary = {"cases": len(cases), "mismatches": 0, "decode_mismatches": 0}
    for case in cases:
        text = case["text"]
        ids = tok.encode(text, add_special_tokens=True).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        if ids != case["ids"] or plain != case["ids_plain"]:
            report(summary, "mismatches", text, f"HF {ids[:24]} / {plain[:24]}, Swift {case['ids'][:24]} / "
                                                f"{case['ids_plain'][:24]}")
        decoded = tok.decode(case["ids_plain"], skip_special_tokens=False)
        if decoded != case["decoded"]:
            report(summary, "decode_mismatches", text, f"HF {decoded[:80]!r}, Swift {case['decoded'][:80]!r}")

    try:
        from transformers import AutoTokenizer
    except ImportError:
        print("transformers not installed: AutoTokenizer check skipped")
    else:
        auto = AutoTokenizer.from_pretrained(directory)
        summary["transformers_class"] = type(auto).__name__
        summary["transformers_mismatches"] = 0
        for case in cases:
            ids = auto.encode(case["text"], add_special_tokens=True)
            plain = auto.encode(case["text"], add_special_tokens=False)
            if ids != case["ids"] or plain != case["ids_plain"]:
                report(summary, "transformers_mismatches", case["text"], f"transformers {ids[:24]} / {plain[:24]}")
        chat = spec.get("chat")
        if chat:
            rendered = auto.apply_chat_template(chat["messages"], tokenize=False, add_generation_prompt=True)
            summary["chat_template_matches"] = rendered == chat["rendered"]
            if rendered != chat["rendered"]:
                print(f"CHAT transformers {rendered!r}, Swift {chat['rendered']!r}")

    failed = (summary["mismatches"] or summary["decode_mismatches"] or summary.get("transformers_mismatches")
              or summary.get("chat_template_matches") is False)
    print(json.dumps(summary))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
