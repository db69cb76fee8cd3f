// c10d for the Swift side: TCPStore rendezvous and a Gloo process group, through the C API of CTorchDistributed.h.
//
// The wheel's libtorch exports ProcessGroupGloo but ships no gloo headers; ProcessGroupGloo.hpp includes a few of
// them (gloo/context.h, gloo/rendezvous/store.h, …). We compile against Debian's libgloo-dev headers. That is sound
// because this file only names gloo types through std::shared_ptr (the device the options hold) and calls
// out-of-line libtorch functions (the device factories, the ProcessGroupGloo constructor and its collectives): no
// gloo object is laid out or its virtual table read by code compiled here. The distributed tests run real
// collectives between processes, which would fail (not pass silently) if that ever stopped holding.
#define USE_C10D_GLOO 1

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "CTorchDistributed.h"
#include "internal.h"

struct mr_dist_store_s {
    c10::intrusive_ptr<c10d::TCPStore> store;
};

struct mr_dist_group_s {
    c10::intrusive_ptr<c10d::Backend> backend;
};

// An asynchronous bucket: the flat buffer in flight and the tensors its sums are copied back into.
struct mr_dist_work_s {
    c10::intrusive_ptr<c10d::Work> work;
    at::Tensor flat;
    std::vector<at::Tensor> targets;
};

namespace {

c10d::TCPStore &S(mr_dist_store h) {
    if (h == nullptr || !h->store) throw std::invalid_argument("null store handle");
    return *h->store;
}

c10d::Backend &G(mr_dist_group h) {
    if (h == nullptr || !h->backend) throw std::invalid_argument("null process group handle");
    return *h->backend;
}

std::string key_string(const char *key) {
    if (key == nullptr || *key == '\0') throw std::invalid_argument("empty store key");
    return key;
}

// One contiguous buffer holding every tensor's values, so a bucket is one collective (what DDP's buckets do).
at::Tensor flatten(const std::vector<at::Tensor> &tensors) {
    if (tensors.empty()) throw std::invalid_argument("empty tensor list");
    std::vector<at::Tensor> views;
    views.reserve(tensors.size());
    for (const auto &t : tensors) {
        if (t.scalar_type() != tensors[0].scalar_type()) throw std::invalid_argument("a bucket mixes dtypes");
        views.push_back(t.reshape({-1}));
    }
    return at::cat(views);
}

void unflatten_into(const at::Tensor &flat, std::vector<at::Tensor> &targets) {
    int64_t offset = 0;
    for (auto &t : targets) {
        const int64_t n = t.numel();
        t.copy_(flat.narrow(0, offset, n).view(t.sizes()));
        offset += n;
    }
}

int start_sum(c10d::Backend &group, std::vector<at::Tensor> targets, mr_dist_work *out) {
    at::NoGradGuard no_grad;
    // One contiguous tensor is reduced in place; a list goes through one flat buffer and is copied back.
    const bool in_place = targets.size() == 1 && targets[0].is_contiguous();
    auto flat = in_place ? targets[0].view({-1}) : flatten(targets);
    if (in_place) targets.clear();
    std::vector<at::Tensor> buffers{flat};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    auto work = group.allreduce(buffers, options);
    auto pending = std::make_unique<mr_dist_work_s>(mr_dist_work_s{work, flat, std::move(targets)});
    if (out != nullptr) {
        *out = pending.release();
        return 0;
    }
    pending->work->wait();
    unflatten_into(pending->flat, pending->targets);
    return 0;
}

} // namespace

extern "C" {

const char *mr_dist_last_error(void) { return mr_last_error(); }

int mr_dist_backend_available(int backend, int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        // NCCL needs a libtorch built with CUDA and this shim compiled against its headers; this build has neither.
        *out = backend == MR_DIST_BACKEND_GLOO ? 1 : 0;
    })
}

int mr_dist_store_connect(mr_dist_store *out, const char *host, int port, int is_server, int world_size,
                          int64_t timeout_ms) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        if (host == nullptr || *host == '\0') throw std::invalid_argument("empty store host");
        if (port <= 0 || port > 65535) throw std::invalid_argument("store port " + std::to_string(port) + " is not in 1…65535");
        if (world_size <= 0) throw std::invalid_argument("world size must be positive");
        if (timeout_ms <= 0) throw std::invalid_argument("timeout must be positive");
        c10d::TCPStoreOptions options;
        options.port = static_cast<uint16_t>(port);
        options.isServer = is_server != 0;
        options.numWorkers = world_size;
        options.waitWorkers = true;
        options.timeout = std::chrono::milliseconds(timeout_ms);
        *out = new mr_dist_store_s{c10::make_intrusive<c10d::TCPStore>(host, options)};
    })
}

void mr_dist_store_free(mr_dist_store store) { delete store; }

int mr_dist_store_set(mr_dist_store store, const char *key, const uint8_t *value, int64_t count) {
    PROTECT({
        if (count < 0 || (count > 0 && value == nullptr)) throw std::invalid_argument("invalid value buffer");
        S(store).set(key_string(key), std::vector<uint8_t>(value, value + count));
    })
}

int mr_dist_store_get(mr_dist_store store, const char *key, uint8_t **value, int64_t *count) {
    PROTECT({
        if (value == nullptr || count == nullptr) throw std::invalid_argument("null output pointer");
        auto bytes = S(store).get(key_string(key));
        auto *buffer = static_cast<uint8_t *>(std::malloc(bytes.empty() ? 1 : bytes.size()));
        if (buffer == nullptr) throw std::bad_alloc();
        if (!bytes.empty()) std::memcpy(buffer, bytes.data(), bytes.size());
        *value = buffer;
        *count = static_cast<int64_t>(bytes.size());
    })
}

int mr_dist_store_check(mr_dist_store store, const char *key, int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = S(store).check({key_string(key)}) ? 1 : 0;
    })
}

int mr_dist_store_add(mr_dist_store store, const char *key, int64_t delta, int64_t *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = S(store).add(key_string(key), delta);
    })
}

void mr_dist_bytes_free(uint8_t *bytes) { std::free(bytes); }

int mr_dist_group_new(mr_dist_group *out, mr_dist_store store, int rank, int size, int backend, int64_t timeout_ms,
                      const char *hostname, int threads) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        if (size <= 0 || rank < 0 || rank >= size)
            throw std::invalid_argument("rank " + std::to_string(rank) + " is not in a world of " + std::to_string(size));
        if (timeout_ms <= 0) throw std::invalid_argument("timeout must be positive");
        if (backend != MR_DIST_BACKEND_GLOO)
            throw std::invalid_argument("this build has no NCCL process group (its libtorch is CPU-only); use gloo");
        auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(timeout_ms));
        const char *interface = std::getenv("GLOO_SOCKET_IFNAME");
        if (hostname != nullptr && *hostname != '\0') {
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
        } else if (interface != nullptr && *interface != '\0') {
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
        } else {
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        options->threads = threads > 0 ? threads : 2;
        auto prefixed = c10::make_intrusive<c10d::PrefixStore>("memorag/gloo", store->store);
        *out = new mr_dist_group_s{c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, size, options)};
    })
}

void mr_dist_group_free(mr_dist_group group) { delete group; }

int mr_dist_all_reduce_sum(mr_dist_group group, const mr_tensor *tensors, int64_t count, mr_dist_work *out) {
    PROTECT({ start_sum(G(group), mr::tensor_list(tensors, count), out); })
}

int mr_dist_all_reduce_gradients(mr_dist_group group, const mr_tensor *parameters, int64_t count, mr_dist_work *out) {
    PROTECT({
        auto params = mr::tensor_list(parameters, count);
        std::vector<at::Tensor> grads;
        grads.reserve(params.size());
        for (auto &p : params) {
            if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
            grads.push_back(p.grad());
        }
        start_sum(G(group), std::move(grads), out);
    })
}

int mr_dist_broadcast(mr_dist_group group, const mr_tensor *tensors, int64_t count, int root) {
    PROTECT({
        at::NoGradGuard no_grad;
        auto targets = mr::tensor_list(tensors, count);
        std::vector<at::Tensor> buffers{flatten(targets)};
        c10d::BroadcastOptions options;
        options.rootRank = root;
        G(group).broadcast(buffers, options)->wait();
        unflatten_into(buffers[0], targets);
    })
}

int mr_dist_barrier(mr_dist_group group) { PROTECT({ G(group).barrier()->wait(); }) }

int mr_dist_work_wait(mr_dist_work work) {
    PROTECT({
        if (work == nullptr) throw std::invalid_argument("null work handle");
        at::NoGradGuard no_grad;
        work->work->wait();
        unflatten_into(work->flat, work->targets);
    })
}

void mr_dist_work_free(mr_dist_work work) { delete work; }

} // extern "C"
