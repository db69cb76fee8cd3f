#!/usr/bin/env bash
# The whole test suite from a fresh checkout: set up the machine, build, and run `swift test` with the launch
# environment every libtorch process needs (OMP_WAIT_POLICY=passive, OPENBLAS_CORETYPE for this CPU, the libtorch
# lib dir). Extra arguments go to `swift test` (e.g. --filter SafetensorsTests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
source scripts/env.sh
# Interop checks run our files through Python's reference readers when this venv can be made (else they skip).
MEMORAG_PYTHON="${MEMORAG_PYTHON:-$(bash scripts/check-venv.sh | tail -n 1)}" || true
export MEMORAG_PYTHON MEMORAG_PEER_PYTHON="${MEMORAG_PEER_PYTHON:-$MEMORAG_PYTHON}"
# ServerTests check /v1/chat/completions with the official `openai` client when its venv can be made (else skip).
bash scripts/openai-venv.sh >/dev/null 2>&1 || true
swift test "${SWIFT_BUILD_FLAGS[@]}" "$@"
