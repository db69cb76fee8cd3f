/* Intentionally empty: CFaiss only carries pkg-config flags for faiss. */
