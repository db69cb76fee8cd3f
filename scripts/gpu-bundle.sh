#!/usr/bin/env bash
# The portable bundle for a GPU machine that has a CUDA PyTorch but no Swift toolchain and no network (issue 21,
# docs/devices.md "Checking a GPU machine"): `memorag` and the test binary built here against the libtorch of the
# same torch version's CUDA wheel, with the shared libraries they need that such a machine may lack (the Swift
# runtime, HDF5, BLAS, …), packed as one archive. Benchmarks/gpu/check.sh unpacks it there and runs against that
# machine's own torch/lib.
#
#   bash scripts/gpu-bundle.sh [TORCH_VERSION]     # default 2.11.0; read the GPU machine's version there first
#
# Links libtorch_cpu and libc10 only: the shim opens libtorch_cuda.so from beside libtorch_cpu.so at run time
# (Sources/CTorch/src/device.cpp), so the binaries start on machines without CUDA too. Sources/ and Tests/ are
# compiled mapped to ./Sources and ./Tests (-file-prefix-map), so the test fixtures and the repo files that the CLI
# finds through #filePath are found relative to the working directory: run the binaries from the repository root.
# Also splits it into parts that each fit one call to the GPU machine beside the working tree (.build-gpu/parts/).
# Prints the archive's path as its last line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
version="${1:-2.11.0}"
cache="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
say() { echo "gpu-bundle: $*" >&2; }
die() { say "error: $*"; exit 1; }

# ---- the CUDA wheel's libtorch (include/ and lib/), unpacked once ---------------------------------------------------
libtorch="$cache/gpu-libtorch-$version"
if [[ ! -f $libtorch/lib/libtorch_cuda.so ]]; then
    wheels="$cache/gpu-wheel"
    mkdir -p "$wheels"
    wheel=$(ls "$wheels"/torch-"$version"-cp3*-manylinux*_x86_64.whl 2>/dev/null | head -1 || true)
    if [[ -z $wheel ]]; then
        say "downloading torch==$version (the CUDA wheel, without its dependencies) from PyPI"
        python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
            --python-version 3.11 "torch==$version" -d "$wheels" || die "pip download torch==$version failed"
        wheel=$(ls "$wheels"/torch-"$version"-cp3*-manylinux*_x86_64.whl | head -1)
    fi
    say "unpacking the libtorch of $(basename "$wheel") into $libtorch"
    tmp=$(mktemp -d)
    python3 - "$wheel" "$tmp" <<'PY' || die "could not unpack $wheel"
import sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith(("torch/include/", "torch/lib/"))])
PY
    rm -rf "$libtorch" && mv "$tmp/torch" "$libtorch" && rm -rf "$tmp"
    [[ -f $libtorch/lib/libtorch_cuda.so ]] || die "torch==$version from PyPI has no libtorch_cuda.so: not a CUDA wheel"
fi

# ---- build against it -------------------------------------------------------------------------------------------------
# A torch.pc of our own ahead of setup's: this libtorch, and no -ltorch (libtorch.so needs libtorch_cuda at link time).
pcdir="$root/.build-gpu/pkgconfig"
mkdir -p "$pcdir"
cat > "$pcdir/torch.pc" <<PC
# Written by scripts/gpu-bundle.sh: the CUDA wheel's libtorch, CPU libraries only (libtorch_cuda is opened at run time).
libdir=$libtorch/lib
Name: torch
Description: libtorch $version (CUDA wheel)
Version: $version
Cflags: -I$libtorch/include -I$libtorch/include/torch/csrc/api/include
Libs: -L\${libdir} -ltorch_cpu -lc10
PC
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# -enable-testing: the tests' @testable imports in a release build. The test binary needs XCTest, which exists only
# as a shared library, so it loads the shared Swift runtime, copied below; `memorag` uses that same copy. Linking it
# statically into `memorag` (--static-swift-stdlib) was measured: 22.6 MB packed instead of 7.7, a second runtime
# that the 64 MiB could not hold beside the tests and the peer.
flags=(-c release --scratch-path "$root/.build-gpu/build" -Xswiftc -enable-testing)
# Only Sources/ and Tests/ are mapped: mapping the root would rename the object files in the index store too, and
# test discovery would no longer find them.
for dir in Sources Tests; do
    flags+=(-Xswiftc -file-prefix-map -Xswiftc "$root/$dir=./$dir" -Xcc -ffile-prefix-map="$root/$dir"=./$dir)
done
say "building memorag and the tests (release) against $libtorch"
swift build "${flags[@]}" --build-tests >&2
bin=$(swift build "${flags[@]}" --show-bin-path)

# ---- collect ------------------------------------------------------------------------------------------------------------
name="memorag-gpu-torch$version"
stage="$root/.build-gpu/$name"
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
cp "$bin/memorag" "$stage/bin/memorag"
cp "$bin"/*PackageTests.xctest "$stage/bin/memorag-tests"
# The resources of Bundle.module (the tests' fixtures, the tokenizer's and the server's files), found beside the binary.
cp -r "$bin"/*.resources "$stage/bin/"
strip --strip-unneeded "$stage/bin/memorag" "$stage/bin/memorag-tests"
# Every shared library the binaries load (the Swift runtime, HDF5 and its codecs, BLAS/LAPACK for faiss), but the
# wheel's libtorch and what it brings (the machine's torch/lib and, through libtorch's RPATH, its nvidia/ packages
# serve them), the C library's, and the C++ runtime's: libtorch needs the machine's libstdc++, which is at least as
# new as this one (the GPU image: Python 3.12.3, Ubuntu 24.04's). ldd resolves libtorch from the wheel, as the machine
# will: a system libtorch (Debian's libtorch-dev) would bring its own dependencies (OpenCV, FFmpeg, …) along.
LD_LIBRARY_PATH="$libtorch/lib" ldd "$stage/bin/memorag" "$stage/bin/memorag-tests" |
    awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
while read -r soname path; do
    [[ $path == "$libtorch"/lib/* ]] && continue
    case $soname in
        libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|libutil.so.*|ld-linux*) continue ;;
        libstdc++.so.*|libgcc_s.so.*) continue ;;
    esac
    cp -L "$path" "$stage/lib/$soname"
done
# ---- the peer: the Activation Beacon reference and the Python packages it needs there --------------------------------
# The reference code comes from a FlagEmbedding checkout (MEMORAG_BEACON_REF, as for the CPU peer,
# scripts/beacon-ref-venv.sh) and travels in the archive only. The GPU image has Python 3.12 with torch and
# transformers 5.x, tokenizers 0.23 and huggingface_hub 1.x, all too new for the reference's transformers 4.44: those
# travel as wheels for PEER_PYTHON (default 3.12); check.sh installs them with --no-deps into a directory first on
# PYTHONPATH, so the machine's own numpy, safetensors, regex, pyyaml, … serve beside them.
ref="${MEMORAG_BEACON_REF:-$cache/beacon-ref}"
if [[ -f $ref/modeling_beacon.py ]]; then
    mkdir -p "$stage/peer/wheels"
    cp -r "$ref" "$stage/peer/beacon-ref"
    rm -rf "$stage"/peer/beacon-ref/{__pycache__,*/__pycache__}
    printf '%s\n' transformers==4.44.2 tokenizers==0.19.1 huggingface_hub==0.24.7 accelerate==0.34.2 \
        > "$stage/peer/requirements.txt"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "${PEER_PYTHON:-3.12}" \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
        -r "$stage/peer/requirements.txt" -d "$stage/peer/wheels" || die "could not download the peer's wheels"
else
    say "no Activation Beacon reference at $ref (MEMORAG_BEACON_REF): the bundle measures ours alone"
fi

glibc=$(ldd --version | head -1 | awk '{print $NF}')
cat > "$stage/BUILD-INFO" <<INFO
torch $version (CUDA wheel: $(ls "$cache/gpu-wheel"/torch-"$version"-*.whl 2>/dev/null | xargs -r -n1 basename))
commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- Sources Tests Package.swift || echo " with uncommitted changes")
built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $glibc (the GPU machine needs this or newer)
$(swift --version 2>&1 | head -1)
INFO
archive="$root/.build-gpu/$name.tar.xz"
tar -C "$root/.build-gpu" -cf - "$name" | xz -T0 -9e > "$archive"
size=$(stat -c %s "$archive")
say "$(du -sh "$stage" | cut -f1) unpacked, $((size / 1048576)) MiB packed"

# ---- parts that travel beside the working tree ------------------------------------------------------------------------
# A call to the GPU machine sends the working tree (tracked and untracked-not-ignored files, 48 MB of it the shipped
# model) and the carried paths, 64 MiB in all; ignored files already there stay between calls on the same machine.
# So the archive goes in parts, one carried per call, each as large as the tree leaves room for (1 MiB spare);
# check.sh joins them and checks them against SHA256SUMS (see docs/devices.md).
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 -r stat -c %s -- 2>/dev/null |
    awk '{ total += $1 } END { print total + 0 }')
part=$(( (63 * 1048576 - tree) / 1048576 ))
(( part >= 1 )) || die "the working tree ($((tree / 1048576)) MiB) leaves no room to carry the bundle"
parts="$root/.build-gpu/parts"
rm -rf "$parts" && mkdir -p "$parts"
split --bytes="${part}M" --numeric-suffixes --suffix-length=2 "$archive" "$parts/$name.tar.xz.part-"
(cd "$parts" && sha256sum "$name".tar.xz.part-* > SHA256SUMS)
files=("$parts"/*.part-*)
say "the working tree sends $((tree / 1048576)) MiB: ${#files[@]} parts of at most $part MiB in $parts, one call"
say "each, back to back on one machine (docs/devices.md):"
for file in "${files[@]:0:${#files[@]}-1}"; do
    say "  carry [\".build-gpu/parts/$(basename "$file")\"]  command: true"
done
say "  carry [\".build-gpu/parts/$(basename "${files[-1]}")\", \".build-gpu/parts/SHA256SUMS\"]  command: bash Benchmarks/gpu/check.sh"
echo "$archive"
