#!/usr/bin/env bash
# peer-venv.sh — create (once) the throw-away Python venv used by the PyTorch
# peers (Benchmarks/peer/*.py) and by the fixture generators under Tests/*/Fixtures.
#
#   scripts/peer-venv.sh            # prints the venv's python path (last stdout line)
#   PY=$(scripts/peer-venv.sh | tail -n1)
#
# Location: ${MEMORAG_CACHE:-$HOME/.cache/memorag}/venv-peer
# Contents: CPU-only torch plus numpy, safetensors, transformers (with gguf and accelerate, to load GGUF files),
# sentence-transformers, sentencepiece and protobuf (fixture scripts), all pinned.
# The torch pin is the "+cpu" local-version wheel, which declares no nvidia-*
# dependencies, so no CUDA packages are ever pulled in. If a copy of that wheel
# sits in $MEMORAG_CACHE/wheels it is used instead of downloading it again.
#
# Idempotent: when the venv exists and already imports the pinned versions the
# script only prints the python path. Quiet on success; on failure the pip log
# is shown and the script exits non-zero. Set MEMORAG_PEER_VENV_REBUILD=1 to
# force a rebuild.
set -euo pipefail

TORCH_VERSION="2.13.0+cpu"
NUMPY_VERSION="2.4.6"
SAFETENSORS_VERSION="0.8.0"
TRANSFORMERS_VERSION="5.24.0"
EXTRA_PINS="gguf==0.19.0 accelerate==1.15.0 sentence-transformers==6.2.0 sentencepiece==0.2.3 protobuf"

CACHE="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
VENV="$CACHE/venv-peer"
PY="$VENV/bin/python"
WHEELS="$CACHE/wheels"
STAMP="$VENV/.memorag-peer-pins"
PINS="torch==$TORCH_VERSION numpy==$NUMPY_VERSION safetensors==$SAFETENSORS_VERSION transformers==$TRANSFORMERS_VERSION $EXTRA_PINS"

die() { echo "peer-venv: error: $*" >&2; exit 1; }

# Up to date already? (the stamp records the pins it was built with, and the
# import check catches a venv broken after the fact)
if [[ "${MEMORAG_PEER_VENV_REBUILD:-0}" != 1 && -x "$PY" && -f "$STAMP" \
      && "$(cat "$STAMP")" == "$PINS" ]] \
   && OMP_WAIT_POLICY=passive "$PY" -c 'import torch, numpy, safetensors, transformers, gguf, accelerate, sentence_transformers' >/dev/null 2>&1; then
  echo "$PY"
  exit 0
fi

command -v python3 >/dev/null || die "python3 not found (Python 3.11 expected)"
mkdir -p "$CACHE"
LOG="$(mktemp "${TMPDIR:-/tmp}/peer-venv.XXXXXX.log")"
trap 'rm -f "$LOG"' EXIT

rm -rf "$VENV"
python3 -m venv "$VENV" >"$LOG" 2>&1 || { cat "$LOG" >&2; die "could not create venv at $VENV (is python3-venv installed?)"; }

pip_args=(install --quiet --disable-pip-version-check --no-input)
[[ -d "$WHEELS" ]] && pip_args+=(--find-links "$WHEELS")
# shellcheck disable=SC2086
if ! "$PY" -m pip "${pip_args[@]}" $PINS >"$LOG" 2>&1; then
  cat "$LOG" >&2
  rm -rf "$VENV"
  die "pip install failed for: $PINS"
fi

# Guard: the +cpu wheel has no CUDA dependencies; make sure none slipped in.
if "$PY" -m pip list --format=freeze 2>/dev/null | grep -Eiq '^(nvidia-|triton=)'; then
  "$PY" -m pip list --format=freeze | grep -Ei '^(nvidia-|triton=)' >&2
  rm -rf "$VENV"
  die "CUDA packages were pulled in; expected a CPU-only torch"
fi

OMP_WAIT_POLICY=passive "$PY" -c 'import torch, numpy, safetensors, transformers, gguf, accelerate, sentence_transformers' >"$LOG" 2>&1 \
  || { cat "$LOG" >&2; rm -rf "$VENV"; die "venv built but imports fail"; }

echo "$PINS" >"$STAMP"
echo "$PY"
