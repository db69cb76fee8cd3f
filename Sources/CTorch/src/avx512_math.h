// Vectorised exponentials for the shim's AVX-512 kernels (float32, 16 lanes).
#pragma once

#include <immintrin.h>

namespace mr {

// e^x to about 1 ulp (Cephes' expf polynomial on x - n·ln 2, scaled by 2^n), for SiLU and softmax. Inputs below
// -87 give e^-87 (~1e-38) rather than a denormal or zero: both only add it to 1 or to a sum of at least 1, where it
// rounds away.
__attribute__((target("avx512f"))) inline __m512 exp_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.5f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

// 2^x for x <= 0 (softmax weights: scores in log2 units minus their maximum): 2^n · 2^f with |f| <= 1/2, and 2^f
// = e^(f ln 2) by its degree-6 Taylor polynomial, ln 2 folded into the coefficients (relative error ~1e-7). Very
// negative x (a masked score) gives 0.
__attribute__((target("avx512f"))) inline __m512 exp2_nonpositive(__m512 x) {
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);            // ln2⁶/6!
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f)); // ln2⁵/5!
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f)); // ln2⁴/4!
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f)); // ln2³/3!
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.24022650695910071f));   // ln2²/2!
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.69314718055994531f));   // ln2
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

} // namespace mr
