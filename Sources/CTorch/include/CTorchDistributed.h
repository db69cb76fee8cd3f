// CTorchDistributed: a pure-C view of libtorch's distributed engine (c10d) for data-parallel training.
//
// Nothing here is a transport of our own: the store is c10d's TCPStore (the rendezvous torchrun and every launcher
// speak), collectives run on c10d's ProcessGroupGloo (CPU tensors). The conventions are CTorch.h's: opaque handles,
// an `int` status (0 = success) with the reason kept for `mr_dist_last_error()`, results through out-parameters, one
// `*_free` per handle, no C++ exception leaving the shim. A collective that fails because a peer died or timed out
// returns nonzero with c10d's message; it never aborts the process.
#ifndef CTORCH_DISTRIBUTED_H
#define CTORCH_DISTRIBUTED_H

#include <stddef.h>
#include <stdint.h>

#include "CTorch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mr_dist_store_s *mr_dist_store;
typedef struct mr_dist_group_s *mr_dist_group;
typedef struct mr_dist_work_s *mr_dist_work;

typedef enum {
    MR_DIST_BACKEND_GLOO = 0,
    MR_DIST_BACKEND_NCCL = 1,
} mr_dist_backend;

/// The reason the last failed call on this thread gave (the shim's one thread-local error).
const char *mr_dist_last_error(void);
/// Whether this build of the shim can create a process group of `backend` (1) or not (0).
int mr_dist_backend_available(int backend, int *out);

/// Connects to (or, with `is_server`, hosts) a c10d TCPStore at host:port. The server waits up to `timeout_ms` for
/// `world_size` clients (itself included); a client retries its connection for up to `timeout_ms`. The same timeout
/// bounds every later `get`.
int mr_dist_store_connect(mr_dist_store *out, const char *host, int port, int is_server, int world_size,
                          int64_t timeout_ms);
void mr_dist_store_free(mr_dist_store store);
int mr_dist_store_set(mr_dist_store store, const char *key, const uint8_t *value, int64_t count);
/// Waits (up to the store's timeout) for `key` and returns its value in a buffer the caller frees with
/// `mr_dist_bytes_free`.
int mr_dist_store_get(mr_dist_store store, const char *key, uint8_t **value, int64_t *count);
/// Whether `key` is set now (no waiting).
int mr_dist_store_check(mr_dist_store store, const char *key, int *out);
/// Atomically adds `delta` to the integer counter `key` and returns its new value.
int mr_dist_store_add(mr_dist_store store, const char *key, int64_t delta, int64_t *out);
void mr_dist_bytes_free(uint8_t *bytes);

/// A process group of `size` ranks over `store`; `hostname` is the address this rank's transport binds to (empty:
/// the machine's hostname, falling back to loopback, as torch.distributed does). `threads` are Gloo's worker threads.
int mr_dist_group_new(mr_dist_group *out, mr_dist_store store, int rank, int size, int backend, int64_t timeout_ms,
                      const char *hostname, int threads);
void mr_dist_group_free(mr_dist_group group);

/// Sums `tensors` (contiguous, same device) over all ranks, in place, as one flat buffer (one collective for the
/// whole list: a gradient bucket). With `out` the call returns at once and `mr_dist_work_wait` finishes it (copying
/// the sums back); without, it waits.
int mr_dist_all_reduce_sum(mr_dist_group group, const mr_tensor *tensors, int64_t count, mr_dist_work *out);
/// The gradients of `parameters` summed over all ranks, in place, as one bucket; a parameter without a gradient on
/// this rank contributes zeros (and gets a zero gradient first), so every rank ends with the same defined gradients.
int mr_dist_all_reduce_gradients(mr_dist_group group, const mr_tensor *parameters, int64_t count, mr_dist_work *out);
/// Copies `root`'s values of `tensors` into every rank's, in place, as one flat buffer.
int mr_dist_broadcast(mr_dist_group group, const mr_tensor *tensors, int64_t count, int root);
int mr_dist_barrier(mr_dist_group group);
/// Waits for an asynchronous collective and finishes it (the sums are in the tensors afterwards).
int mr_dist_work_wait(mr_dist_work work);
void mr_dist_work_free(mr_dist_work work);

#ifdef __cplusplus
}
#endif

#endif
