#!/usr/bin/env python3
"""Regenerate the safetensors interop fixtures used by Tests/TorchTests/SafetensorsTests.swift.

Writes two files next to this script (or into the directory given as the only argument):

* ``python_written.safetensors`` -- written by the reference implementation, ``safetensors.torch.save_file``, so the
  Swift reader is tested against a file it did not produce. It holds every dtype MemoRAG's ``DType`` supports
  (including bf16, f16 and bool), a 0-d scalar, a zero-element tensor and ``__metadata__`` with non-ASCII text and
  characters JSON must escape. Python orders the data by dtype alignment, then name, so the file also checks that the
  reader does not assume the name order that the Swift writer uses.
* ``expected.json`` -- what the Swift test compares against: the metadata, and for every tensor its dtype name, shape
  and flattened row-major values as JSON numbers (booleans for BOOL). Each float is the exact value stored in the
  file (read back from the tensor after conversion), so it round-trips through JSON without loss and the Swift test
  can compare bit for bit. The Swift test also writes these tensors itself; ``check_swift_written.py`` verifies that
  file against this same ``expected.json``.

Deterministic: all values are literals (no randomness), and re-running produces byte-identical files, so the committed
fixtures change only when this script does.

Requires ``torch`` and ``safetensors`` (``numpy`` too for the check script). Usage::

    python make_fixtures.py [OUTPUT_DIR]
"""

import json
import sys
from pathlib import Path

import safetensors
import torch
from safetensors.torch import save_file

METADATA = {
    "format": "pt",
    "generator": "make_fixtures.py",
    # Non-ASCII, a quote, a backslash and a newline: all must survive the JSON header.
    "note": 'caf\u00e9 \u2713 "quoted" back\\slash\nnewline',
}


def build_tensors():
    """The fixture tensors, keyed by name; values chosen to hit edge cases of each dtype."""
    return {
        "embed.weight": torch.tensor([[0.5, -1.25, 3.0], [0.1, -0.0, 1e-30]], dtype=torch.float32),
        "norm.bias": torch.tensor([1.0 / 3.0, -2.5, 1e300, -5e-324], dtype=torch.float64),
        # Largest finite half, smallest normal, smallest subnormal, negative zero.
        "half": torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -14, 2.0 ** -24, -0.0], dtype=torch.float16),
        # bf16 keeps 8 mantissa bits; 3.14159 and 1e30 are rounded, and expected.json holds the rounded values.
        "bf16.values": torch.tensor([1.0, -0.5, 3.14159, 1e30], dtype=torch.bfloat16),
        "mask": torch.tensor([[True, False, True], [False, False, True]], dtype=torch.bool),
        "ids": torch.tensor([-(2 ** 63), 2 ** 53 + 1, 2 ** 63 - 1], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), 0, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([[-(2 ** 15), -1], [1, 2 ** 15 - 1]], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros((0, 4), dtype=torch.float32),
    }


SAFETENSORS_NAMES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.bool: "BOOL",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
}


def expected_values(tensor):
    """Flattened row-major values exactly as stored: floats widened to float64 (lossless), ints and bools as is."""
    flat = tensor.reshape(-1)
    if tensor.dtype.is_floating_point:
        return flat.to(torch.float64).tolist()
    return flat.tolist()


def sort_metadata_keys(path):
    """Rewrite the header of a save_file output with its metadata keys sorted, changing nothing else.

    The Rust implementation keeps metadata in a randomly seeded HashMap, so its key order, and with it the file's
    bytes, differ from run to run. Re-serialising the header the way serde_json does (compact separators, non-ASCII
    left as UTF-8) with the same tensor order and the same length gives identical padding and data offsets; the
    asserts make sure that only the order of the metadata keys changed and that the reference parser still agrees.
    """
    raw = path.read_bytes()
    header_length = int.from_bytes(raw[:8], "little")
    header_text = raw[8 : 8 + header_length].decode("utf-8")
    header = json.loads(header_text)
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    canonical = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    canonical = canonical.ljust(header_length, b" ")  # the same padding spaces as the original
    assert len(canonical) == header_length, "re-serialised header changed length"
    assert json.loads(canonical) == json.loads(header_text), "re-serialised header changed content"
    rewritten = raw[:8] + canonical + raw[8 + header_length :]
    # deserialize lists tensors in HashMap order too, hence the sorting.
    same = sorted(safetensors.deserialize(rewritten)) == sorted(safetensors.deserialize(raw))
    assert same, "the reference parser reads the rewritten file differently"
    path.write_bytes(rewritten)


def main():
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = build_tensors()

    path = out_dir / "python_written.safetensors"
    save_file(tensors, str(path), metadata=METADATA)
    sort_metadata_keys(path)

    expected = {
        "metadata": METADATA,
        "tensors": {
            name: {
                "dtype": SAFETENSORS_NAMES[tensor.dtype],
                "shape": list(tensor.shape),
                "values": expected_values(tensor),
            }
            for name, tensor in tensors.items()
        },
    }
    # allow_nan=False: every value must be plain JSON that any parser (Foundation's included) reads exactly.
    text = json.dumps(expected, indent=2, sort_keys=True, allow_nan=False) + "\n"
    (out_dir / "expected.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
