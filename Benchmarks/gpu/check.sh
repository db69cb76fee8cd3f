#!/usr/bin/env bash
# The one script to run on the GPU machine (issue 21): unpacks the bundle that scripts/gpu-bundle.sh made, runs the
# device-parameterised tests on CUDA, measures memorize and beacon-training tokens/s on random-weight models against
# the Activation Beacon reference (when the bundle carries it), and writes everything under $OUT (measures.md: the
# table with ratios and MFU). Run it from the repository root, carrying the archive, e.g. with the device tool:
#
#   command: bash Benchmarks/gpu/check.sh          carry: [".build-gpu/memorag-gpu-torch2.11.0.tar.xz"]
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
archive="${1:-$(ls .build-gpu/memorag-gpu-torch*.tar.xz 2>/dev/null | head -1)}"
[[ -f $archive ]] || { echo "no bundle: run scripts/gpu-bundle.sh on the build machine and carry its archive"; exit 100; }
work=$(mktemp -d)
tar -xJf "$archive" -C "$work" || exit 100
bundle=$(ls -d "$work"/memorag-gpu-torch*)
cat "$bundle/BUILD-INFO" | tee -a "$out/machine.txt"
built_for=$(basename "$bundle"); built_for=${built_for#memorag-gpu-torch}
[[ $built_for == "$torch_version" ]] || summary "WARNING the bundle was built for torch $built_for, this machine has $torch_version"
export LD_LIBRARY_PATH="$bundle/lib:$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_WAIT_POLICY=passive
memorag="$bundle/bin/memorag"
tests="$bundle/bin/memorag-tests"

# ---- checks ---------------------------------------------------------------------------------------------------------------
step env "$memorag" env
# The same device-parameterised tests as CI, on the CPU first (the bundle itself works), then on CUDA.
device_tests="TorchTests.DeviceTests,ModelsTests.DeviceModelTests,ModelsTests.BeaconParityTests"
device_tests+=",ModelsTests.BeaconTrainingParityTests,TrainingTests.TrainerTests"
step tests-cpu env MEMORAG_TEST_DEVICE=cpu "$tests" "$device_tests"
device="${CHECK_DEVICE:-cuda}"
step "tests-$device" env MEMORAG_TEST_DEVICE="$device" "$tests" "$device_tests"

# ---- the peer: the Activation Beacon reference in a venv over this machine's torch -------------------------------------
# The bundle carries its code (peer/beacon-ref) and wheels (peer/wheels, peer/requirements.txt); nothing is fetched.
peer_python=""
setup_peer() {
    python3 -m venv --system-site-packages "$work/peer-venv" &&
    "$work/peer-venv/bin/python" -m pip install --quiet --no-index --no-deps --find-links "$bundle/peer/wheels" \
        -r "$bundle/peer/requirements.txt" &&
    "$work/peer-venv/bin/python" -c 'import torch, transformers; print("transformers", transformers.__version__, "torch", torch.__version__)'
}
if [[ -d $bundle/peer ]]; then
    step peer-venv setup_peer && peer_python="$work/peer-venv/bin/python"
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
        step "bench-$name-$case-ours" "$memorag" bench memorize-worker --case "$case" --dtype bf16 \
            --repeats "$repeats" --threads 8 --model "$models/$name" --device "$device" &&
            record "$name" ours "$out/bench-$name-$case-ours.log"
        [[ -n $peer_python ]] || continue
        step "bench-$name-$case-peer" "$peer_python" Benchmarks/peer/beacon_memorize.py --case "$case" --dtype bf16 \
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
