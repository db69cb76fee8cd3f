// faiss vector indexes behind the pure-C API of CTorchFaiss.h.
#include "internal.h"

#include "CTorchFaiss.h"

#include <ATen/Parallel.h>
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <memory>

// faiss's OpenMP runtime is the process's only libgomp (libtorch's, which shares its soname); declared here rather
// than through <omp.h>, which the Swift toolchain's clang does not ship.
extern "C" {
int omp_get_max_threads(void);
void omp_set_num_threads(int);
}

struct mr_faiss_index_s {
    std::unique_ptr<faiss::Index> index;
};

namespace {

std::atomic<int> faiss_threads{0};  // 0: follow libtorch

// Sets the calling thread's OpenMP thread count for one faiss call and restores it afterwards: libtorch reads the
// same per-thread value (omp_get_max_threads) for its own parallel regions.
struct ThreadScope {
    int saved;
    ThreadScope() {
        int wanted = faiss_threads.load();
        if (wanted <= 0) wanted = at::get_num_threads();  // also runs libtorch's per-thread lazy initialisation
        saved = omp_get_max_threads();
        if (wanted != saved) omp_set_num_threads(wanted);
    }
    ~ThreadScope() {
        if (omp_get_max_threads() != saved) omp_set_num_threads(saved);
    }
};

faiss::Index &I(mr_faiss_index h) {
    if (h == nullptr || !h->index) throw std::invalid_argument("null faiss index handle");
    return *h->index;
}

void check_rows(int64_t n, const float *data, const char *what) {
    if (n < 0) throw std::invalid_argument(std::string("negative number of ") + what);
    if (n > 0 && data == nullptr) throw std::invalid_argument(std::string("null ") + what + " array");
}

// A file that faiss parses can still be damaged (a flipped size field); check what a later search relies on.
void validate(const faiss::Index &index, const std::string &path) {
    auto fail = [&](const std::string &why) { throw std::runtime_error(path + ": inconsistent faiss index: " + why); };
    if (index.d <= 0) fail("dimension " + std::to_string(index.d));
    if (index.ntotal < 0) fail("ntotal " + std::to_string(index.ntotal));
    if (auto flat = dynamic_cast<const faiss::IndexFlatCodes *>(&index)) {
        if (flat->codes.size() != static_cast<size_t>(flat->ntotal) * flat->code_size)
            fail("holds " + std::to_string(flat->codes.size()) + " code bytes for " + std::to_string(flat->ntotal) +
                 " vectors of " + std::to_string(flat->code_size) + " bytes");
    }
    if (auto ivf = dynamic_cast<const faiss::IndexIVF *>(&index)) {
        if (ivf->invlists == nullptr) fail("IVF index without inverted lists");
        if (ivf->invlists->nlist != ivf->nlist) fail("nlist disagrees with its inverted lists");
        if (ivf->quantizer == nullptr || ivf->quantizer->d != index.d) fail("IVF quantizer missing or of another dimension");
        if (ivf->is_trained && ivf->quantizer->ntotal != static_cast<faiss::Index::idx_t>(ivf->nlist))
            fail("IVF quantizer holds " + std::to_string(ivf->quantizer->ntotal) + " centroids for " +
                 std::to_string(ivf->nlist) + " lists");
        size_t total = 0;
        for (size_t list = 0; list < ivf->nlist; ++list) total += ivf->invlists->list_size(list);
        if (total != static_cast<size_t>(ivf->ntotal))
            fail("inverted lists hold " + std::to_string(total) + " vectors, ntotal says " + std::to_string(ivf->ntotal));
    }
}

void write_string(const std::string &s, char *buffer, size_t capacity) {
    if (buffer == nullptr || capacity == 0) throw std::invalid_argument("empty output buffer");
    size_t n = std::min(s.size(), capacity - 1);
    std::memcpy(buffer, s.data(), n);
    buffer[n] = '\0';
}

// faiss's exceptions read "Error in FUNCTION at FILE:LINE: REASON"; the reason is what a user can act on.
std::string faiss_reason(const std::string &message) {
    if (message.rfind("Error in ", 0) != 0) return message;
    for (size_t at = message.find(':'); at != std::string::npos; at = message.find(':', at + 1)) {
        size_t digits = at + 1;
        while (digits < message.size() && std::isdigit(static_cast<unsigned char>(message[digits]))) ++digits;
        if (digits > at + 1 && message.compare(digits, 2, ": ") == 0) return message.substr(digits + 2);
    }
    return message;
}

} // namespace

#define FAISS_PROTECT(...)                                                                                            \
    PROTECT(try { __VA_ARGS__; } catch (const faiss::FaissException &e) { throw std::runtime_error(faiss_reason(e.msg)); })

extern "C" {

const char *mr_faiss_last_error(void) { return mr_last_error(); }

int mr_faiss_version(char *buffer, size_t capacity) {
    FAISS_PROTECT(write_string(std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
                                   std::to_string(FAISS_VERSION_PATCH),
                               buffer, capacity))
}

int mr_faiss_set_num_threads(int n) {
    PROTECT({
        if (n < 0) throw std::invalid_argument("faiss thread count must be ≥ 0 (0 follows libtorch), got " + std::to_string(n));
        faiss_threads.store(n);
    })
}

int mr_faiss_get_num_threads(int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        int n = faiss_threads.load();
        *out = n > 0 ? n : at::get_num_threads();
    })
}

int mr_faiss_index_factory(mr_faiss_index *out, int64_t dimension, const char *description, int metric) {
    FAISS_PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        if (description == nullptr) throw std::invalid_argument("null index description");
        if (dimension < 1 || dimension > INT32_MAX) throw std::invalid_argument("invalid dimension " + std::to_string(dimension));
        if (metric != MR_FAISS_METRIC_INNER_PRODUCT && metric != MR_FAISS_METRIC_L2)
            throw std::invalid_argument("unknown metric code " + std::to_string(metric));
        std::unique_ptr<faiss::Index> index(
            faiss::index_factory(static_cast<int>(dimension), description, static_cast<faiss::MetricType>(metric)));
        *out = new mr_faiss_index_s{std::move(index)};
    })
}

void mr_faiss_index_free(mr_faiss_index index) { delete index; }

int mr_faiss_dimension(mr_faiss_index index, int64_t *out) { FAISS_PROTECT(*out = I(index).d) }

int mr_faiss_metric_type(mr_faiss_index index, int *out) { FAISS_PROTECT(*out = static_cast<int>(I(index).metric_type)) }

int mr_faiss_is_trained(mr_faiss_index index, int *out) { FAISS_PROTECT(*out = I(index).is_trained ? 1 : 0) }

int mr_faiss_ntotal(mr_faiss_index index, int64_t *out) { FAISS_PROTECT(*out = I(index).ntotal) }

int mr_faiss_train(mr_faiss_index index, int64_t n, const float *vectors) {
    FAISS_PROTECT({
        auto &ix = I(index);
        check_rows(n, vectors, "training vectors");
        ThreadScope threads;
        ix.train(n, vectors);
    })
}

int mr_faiss_add(mr_faiss_index index, int64_t n, const float *vectors) {
    FAISS_PROTECT({
        auto &ix = I(index);
        check_rows(n, vectors, "vectors");
        if (!ix.is_trained) throw std::invalid_argument("the index must be trained before vectors are added");
        ThreadScope threads;
        ix.add(n, vectors);
    })
}

int mr_faiss_search(mr_faiss_index index, int64_t n, const float *queries, int64_t k, float *scores, int64_t *ids) {
    FAISS_PROTECT({
        auto &ix = I(index);
        check_rows(n, queries, "queries");
        if (k < 1) throw std::invalid_argument("k must be at least 1, got " + std::to_string(k));
        if (n > 0 && (scores == nullptr || ids == nullptr)) throw std::invalid_argument("null result arrays");
        if (!ix.is_trained) throw std::invalid_argument("the index must be trained before it is searched");
        ThreadScope threads;
        ix.search(n, queries, k, scores, ids);
    })
}

int mr_faiss_set_parameter(mr_faiss_index index, const char *name, double value) {
    FAISS_PROTECT({
        auto &ix = I(index);
        if (name == nullptr) throw std::invalid_argument("null parameter name");
        faiss::ParameterSpace().set_index_parameter(&ix, name, value);
    })
}

int mr_faiss_write_index(mr_faiss_index index, const char *path) {
    FAISS_PROTECT({
        auto &ix = I(index);
        if (path == nullptr) throw std::invalid_argument("null path");
        faiss::write_index(&ix, path);
    })
}

int mr_faiss_read_index(mr_faiss_index *out, const char *path) {
    FAISS_PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        if (path == nullptr) throw std::invalid_argument("null path");
        std::unique_ptr<faiss::Index> index(faiss::read_index(path));
        validate(*index, path);
        *out = new mr_faiss_index_s{std::move(index)};
    })
}

} // extern "C"
