# Sourced by the scripts: the launch environment for processes that run libtorch — the same rules as the CLI's
# re-exec (OMP_WAIT_POLICY, OPENBLAS_CORETYPE) — plus the library path of a libtorch outside the system's.
# MEMORAG_BUILD_CONFIG=release|debug (default debug) picks which build of `memorag` answers `memorag env`.
torch_libdir=$(pkg-config --variable=libdir torch 2>/dev/null || true)
if [[ -n $torch_libdir ]]; then export LD_LIBRARY_PATH="$torch_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
memorag_config="${MEMORAG_BUILD_CONFIG:-debug}"
swift build -c "$memorag_config" --product memorag >&2
MEMORAG_BIN="$(swift build -c "$memorag_config" --show-bin-path)/memorag"
eval "$("$MEMORAG_BIN" env)"
