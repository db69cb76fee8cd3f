#!/usr/bin/env bash
# beacon-ref-venv.sh — create (once) the throw-away venv that runs the Activation Beacon reference code
# (FlagOpen/FlagEmbedding research/Long_LLM/activation_beacon/src), which targets transformers 4.3x–4.4x.
# Used by Tests/ModelsTests/Fixtures/make_beacon_fixtures.py and by `memorag bench memorize`'s Python peer.
#
#   PY=$(scripts/beacon-ref-venv.sh | tail -n1)
#
# Location: ${MEMORAG_CACHE:-$HOME/.cache/memorag}/venv-beacon-ref. The reference sources are not part of the venv:
# the fixture script and the peer take them from a directory given on their command line (MEMORAG_BEACON_REF,
# default ~/.cache/memorag/beacon-ref), extracted from a FlagEmbedding checkout with `git archive`.
# Idempotent; MEMORAG_BEACON_REF_VENV_REBUILD=1 forces a rebuild.
set -euo pipefail

TORCH_VERSION="2.13.0+cpu"
PINS="torch==$TORCH_VERSION numpy==1.26.4 safetensors==0.4.5 transformers==4.44.2 accelerate==0.34.2"

CACHE="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
VENV="$CACHE/venv-beacon-ref"
PY="$VENV/bin/python"
WHEELS="$CACHE/wheels"
STAMP="$VENV/.memorag-pins"

die() { echo "beacon-ref-venv: error: $*" >&2; exit 1; }

if [[ "${MEMORAG_BEACON_REF_VENV_REBUILD:-0}" != 1 && -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$PINS" ]] \
   && OMP_WAIT_POLICY=passive "$PY" -c 'import torch, numpy, safetensors, transformers' >/dev/null 2>&1; then
  echo "$PY"
  exit 0
fi

command -v python3 >/dev/null || die "python3 not found"
mkdir -p "$CACHE"
LOG="$(mktemp "${TMPDIR:-/tmp}/beacon-ref-venv.XXXXXX.log")"
trap 'rm -f "$LOG"' EXIT
rm -rf "$VENV"
python3 -m venv "$VENV" >"$LOG" 2>&1 || { cat "$LOG" >&2; die "could not create venv at $VENV"; }
pip_args=(install --quiet --disable-pip-version-check --no-input)
[[ -d "$WHEELS" ]] && pip_args+=(--find-links "$WHEELS")
# shellcheck disable=SC2086
if ! "$PY" -m pip "${pip_args[@]}" $PINS >"$LOG" 2>&1; then
  cat "$LOG" >&2; rm -rf "$VENV"; die "pip install failed for: $PINS"
fi
if "$PY" -m pip list --format=freeze 2>/dev/null | grep -Eiq '^(nvidia-|triton=)'; then
  rm -rf "$VENV"; die "CUDA packages were pulled in; expected a CPU-only torch"
fi
OMP_WAIT_POLICY=passive "$PY" -c 'import torch, numpy, safetensors, transformers' >"$LOG" 2>&1 \
  || { cat "$LOG" >&2; rm -rf "$VENV"; die "venv built but imports fail"; }
echo "$PINS" >"$STAMP"
echo "$PY"
