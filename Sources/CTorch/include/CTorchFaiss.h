// CTorchFaiss: a pure-C view of faiss (vector indexes) for the Retrieval target.
//
// Debian's libfaiss-dev 1.7.3 ships only the static C++ library (no C API), so these bodies are C++ inside the
// shim, with the conventions of CTorch.h: opaque handles, an `int` status (0 = success) with the reason kept for
// `mr_faiss_last_error()`, results through out-parameters, one `*_free` per handle, no C++ exception leaving the shim.
// Vectors cross as dense row-major float32 arrays of `n × dimension`; ids are faiss's sequential ids (the order of
// `add`), int64.
#ifndef CTORCH_FAISS_H
#define CTORCH_FAISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mr_faiss_index_s *mr_faiss_index;

/// faiss::MetricType values.
typedef enum {
    MR_FAISS_METRIC_INNER_PRODUCT = 0,
    MR_FAISS_METRIC_L2 = 1,
} mr_faiss_metric;

/// The reason the last failed call on this thread gave (the shim's one thread-local error; this accessor lets the
/// faiss part's users read it without the tensor API).
const char *mr_faiss_last_error(void);
/// Writes "MAJOR.MINOR.PATCH" of the faiss the shim was compiled against.
int mr_faiss_version(char *buffer, size_t capacity);
/// OpenMP threads for faiss calls: n ≥ 1, or 0 to follow libtorch's intra-op thread count (the default). Each call
/// sets it on the calling thread for its duration and restores the thread's previous value afterwards, so libtorch's
/// own setting is left as it was.
int mr_faiss_set_num_threads(int n);
/// The thread count faiss calls use now (libtorch's when following it).
int mr_faiss_get_num_threads(int *out);

/// A new index from an `index_factory` description ("Flat", "IVF64,Flat", "HNSW32", ...).
int mr_faiss_index_factory(mr_faiss_index *out, int64_t dimension, const char *description, int metric);
void mr_faiss_index_free(mr_faiss_index index);
int mr_faiss_dimension(mr_faiss_index index, int64_t *out);
int mr_faiss_metric_type(mr_faiss_index index, int *out);
int mr_faiss_is_trained(mr_faiss_index index, int *out);
int mr_faiss_ntotal(mr_faiss_index index, int64_t *out);
int mr_faiss_train(mr_faiss_index index, int64_t n, const float *vectors);
int mr_faiss_add(mr_faiss_index index, int64_t n, const float *vectors);
/// k nearest neighbours of each of `n` queries: `scores` and `ids` hold n × k values (row per query, best first);
/// slots without a result (k > ntotal, empty IVF lists) get id -1.
int mr_faiss_search(mr_faiss_index index, int64_t n, const float *queries, int64_t k, float *scores, int64_t *ids);
/// Sets a search-time parameter by name (faiss::ParameterSpace: "nprobe" for IVF, "efSearch" for HNSW, ...).
int mr_faiss_set_parameter(mr_faiss_index index, const char *name, double value);
/// faiss::write_index to a file path.
int mr_faiss_write_index(mr_faiss_index index, const char *path);
/// faiss::read_index from a file path, then checks that the index's sizes agree with each other (a damaged file
/// that faiss parses must fail here, not crash a later search).
int mr_faiss_read_index(mr_faiss_index *out, const char *path);

#ifdef __cplusplus
}
#endif

#endif
