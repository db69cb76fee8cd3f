#!/usr/bin/env python3
"""Checks ``chunks.jsonl`` lines written by MemoRAG-Swift's ``Chunker`` against the document in Python terms:
``text[start:end] == chunk["text"]`` with Python ``str`` indices (code points), chunks in order, gaps whitespace.

    python check_chunk_offsets.py DOCUMENT_UTF8 CHUNKS_JSONL
"""
import json
import sys


def main(document_path: str, chunks_path: str) -> int:
    text = open(document_path, encoding="utf-8", newline="").read()
    chunks = [json.loads(line) for line in open(chunks_path, encoding="utf-8") if line.strip()]
    problems = []
    previous_end = 0
    for chunk in chunks:
        if set(chunk) != {"id", "text", "start", "end", "doc"}:
            problems.append(f"chunk {chunk.get('id')}: keys {sorted(chunk)}")
        if text[chunk["start"]:chunk["end"]] != chunk["text"]:
            problems.append(f"chunk {chunk['id']}: text[{chunk['start']}:{chunk['end']}] is not its text")
        if text[previous_end:chunk["start"]].strip():
            problems.append(f"chunk {chunk['id']}: non-whitespace before it")
        previous_end = chunk["end"]
    if text[previous_end:].strip():
        problems.append("non-whitespace after the last chunk")
    print(f"{len(chunks)} chunks over {len(text)} code points checked")
    for p in problems:
        print("MISMATCH:", p)
    return 1 if problems or not chunks else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
