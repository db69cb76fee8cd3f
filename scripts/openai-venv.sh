#!/usr/bin/env bash
# Makes ~/.cache/memorag/venv-openai with the official `openai` client, which ServerTests use (when present) to
# check that /v1/chat/completions works with OpenAI's own client. Idempotent; never committed.
set -euo pipefail
venv="${MEMORAG_CACHE:-$HOME/.cache/memorag}/venv-openai"
if [[ ! -x $venv/bin/python ]]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "openai>=1.40"
"$venv/bin/python" -c "import openai; print('openai', openai.__version__, 'in', '$venv')"
