#!/usr/bin/env python3
"""Check that a safetensors file written by the Swift writer reads correctly with Python's reference implementation.

SafetensorsTests.swift writes the tensors and metadata described by ``expected.json`` (see make_fixtures.py) with
``SafetensorsWriter`` and, when the environment variable MEMORAG_PYTHON names a Python with ``safetensors`` and
``numpy``, runs this script on the result. It exits 0 when the file matches and 1 with a list of differences
otherwise (2 when a dependency is missing).

Checks: the Rust parser accepts the file (it enforces the format's rules: header length, contiguous data without
holes, sizes matching shapes); names, dtypes, shapes, values and metadata equal ``expected.json``, compared exactly
(floats bit for bit, so -0.0 differs from 0.0); the ordinary numpy loader reads every dtype numpy has; and the
header is padded to a multiple of 8 bytes.

Usage::

    python check_swift_written.py SWIFT_WRITTEN.safetensors EXPECTED.json
"""

import json
import sys

try:
    import numpy as np
    import safetensors
    from safetensors import safe_open
except ImportError as error:  # Say what is missing instead of a traceback.
    print(f"check_swift_written.py needs safetensors and numpy: {error}", file=sys.stderr)
    sys.exit(2)

# numpy has no bfloat16: BF16 is read as uint16 and widened to float32 by hand (its bits are float32's top half).
NUMPY_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": None,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def decode(dtype, data):
    """Little-endian bytes of a tensor as a flat numpy array."""
    if dtype == "BF16":
        bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    return np.frombuffer(data, dtype=np.dtype(NUMPY_DTYPES[dtype]).newbyteorder("<"))


def same_values(dtype, actual, expected):
    """Exact comparison; floats by bit pattern after widening to float64 (exact for every float dtype here)."""
    if len(actual) != len(expected):
        return False
    if dtype in ("F64", "F32", "F16", "BF16"):
        widened = actual.astype(np.float64)
        wanted = np.array(expected, dtype=np.float64)
        return bool(np.array_equal(widened.view(np.uint64), wanted.view(np.uint64)))
    return [bool(v) if dtype == "BOOL" else int(v) for v in actual] == expected


def check(path, expected):
    """Returns the list of problems found (empty when the file is right)."""
    problems = []
    with open(path, "rb") as file:
        raw = file.read()

    header_length = int.from_bytes(raw[:8], "little")
    if header_length % 8 != 0:
        problems.append(f"header length {header_length} is not a multiple of 8")

    try:
        tensors = dict(safetensors.deserialize(raw))
    except Exception as error:  # The reference parser's verdict is the point of this script.
        return [f"safetensors rejects the file: {error}"]

    wanted = expected["tensors"]
    if sorted(tensors) != sorted(wanted):
        problems.append(f"tensor names {sorted(tensors)} != expected {sorted(wanted)}")

    for name in sorted(set(tensors) & set(wanted)):
        info, spec = tensors[name], wanted[name]
        if info["dtype"] != spec["dtype"]:
            problems.append(f"{name}: dtype {info['dtype']} != expected {spec['dtype']}")
            continue
        if list(info["shape"]) != spec["shape"]:
            problems.append(f"{name}: shape {info['shape']} != expected {spec['shape']}")
        values = decode(info["dtype"], bytes(info["data"]))
        if not same_values(info["dtype"], values, spec["values"]):
            problems.append(f"{name}: values {values.tolist()} != expected {spec['values']}")

    # The everyday loading path, for the dtypes numpy can represent.
    with safe_open(path, framework="numpy") as file:
        if file.metadata() != expected["metadata"]:
            problems.append(f"metadata {file.metadata()} != expected {expected['metadata']}")
        for name in sorted(file.keys()):
            if name in wanted and wanted[name]["dtype"] != "BF16":
                array = file.get_tensor(name)
                if list(array.shape) != wanted[name]["shape"]:
                    problems.append(f"{name}: safe_open shape {list(array.shape)} != expected {wanted[name]['shape']}")
    return problems


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[2], encoding="utf-8") as file:
        expected = json.load(file)
    problems = check(sys.argv[1], expected)
    for problem in problems:
        print(f"{sys.argv[1]}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{sys.argv[1]}: OK ({len(expected['tensors'])} tensors)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
