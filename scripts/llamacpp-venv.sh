#!/usr/bin/env bash
# llamacpp-venv.sh — create (once) the throw-away Python venv used by the
# llama.cpp peer (Benchmarks/peer/llamacpp_generate.py).
#
#   scripts/llamacpp-venv.sh        # prints the venv's python path (last stdout line)
#   PY=$(scripts/llamacpp-venv.sh | tail -n1)
#
# Location: ${MEMORAG_CACHE:-$HOME/.cache/memorag}/venv-llamacpp
# Contents: llama-cpp-python (pinned) built from its PyPI sdist, which compiles
# the bundled llama.cpp with CMake (scikit-build-core). CPU only:
#   CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CUDA=OFF ... -DLLAMA_CURL=OFF"
# GGML_NATIVE=ON means -march=native: the build is tuned to (and only valid
# on) the machine that built it. Needs a C/C++ toolchain (build-essential) and
# CMake >= 3.21 (Debian 12's `apt-get install cmake` gives 3.25; otherwise the
# build backend pulls the cmake wheel from PyPI). The compile is slow
# (~10-20 min on 2 cores); it runs under `nice -n 15` with 2 parallel jobs
# (override with MEMORAG_LLAMACPP_JOBS).
#
# Idempotent: when the venv exists, its stamp matches the pin + build flags and
# `import llama_cpp` works, the script only prints the python path. Quiet on
# success; the build log is written to $MEMORAG_CACHE/llamacpp-venv-build.log
# (kept); on failure its tail is shown and the script exits non-zero. Set MEMORAG_LLAMACPP_VENV_REBUILD=1 to force a rebuild.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="0.3.36"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF -DLLAMA_CURL=OFF"
JOBS="${MEMORAG_LLAMACPP_JOBS:-2}"

CACHE="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
VENV="$CACHE/venv-llamacpp"
PY="$VENV/bin/python"
STAMP="$VENV/.memorag-llamacpp-pins"
PINS="llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION CMAKE_ARGS=$LLAMA_CMAKE_ARGS"

die() { echo "llamacpp-venv: error: $*" >&2; exit 1; }

if [[ "${MEMORAG_LLAMACPP_VENV_REBUILD:-0}" != 1 && -x "$PY" && -f "$STAMP" \
      && "$(cat "$STAMP")" == "$PINS" ]] \
   && OMP_WAIT_POLICY=passive "$PY" -c 'import llama_cpp' >/dev/null 2>&1; then
  echo "$PY"
  exit 0
fi

command -v python3 >/dev/null || die "python3 not found (Python 3.11 expected)"
command -v cc >/dev/null && command -v c++ >/dev/null \
  || die "no C/C++ compiler found (apt-get install -y build-essential)"
mkdir -p "$CACHE"
LOG="$CACHE/llamacpp-venv-build.log"
: >"$LOG"

fail() {
  tail -n 60 "$LOG" >&2
  rm -rf "$VENV"
  die "$* (full log: $LOG)"
}

rm -rf "$VENV"
python3 -m venv "$VENV" >>"$LOG" 2>&1 || fail "could not create venv at $VENV (is python3-venv installed?)"

"$PY" -m pip install --quiet --disable-pip-version-check --no-input --upgrade pip >>"$LOG" 2>&1 \
  || fail "could not upgrade pip in $VENV"

echo "llamacpp-venv: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from source (slow)..." >&2
if ! CMAKE_ARGS="$LLAMA_CMAKE_ARGS" FORCE_CMAKE=1 MAKEFLAGS="-j$JOBS" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
     nice -n 15 "$PY" -m pip install --disable-pip-version-check --no-input --no-cache-dir \
       --no-binary llama-cpp-python --verbose "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >>"$LOG" 2>&1; then
  fail "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from its sdist failed"
fi

OMP_WAIT_POLICY=passive "$PY" -c 'import llama_cpp; print(llama_cpp.__version__)' >>"$LOG" 2>&1 \
  || fail "venv built but 'import llama_cpp' fails"

echo "$PINS" >"$STAMP"
echo "$PY"
