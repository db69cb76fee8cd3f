#!/usr/bin/env bash
# The clue-feedback run at scale (issue 19, docs/training.md "Clue training on retrieval feedback"): clue data from
# the four Austen training novels in 6,000-token contexts, then rounds of retrieval feedback on the shipped memory
# model, then its export. Every step resumes: run the same command again after a stop (SIGINT, SIGKILL, a reboot)
# and it continues where it was, in a run dir kept outside git.
#
#   nohup bash scripts/clue-feedback-run.sh RUN_DIR [train key=value overrides…] > RUN_DIR.log 2>&1 &
#
# The evaluation books never enter it (synth-clues refuses them); judge the exported model on Alice first
# (the tuning set) and report it on Pride and Prejudice only if it wins there:
#   memorag memorize Examples/alice.txt --model RUN_DIR/model --cache RUN_DIR/eval-alice
#   memorag eval --cache RUN_DIR/eval-alice --questions Examples/alice-questions.jsonl --max-new-tokens 1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run="${1:?usage: scripts/clue-feedback-run.sh RUN_DIR [train overrides…]}"
shift
MEMORAG_BUILD_CONFIG=release source scripts/env.sh
corpus="${MEMORAG_CACHE:-$HOME/.cache/memorag}/corpus"
mkdir -p "$run"

echo "== clue data ($(date -u +%H:%M:%S))"
"$MEMORAG_BIN" data synth-clues --out "$run/clues.jsonl" --resume --context-tokens 6000 --contexts 6 --passages 8 \
    --seed 11 "$corpus"/austen-{emma,mansfieldpark,northangerabbey,sensesensibility}.txt

echo "== clue feedback ($(date -u +%H:%M:%S))"
"$MEMORAG_BIN" train recipes/clue-feedback.yaml model.path=checkpoints/memorag-smollm2-135m \
    data.train="$run/clues.jsonl" output_dir="$run/train" resume=true \
    feedback.rounds=4 feedback.questions_per_round=48 max_steps=40 "$@"

echo "== export ($(date -u +%H:%M:%S))"
last=$(ls -d "$run"/train/step-* | sort -t- -k2 -n | tail -1)
"$MEMORAG_BIN" export "$last" --beacon-only --dtype bf16 --out "$run/model"   # a delta over the GGUF, as shipped
echo "exported $last to $run/model"
