# Sourced by the scripts. Builds `memorag` and exports the launch environment for processes that run libtorch —
# the same rules as the CLI's own re-exec (OMP_WAIT_POLICY, OPENBLAS_CORETYPE).
#
# A libtorch outside the system's (setup's default, the PyPI wheel's) names its lib dir in torch.pc; binaries are
# linked with that dir as their run path (SWIFT_BUILD_FLAGS, for every `swift build`/`swift test` of the scripts), so
# they start without LD_LIBRARY_PATH. SwiftPM refuses -rpath from pkg-config, hence the command-line flag.
# MEMORAG_BUILD_CONFIG=release|debug (default debug) picks the build; MEMORAG_BIN is the binary.
torch_libdir=$(pkg-config --variable=libdir torch 2>/dev/null || true)
SWIFT_BUILD_FLAGS=()
if [[ -n $torch_libdir ]]; then SWIFT_BUILD_FLAGS=(-Xlinker -rpath -Xlinker "$torch_libdir"); fi
memorag_config="${MEMORAG_BUILD_CONFIG:-debug}"
swift build -c "$memorag_config" --product memorag "${SWIFT_BUILD_FLAGS[@]}" >&2
MEMORAG_BIN="$(swift build -c "$memorag_config" --show-bin-path)/memorag"
eval "$("$MEMORAG_BIN" env)"
