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
# (Sources/CTorch/src/device.cpp), so the binaries start on machines without CUDA too. Swift sources are compiled
# with their directory mapped to "." (-file-prefix-map), so the test fixtures and the repo files that the CLI finds
# through #filePath are found relative to the working directory: run the binaries from the repository root.
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
# -enable-testing: the tests' @testable imports in a release build.
flags=(-c release --scratch-path "$root/.build-gpu/build" -Xswiftc -enable-testing
       -Xswiftc -file-prefix-map -Xswiftc "$root=." -Xcc -ffile-prefix-map="$root"=.)
say "building memorag and the tests (release) against $libtorch"
swift build "${flags[@]}" --build-tests >&2
bin=$(swift build "${flags[@]}" --show-bin-path)

# ---- collect ------------------------------------------------------------------------------------------------------------
name="memorag-gpu-torch$version"
stage="$root/.build-gpu/$name"
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
cp "$bin/memorag" "$stage/bin/memorag"
cp "$bin"/*PackageTests.xctest "$stage/bin/memorag-tests"
strip --strip-unneeded "$stage/bin/memorag" "$stage/bin/memorag-tests"
# Every shared library the binaries load, but libtorch's own (the GPU machine's torch/lib serves them) and the C
# library's (they must be the machine's): the Swift runtime, HDF5 and its codecs, BLAS/LAPACK and OpenMP for faiss,
# libstdc++.
ldd "$stage/bin/memorag" "$stage/bin/memorag-tests" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
while read -r soname path; do
    case $soname in
        libtorch*|libc10*|libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) continue ;;
    esac
    cp -L "$path" "$stage/lib/$soname"
done
glibc=$(ldd --version | head -1 | awk '{print $NF}')
cat > "$stage/BUILD-INFO" <<INFO
torch $version (CUDA wheel: $(ls "$cache/gpu-wheel"/torch-"$version"-*.whl 2>/dev/null | xargs -r -n1 basename))
commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- Sources Tests Package.swift || echo " with uncommitted changes")
built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $glibc (the GPU machine needs this or newer)
$(swift --version 2>&1 | head -1)
INFO
archive="$root/.build-gpu/$name.tar.xz"
tar -C "$root/.build-gpu" -cf - "$name" | xz -T0 -6 > "$archive"
size=$(stat -c %s "$archive")
say "$(du -sh "$stage" | cut -f1) unpacked, $((size / 1048576)) MiB packed"
(( size <= 64 * 1048576 )) || die "$archive is over the 64 MiB that travels to the GPU machine"
echo "$archive"
