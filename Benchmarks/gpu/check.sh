#!/usr/bin/env bash
# The one script to run on the GPU machine (issue 21): unpacks the bundle that scripts/gpu-bundle.sh made, runs the
# device-parameterised tests on CUDA, measures memorize and beacon-training tokens/s on random-weight models against
# the Activation Beacon reference (when the bundle carries it), and writes everything under $OUT (measures.md: the
# table with ratios and MFU). Run it from the repository root, carrying the archive, e.g. with the device tool:
#
#   command: bash Benchmarks/gpu/check.sh          carry: [".build-gpu/memorag-gpu-torch2.11.0.tar.xz"]
#
# or, when the archive does not fit beside the working tree, after carrying its parts one call at a time
# (docs/devices.md): the last call carries the last part and .build-gpu/parts/SHA256SUMS and runs this script.
#
# Every step runs and reports even when an earlier one fails; the summary ($OUT/summary.txt) lists each step's
# status, and the exit status is the number of failed steps. CHECK_SKIP_QWEN=1 leaves out the 1.5B model (its
# random weights take a minute to write); CHECK_REPEATS sets the timed repeats (default 3); CHECK_DEVICE (default
# cuda) is the device of the CUDA steps.
set -uo pipefail
out="${OUT:-/tmp/memorag-gpu-check}"
mkdir -p "$out"
exec > >(tee -a "$out/check.log") 2>&1
repeats="${CHECK_REPEATS:-3}"
failed=0
summary() { echo "$*" | tee -a "$out/summary.txt"; }
step() {  # step NAME COMMAND…: runs it with its output in $OUT/NAME.log, records ok/FAILED
    local name=$1; shift
    echo "== $name: $*"
    local start=$SECONDS status=0
    "$@" > "$out/$name.log" 2>&1 || status=$?
    if (( status == 0 )); then summary "ok      $name ($((SECONDS - start)) s)"
    else summary "FAILED  $name ($((SECONDS - start)) s, exit $status): see $name.log"; failed=$((failed + 1)); fi
    tail -5 "$out/$name.log"
    return "$status"
}

# ---- the machine and its torch -----------------------------------------------------------------------------------------
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
    ldd --version | head -1
    python3 -c 'import torch, os; print("torch", torch.__version__, "cuda", torch.version.cuda, os.path.dirname(torch.__file__))'
} | tee "$out/machine.txt"
# CHECK_TORCH_DIR (a dir holding lib/) and CHECK_TORCH_VERSION stand in for python3's torch, e.g. to try the bundle
# on the build machine against the unpacked CUDA wheel.
torch_dir=${CHECK_TORCH_DIR:-$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')} \
    || { echo "no python3 torch"; exit 100; }
torch_version=${CHECK_TORCH_VERSION:-$(python3 -c 'import torch; print(torch.__version__.split("+")[0])')}

# ---- the bundle ----------------------------------------------------------------------------------------------------------
# The archive, or its parts (.build-gpu/parts/, carried one per call; see docs/devices.md), joined and checked here.
work=$(mktemp -d)
archive="${1:-$(ls .build-gpu/memorag-gpu-torch*.tar.xz 2>/dev/null | head -1)}"
if [[ ! -f $archive && -f .build-gpu/parts/SHA256SUMS ]]; then
    (cd .build-gpu/parts && sha256sum --quiet -c SHA256SUMS) \
        || { echo "bundle parts missing or damaged (.build-gpu/parts): carry each part again"; exit 100; }
    archive="$work/bundle.tar.xz"
    cat .build-gpu/parts/*.part-* > "$archive"
fi
[[ -f $archive ]] || { echo "no bundle: run scripts/gpu-bundle.sh on the build machine and carry its archive or parts"; exit 100; }
tar -xJf "$archive" -C "$work" || exit 100
bundle=$(ls -d "$work"/memorag-gpu-torch*)
cat "$bundle/BUILD-INFO" | tee -a "$out/machine.txt"
built_for=$(basename "$bundle"); built_for=${built_for#memorag-gpu-torch}
[[ $built_for == "$torch_version" ]] || summary "WARNING the bundle was built for torch $built_for, this machine has $torch_version"
export OMP_WAIT_POLICY=passive
# Our binaries find the bundle's libraries and the machine's libtorch; python3 (torch, the peer) keeps its own.
ours="$bundle/lib:$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
memorag=(env LD_LIBRARY_PATH="$ours" "$bundle/bin/memorag")
tests=(env LD_LIBRARY_PATH="$ours" "$bundle/bin/memorag-tests")

# ---- checks ---------------------------------------------------------------------------------------------------------------
step env "${memorag[@]}" env
# The same device-parameterised tests as CI, on the CPU first (the bundle itself works), then on CUDA.
device_tests="TorchTests.DeviceTests,ModelsTests.DeviceModelTests,ModelsTests.BeaconParityTests"
device_tests+=",ModelsTests.BeaconTrainingParityTests,TrainingTests.TrainerTests"
step tests-cpu env MEMORAG_TEST_DEVICE=cpu "${tests[@]}" "$device_tests"
device="${CHECK_DEVICE:-cuda}"
step "tests-$device" env MEMORAG_TEST_DEVICE="$device" "${tests[@]}" "$device_tests"

# ---- the peer: the Activation Beacon reference over this machine's python3 and torch ---------------------------------
# The bundle carries its code (peer/beacon-ref) and the wheels of the versions it needs (peer/wheels); they go into a
# directory put first on PYTHONPATH, so they shadow the machine's newer ones and nothing else changes. (The GPU
# image's python3 is itself a venv, so a venv over its "system" packages would not see its torch.)
peer_site="$work/peer-site"
peer=()
setup_peer() {
    python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$peer_site" "$bundle"/peer/wheels/*.whl &&
    PYTHONPATH="$peer_site" python3 -c 'import torch, transformers; print("transformers", transformers.__version__, "torch", torch.__version__)'
}
if [[ -d $bundle/peer ]]; then
    step peer-setup setup_peer && peer=(env PYTHONPATH="$peer_site" python3)
else
    summary "WARNING the bundle has no Activation Beacon reference (peer/): ours is measured alone"
fi

# ---- measures: memorize and beacon-training tokens/s, bf16, 8K-token samples, ours then the reference's --------------
models="$work/models"
record() {  # record MODEL CONTENDER LOG: its JSON lines, labelled, into measures.jsonl
    grep '^{' "$3" | python3 -c 'import json, sys
for line in sys.stdin: print(json.dumps({**json.loads(line), "model": sys.argv[1], "contender": sys.argv[2]}))' "$1" "$2" \
        >> "$out/measures.jsonl"
}
measure() {  # measure NAME CONFIG: random weights in its shapes, then memorize and one beacon training step
    local name=$1 config=$2
    step "weights-$name" python3 Benchmarks/gpu/random_model.py "$config" "$models/$name" || return
    for case in r8_8k train_r8_8k; do
        step "bench-$name-$case-ours" "${memorag[@]}" bench memorize-worker --case "$case" --dtype bf16 \
            --repeats "$repeats" --threads 8 --model "$models/$name" --device "$device" &&
            record "$name" ours "$out/bench-$name-$case-ours.log"
        (( ${#peer[@]} )) || continue
        step "bench-$name-$case-peer" "${peer[@]}" Benchmarks/peer/beacon_memorize.py --case "$case" --dtype bf16 \
            --repeats "$repeats" --threads 8 --model "$models/$name" --device "$device" \
            --reference "$bundle/peer/beacon-ref" && record "$name" peer "$out/bench-$name-$case-peer.log"
    done
    rm -rf "${models:?}/$name"
}
measure smollm2-135m Benchmarks/gpu/smollm2-135m-beacon.json
[[ -n ${CHECK_SKIP_QWEN:-} ]] || measure qwen2-1.5b Benchmarks/gpu/qwen2-1.5b-beacon.json
[[ -f $out/measures.jsonl ]] && python3 Benchmarks/gpu/summarize.py "$out/measures.jsonl" "$out/machine.txt" \
    | tee "$out/measures.md"

summary "$failed step(s) failed"
rm -rf "$work"
exit "$failed"
