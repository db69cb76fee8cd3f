/* Intentionally empty: CLibTorch only carries pkg-config flags for libtorch. */
