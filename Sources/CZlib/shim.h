// zlib (Debian zlib1g-dev): inflate for the R lazy-load databases and dictd's gzip files of the corpus tools.
#include <zlib.h>

// inflateInit2 is a macro over inflateInit2_ (it passes the header's version and the stream size).
static inline int mr_inflate_init2(z_stream *stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}
