#!/usr/bin/env bash
# The main job from a fresh checkout: set up the machine, build (release), and run the shipped default.
# Today that is the ops benchmark (our stack vs PyTorch eager); later the MemoRAG pipeline on the demo book.
# Extra arguments go to `memorag bench ops` (e.g. --rounds 5, --no-peer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
MEMORAG_BUILD_CONFIG=release source scripts/env.sh
"$MEMORAG_BIN" bench ops "$@"
