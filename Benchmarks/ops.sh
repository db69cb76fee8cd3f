#!/usr/bin/env bash
# `memorag bench ops` with our stack built against both libtorch choices — setup's default (the PyPI wheel's 2.x)
# and Debian's 1.13 — interleaved with PyTorch eager. The second build lives in .build-system with its own
# pkg-config dir, so it never disturbs the default build. Extra arguments go to `memorag bench ops`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
bash scripts/setup.sh
MEMORAG_PKGCONFIG_DIR="$cache/pkgconfig-system" LIBTORCH=system bash scripts/setup.sh
PKG_CONFIG_PATH="$cache/pkgconfig-system" swift build -c release --scratch-path .build-system --product memorag >&2
MEMORAG_BUILD_CONFIG=release source scripts/env.sh
# Debian's libtorch must not see the wheel's libraries (it would pick up the wheel's libgomp).
other="env -u LD_LIBRARY_PATH $PWD/.build-system/release/memorag bench ops-worker"
"$MEMORAG_BIN" bench ops --contender "ours (libtorch 1.13, Debian)=$other" "$@"
