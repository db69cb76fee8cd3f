// Elementwise math, linear algebra, reductions, views and indexing: thin wrappers over ATen.
#include "internal.h"

namespace {

at::Tensor unary(int op, const at::Tensor &a) {
    switch (op) {
    case MR_UNARY_NEG: return at::neg(a);
    case MR_UNARY_EXP: return at::exp(a);
    case MR_UNARY_LOG: return at::log(a);
    case MR_UNARY_SQRT: return at::sqrt(a);
    case MR_UNARY_RSQRT: return at::rsqrt(a);
    case MR_UNARY_ABS: return at::abs(a);
    case MR_UNARY_SIN: return at::sin(a);
    case MR_UNARY_COS: return at::cos(a);
    case MR_UNARY_TANH: return at::tanh(a);
    case MR_UNARY_SIGMOID: return at::sigmoid(a);
    case MR_UNARY_RELU: return at::relu(a);
    case MR_UNARY_SILU: return at::silu(a);
    case MR_UNARY_GELU: return at::gelu(a);
    case MR_UNARY_GELU_TANH: return at::gelu(a, "tanh");
    case MR_UNARY_RECIPROCAL: return at::reciprocal(a);
    case MR_UNARY_SQUARE: return at::square(a);
    case MR_UNARY_LOGICAL_NOT: return at::logical_not(a);
    case MR_UNARY_FLOOR: return at::floor(a);
    case MR_UNARY_CEIL: return at::ceil(a);
    case MR_UNARY_SIGN: return at::sign(a);
    case MR_UNARY_ERF: return at::erf(a);
    case MR_UNARY_ISNAN: return at::isnan(a);
    case MR_UNARY_ISFINITE: return at::isfinite(a);
    }
    throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

template <typename B> at::Tensor binary(int op, const at::Tensor &a, const B &b) {
    switch (op) {
    case MR_BINARY_ADD: return at::add(a, b);
    case MR_BINARY_SUB: return at::sub(a, b);
    case MR_BINARY_MUL: return at::mul(a, b);
    case MR_BINARY_DIV: return at::div(a, b);
    case MR_BINARY_POW: return at::pow(a, b);
    case MR_BINARY_EQ: return at::eq(a, b);
    case MR_BINARY_NE: return at::ne(a, b);
    case MR_BINARY_LT: return at::lt(a, b);
    case MR_BINARY_LE: return at::le(a, b);
    case MR_BINARY_GT: return at::gt(a, b);
    case MR_BINARY_GE: return at::ge(a, b);
    case MR_BINARY_REMAINDER: return at::remainder(a, b);
    case MR_BINARY_FLOOR_DIVIDE: return at::floor_divide(a, b);
    }
    if constexpr (std::is_same_v<B, at::Tensor>) {
        switch (op) {
        case MR_BINARY_MAXIMUM: return at::maximum(a, b);
        case MR_BINARY_MINIMUM: return at::minimum(a, b);
        case MR_BINARY_LOGICAL_AND: return at::logical_and(a, b);
        case MR_BINARY_LOGICAL_OR: return at::logical_or(a, b);
        }
    } else {
        switch (op) {
        case MR_BINARY_MAXIMUM: return at::clamp_min(a, b);
        case MR_BINARY_MINIMUM: return at::clamp_max(a, b);
        }
    }
    throw std::invalid_argument("unsupported binary op " + std::to_string(op));
}

// `s op a` for the non-commutative ops, with `s` a scalar.
at::Tensor binary_scalar_first(int op, double s, const at::Tensor &a) {
    switch (op) {
    case MR_BINARY_ADD: return at::add(a, s);
    case MR_BINARY_MUL: return at::mul(a, s);
    case MR_BINARY_SUB: return at::rsub(a, s);
    case MR_BINARY_DIV: return at::mul(at::reciprocal(a), s);
    case MR_BINARY_POW: return at::pow(at::Scalar(s), a);
    }
    return binary(op, at::full_like(a, s), a);
}

at::Tensor reduce(int op, const at::Tensor &a, at::IntArrayRef d, bool keepdim) {
    bool all = d.empty();
    std::vector<int64_t> every;
    if (all) {
        for (int64_t i = 0; i < a.dim(); ++i) every.push_back(i);
        d = every;
    }
    switch (op) {
    case MR_REDUCE_SUM: return all && !keepdim ? at::sum(a) : at::sum(a, d, keepdim);
    case MR_REDUCE_MEAN: return all && !keepdim ? at::mean(a) : at::mean(a, d, keepdim);
    case MR_REDUCE_AMAX: return at::amax(a, d, keepdim);
    case MR_REDUCE_AMIN: return at::amin(a, d, keepdim);
    case MR_REDUCE_LOGSUMEXP: return at::logsumexp(a, d, keepdim);
    case MR_REDUCE_VAR: return at::var(a, d, /*unbiased=*/false, keepdim);
    case MR_REDUCE_STD: return at::std(a, d, /*unbiased=*/false, keepdim);
    case MR_REDUCE_NORM2: return at::linalg_vector_norm(a, 2, d, keepdim);
    case MR_REDUCE_PROD: {
        at::Tensor r = a;
        // at::prod reduces one dim at a time; go from the last so indices stay valid.
        std::vector<int64_t> sorted(d.begin(), d.end());
        for (auto &x : sorted) x = c10::maybe_wrap_dim(x, a.dim());
        std::sort(sorted.rbegin(), sorted.rend());
        for (auto x : sorted) r = at::prod(r, x, keepdim);
        return r;
    }
    case MR_REDUCE_ANY:
    case MR_REDUCE_ALL: {
        at::Tensor r = a;
        std::vector<int64_t> sorted(d.begin(), d.end());
        for (auto &x : sorted) x = c10::maybe_wrap_dim(x, a.dim());
        std::sort(sorted.rbegin(), sorted.rend());
        for (auto x : sorted) r = op == MR_REDUCE_ANY ? at::any(r, x, keepdim) : at::all(r, x, keepdim);
        return r;
    }
    }
    throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

} // namespace

extern "C" {

int mr_unary(mr_tensor *out, int op, mr_tensor a) { RETURN_TENSOR(out, unary(op, mr::T(a))) }

int mr_binary(mr_tensor *out, int op, mr_tensor a, mr_tensor b) {
    RETURN_TENSOR(out, binary(op, mr::T(a), mr::T(b)))
}

int mr_binary_scalar(mr_tensor *out, int op, mr_tensor a, double s, int scalar_first) {
    RETURN_TENSOR(out, scalar_first ? binary_scalar_first(op, s, mr::T(a)) : binary(op, mr::T(a), at::Scalar(s)))
}

int mr_clamp(mr_tensor *out, mr_tensor a, double min, double max, int has_min, int has_max) {
    RETURN_TENSOR(out, at::clamp(mr::T(a), has_min ? c10::optional<at::Scalar>(min) : c10::nullopt,
                                 has_max ? c10::optional<at::Scalar>(max) : c10::nullopt))
}

int mr_where(mr_tensor *out, mr_tensor cond, mr_tensor a, mr_tensor b) {
    RETURN_TENSOR(out, at::where(mr::T(cond), mr::T(a), mr::T(b)))
}

int mr_masked_fill(mr_tensor *out, mr_tensor a, mr_tensor mask, double value) {
    RETURN_TENSOR(out, at::masked_fill(mr::T(a), mr::T(mask), value))
}

// ---- in place ----

int mr_inplace_binary(int op, mr_tensor a, mr_tensor b, double alpha) {
    PROTECT({
        auto x = mr::T(a);
        const auto &y = mr::T(b);
        switch (op) {
        case MR_BINARY_ADD: x.add_(y, alpha); break;
        case MR_BINARY_SUB: x.sub_(y, alpha); break;
        case MR_BINARY_MUL: x.mul_(y); break;
        case MR_BINARY_DIV: x.div_(y); break;
        default: throw std::invalid_argument("unsupported in-place op " + std::to_string(op));
        }
    })
}

int mr_inplace_scalar(int op, mr_tensor a, double s) {
    PROTECT({
        auto x = mr::T(a);
        switch (op) {
        case MR_BINARY_ADD: x.add_(s); break;
        case MR_BINARY_SUB: x.sub_(s); break;
        case MR_BINARY_MUL: x.mul_(s); break;
        case MR_BINARY_DIV: x.div_(s); break;
        default: throw std::invalid_argument("unsupported in-place op " + std::to_string(op));
        }
    })
}

int mr_copy_(mr_tensor dst, mr_tensor src) {
    PROTECT({
        auto x = mr::T(dst);
        x.copy_(mr::T(src));
    })
}

int mr_fill_(mr_tensor a, double value) {
    PROTECT({
        auto x = mr::T(a);
        x.fill_(value);
    })
}

int mr_zero_(mr_tensor a) {
    PROTECT({
        auto x = mr::T(a);
        x.zero_();
    })
}

int mr_masked_fill_(mr_tensor a, mr_tensor mask, double value) {
    PROTECT({
        auto x = mr::T(a);
        x.masked_fill_(mr::T(mask), value);
    })
}

// ---- linear algebra ----

int mr_matmul(mr_tensor *out, mr_tensor a, mr_tensor b) { RETURN_TENSOR(out, at::matmul(mr::T(a), mr::T(b))) }

int mr_bmm(mr_tensor *out, mr_tensor a, mr_tensor b) { RETURN_TENSOR(out, at::bmm(mr::T(a), mr::T(b))) }

int mr_linear(mr_tensor *out, mr_tensor x, mr_tensor weight, mr_tensor bias) {
    RETURN_TENSOR(out, at::linear(mr::T(x), mr::T(weight),
                                  bias ? c10::optional<at::Tensor>(mr::T(bias)) : c10::optional<at::Tensor>()))
}

// ---- reductions ----

int mr_reduce(mr_tensor *out, int op, mr_tensor a, const int64_t *dims, int64_t ndims, int keepdim) {
    RETURN_TENSOR(out, reduce(op, mr::T(a), mr::dims(dims, ndims), keepdim != 0))
}

int mr_argmax(mr_tensor *out, mr_tensor a, int64_t dim, int keepdim) {
    RETURN_TENSOR(out, at::argmax(mr::T(a), dim, keepdim != 0))
}

int mr_max_dim(mr_tensor *values, mr_tensor *indices, mr_tensor a, int64_t dim, int keepdim) {
    PROTECT({
        auto r = at::max(mr::T(a), dim, keepdim != 0);
        *values = mr::wrap(std::get<0>(r));
        *indices = mr::wrap(std::get<1>(r));
    })
}

int mr_topk(mr_tensor *values, mr_tensor *indices, mr_tensor a, int64_t k, int64_t dim, int largest, int sorted) {
    PROTECT({
        auto r = at::topk(mr::T(a), k, dim, largest != 0, sorted != 0);
        *values = mr::wrap(std::get<0>(r));
        *indices = mr::wrap(std::get<1>(r));
    })
}

int mr_sort(mr_tensor *values, mr_tensor *indices, mr_tensor a, int64_t dim, int descending) {
    PROTECT({
        auto r = at::sort(mr::T(a), dim, descending != 0);
        *values = mr::wrap(std::get<0>(r));
        *indices = mr::wrap(std::get<1>(r));
    })
}

int mr_cumsum(mr_tensor *out, mr_tensor a, int64_t dim) { RETURN_TENSOR(out, at::cumsum(mr::T(a), dim)) }

int mr_softmax(mr_tensor *out, mr_tensor a, int64_t dim) { RETURN_TENSOR(out, at::softmax(mr::T(a), dim)) }

int mr_log_softmax(mr_tensor *out, mr_tensor a, int64_t dim) { RETURN_TENSOR(out, at::log_softmax(mr::T(a), dim)) }

int mr_multinomial(mr_tensor *out, mr_tensor probs, int64_t n, int replacement) {
    RETURN_TENSOR(out, at::multinomial(mr::T(probs), n, replacement != 0))
}

// ---- views and shape ----

int mr_reshape(mr_tensor *out, mr_tensor a, const int64_t *shape, int64_t ndim) {
    RETURN_TENSOR(out, at::reshape(mr::T(a), mr::dims(shape, ndim)))
}

int mr_permute(mr_tensor *out, mr_tensor a, const int64_t *dims, int64_t ndim) {
    RETURN_TENSOR(out, mr::T(a).permute(mr::dims(dims, ndim)))
}

int mr_transpose(mr_tensor *out, mr_tensor a, int64_t dim0, int64_t dim1) {
    RETURN_TENSOR(out, at::transpose(mr::T(a), dim0, dim1))
}

int mr_slice(mr_tensor *out, mr_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step) {
    RETURN_TENSOR(out, at::slice(mr::T(a), dim, start, end, step))
}

int mr_narrow(mr_tensor *out, mr_tensor a, int64_t dim, int64_t start, int64_t length) {
    RETURN_TENSOR(out, at::narrow(mr::T(a), dim, start, length))
}

int mr_select(mr_tensor *out, mr_tensor a, int64_t dim, int64_t index) {
    RETURN_TENSOR(out, at::select(mr::T(a), dim, index))
}

int mr_cat(mr_tensor *out, const mr_tensor *ts, int64_t n, int64_t dim) {
    RETURN_TENSOR(out, at::cat(mr::tensor_list(ts, n), dim))
}

int mr_stack(mr_tensor *out, const mr_tensor *ts, int64_t n, int64_t dim) {
    RETURN_TENSOR(out, at::stack(mr::tensor_list(ts, n), dim))
}

int mr_split(mr_tensor *outs, int64_t capacity, int64_t *count, mr_tensor a, int64_t split_size, int64_t dim) {
    PROTECT({
        auto parts = at::split(mr::T(a), split_size, dim);
        *count = static_cast<int64_t>(parts.size());
        if (*count > capacity)
            throw std::invalid_argument("split gives " + std::to_string(*count) + " pieces but room for " +
                                        std::to_string(capacity));
        for (size_t i = 0; i < parts.size(); ++i) outs[i] = mr::wrap(parts[i]);
    })
}

int mr_contiguous(mr_tensor *out, mr_tensor a) { RETURN_TENSOR(out, mr::T(a).contiguous()) }

int mr_unsqueeze(mr_tensor *out, mr_tensor a, int64_t dim) { RETURN_TENSOR(out, at::unsqueeze(mr::T(a), dim)) }

int mr_squeeze(mr_tensor *out, mr_tensor a, int64_t dim) { RETURN_TENSOR(out, at::squeeze(mr::T(a), dim)) }

int mr_expand(mr_tensor *out, mr_tensor a, const int64_t *shape, int64_t ndim) {
    RETURN_TENSOR(out, mr::T(a).expand(mr::dims(shape, ndim)))
}

int mr_repeat(mr_tensor *out, mr_tensor a, const int64_t *repeats, int64_t ndim) {
    RETURN_TENSOR(out, mr::T(a).repeat(mr::dims(repeats, ndim)))
}

int mr_repeat_interleave(mr_tensor *out, mr_tensor a, int64_t repeats, int64_t dim) {
    RETURN_TENSOR(out, at::repeat_interleave(mr::T(a), repeats, dim))
}

int mr_flatten(mr_tensor *out, mr_tensor a, int64_t start_dim, int64_t end_dim) {
    RETURN_TENSOR(out, at::flatten(mr::T(a), start_dim, end_dim))
}

// ---- indexing ----

int mr_index_select(mr_tensor *out, mr_tensor a, int64_t dim, mr_tensor index) {
    RETURN_TENSOR(out, at::index_select(mr::T(a), dim, mr::T(index)))
}

int mr_gather(mr_tensor *out, mr_tensor a, int64_t dim, mr_tensor index) {
    RETURN_TENSOR(out, at::gather(mr::T(a), dim, mr::T(index)))
}

int mr_scatter(mr_tensor *out, mr_tensor a, int64_t dim, mr_tensor index, mr_tensor src, int accumulate) {
    RETURN_TENSOR(out, accumulate ? at::scatter_add(mr::T(a), dim, mr::T(index), mr::T(src))
                                  : at::scatter(mr::T(a), dim, mr::T(index), mr::T(src)))
}

int mr_index_put(mr_tensor *out, mr_tensor a, mr_tensor index, mr_tensor values, int accumulate) {
    RETURN_TENSOR(out, ([&] {
                      c10::List<c10::optional<at::Tensor>> indices;
                      indices.push_back(mr::T(index));
                      return at::index_put(mr::T(a), indices, mr::T(values), accumulate != 0);
                  }()))
}

int mr_index_put_(mr_tensor a, mr_tensor index, mr_tensor values) {
    PROTECT({
        c10::List<c10::optional<at::Tensor>> indices;
        indices.push_back(mr::T(index));
        mr::T(a).index_put_(indices, mr::T(values));
    })
}

int mr_adjacent_rows_view(mr_tensor *out, const mr_tensor *tensors, int64_t n) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = nullptr;
        const auto ts = mr::tensor_list(tensors, n);
        if (ts.empty()) return 0;
        const at::Tensor &first = ts[0];
        int64_t rows = 0, next = first.storage_offset();
        for (const auto &t : ts) {
            const bool follows = t.dim() == 2 && t.is_contiguous() && t.size(1) == first.size(1) &&
                                 t.scalar_type() == first.scalar_type() && t.has_storage() &&
                                 t.storage().is_alias_of(first.storage()) && t.storage_offset() == next;
            if (!follows) return 0;
            next += t.numel();
            rows += t.size(0);
        }
        *out = mr::wrap(first.as_strided({rows, first.size(1)}, {first.size(1), 1}, first.storage_offset()));
    })
}

int mr_nonzero(mr_tensor *out, mr_tensor a) { RETURN_TENSOR(out, at::nonzero(mr::T(a))) }

} // extern "C"
