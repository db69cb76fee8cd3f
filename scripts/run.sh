#!/usr/bin/env bash
# The main job from a fresh checkout: set up the machine (packages, default weights), build (release), then run the
# MemoRAG pipeline with the shipped default memory model on the demo book (Examples/alice.txt): memorize it into a
# cache dir, then ask questions, printing the clues, the evidence and the answer of each.
#
# Environment: MEMORAG_DEMO_CACHE (default ~/.cache/memorag/demo/alice) is the cache dir; it is reused when it holds
# the same book memorized by the same models. Arguments replace the demo questions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
MEMORAG_BUILD_CONFIG=release source scripts/env.sh
cache="${MEMORAG_DEMO_CACHE:-${MEMORAG_CACHE:-$HOME/.cache/memorag}/demo/alice}"
questions=("$@")
if (( ${#questions[@]} == 0 )); then
    questions=("Why does Alice follow the White Rabbit, and where does it lead her?"
               "What happens at the Mad Hatter's tea party?")
fi
"$MEMORAG_BIN" memorize Examples/alice.txt --cache "$cache" --reuse
for q in "${questions[@]}"; do
    echo
    echo "question: $q"
    "$MEMORAG_BIN" ask --cache "$cache" "$q"
done
