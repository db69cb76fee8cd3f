// Work splitting over libtorch's intra-op threads for the shim's own kernels.
#include "internal.h"

#include <ATen/TensorIterator.h>

namespace mr {

// at::parallel_for is a header template whose OpenMP pragma does nothing in a translation unit built without
// -fopenmp (an unsafe flag for SwiftPM), so the split is borrowed from a TensorIterator over n item numbers: its
// for_each is compiled inside libtorch, and gives each thread one contiguous slice.
void parallel_over(int64_t n, const std::function<void(int64_t, int64_t)> &body) {
    at::Tensor items = at::arange(n, at::TensorOptions().dtype(at::kLong));
    auto iterator = at::TensorIteratorConfig()
                        .set_check_mem_overlap(false)
                        .check_all_same_dtype(false)
                        .resize_outputs(false)
                        .add_output(items)
                        .build();
    iterator.for_each(
        [&](char **data, const int64_t *strides, int64_t size0, int64_t size1) {
            for (int64_t outer = 0; outer < size1; ++outer) {
                const char *column = data[0] + outer * strides[1];
                const int64_t first = *reinterpret_cast<const int64_t *>(column);
                const int64_t last = *reinterpret_cast<const int64_t *>(column + (size0 - 1) * strides[0]);
                body(first, last + 1);
            }
        },
        1);
}

} // namespace mr
