#!/usr/bin/env bash
# A small throw-away venv with Python's `safetensors`, `numpy`, `tokenizers`, `h5py` and `faiss`, used by the tests to check that files we write
# open in the reference implementation. Made once under the cache dir; prints its python as the last line.
set -euo pipefail
venv="${MEMORAG_CACHE:-$HOME/.cache/memorag}/venv-check"
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c "import safetensors, numpy, tokenizers, h5py, faiss" 2>/dev/null; then
    command -v python3 >/dev/null || { echo "check-venv: python3 not found" >&2; exit 1; }
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || { echo "check-venv: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "safetensors==0.8.0" "numpy>=1.26" "tokenizers>=0.20" "h5py>=3.10" "faiss-cpu>=1.8" >&2 \
        || { echo "check-venv: pip install of the check packages failed" >&2; rm -rf "$venv"; exit 1; }
fi
echo "$venv/bin/python"
