#!/usr/bin/env bash
# The quality evaluation: memorize the tuning book (Alice, Examples/alice.txt) and the held-out book (Pride and
# Prejudice, from `memorag data fetch-corpus`'s eval/ dir), then run `memorag eval` on each question set (Alice's two
# tuning sets, one naming what it asks about and one paraphrased like the held-out set; then the held-out set), writing
# the per-question lines and the summary (evidence recall beside the question alone, each clue kind alone, recall@k,
# per type, F1 / ROUGE-L, latency) under OUT_DIR.
#
#   bash scripts/eval-books.sh OUT_DIR [extra `memorag eval` options…]    # e.g. --fusion max-score
#
# Defaults are tuned on Alice only; Pride and Prejudice is reported, never tuned on (docs/pipeline.md#evaluation).
# Persuasion is reserved: nothing here reads it. Caches go to MEMORAG_EVAL_CACHE (default ~/.cache/memorag/eval) and
# are reused while the books and models are unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: scripts/eval-books.sh OUT_DIR [memorag eval options…]}"
shift
MEMORAG_BUILD_CONFIG=release source scripts/env.sh
caches="${MEMORAG_EVAL_CACHE:-${MEMORAG_CACHE:-$HOME/.cache/memorag}/eval}"
corpus="${MEMORAG_CACHE:-$HOME/.cache/memorag}/corpus"
book="$corpus/eval/austen-prideprejudice.txt"
[[ -f $book ]] || "$MEMORAG_BIN" data fetch-corpus
mkdir -p "$out" "$caches"
cp "$book" "$caches/pride-and-prejudice.txt"   # the document is named after its file
"$MEMORAG_BIN" memorize Examples/alice.txt --cache "$caches/alice" --reuse
"$MEMORAG_BIN" memorize "$caches/pride-and-prejudice.txt" --cache "$caches/pride-and-prejudice" --reuse
for set in alice:alice:Examples/alice-questions.jsonl alice-paraphrased:alice:Examples/alice-paraphrased-questions.jsonl \
           pride-and-prejudice:pride-and-prejudice:Examples/pride-and-prejudice-questions.jsonl; do
    IFS=: read -r name cache questions <<< "$set"
    echo "== $name"
    "$MEMORAG_BIN" eval --cache "$caches/$cache" --questions "$questions" --out "$out/$name.jsonl" \
        --report "$out/$name.json" "$@" | tee "$out/$name.txt"
done
