/* Row primitives of the tap-by-tap max/min selection (with indices, and backward where
 * the windows overlap or tile wider than 2; the rest runs on _poolsimd.h), compiled per ISA
 * and picked at load time (target_clones, as in _rowops.h; auto-vectorized loops, which
 * GCC 12 clones well). Each applies one window tap to the interior of an output
 * row - the outputs whose windows lie wholly inside the input - reading the input with the
 * pooling stride, so stride 2 costs no gathers in the caller. The selection rule is
 * PyTorch's: a strictly better value or any NaN takes over.
 */
#ifndef CYCONV_POOLROWS_H
#define CYCONV_POOLROWS_H
#include <stddef.h>
#include <stdint.h>
#include "_rowops.h"

#define CYCONV_ARGSEL_BODY(T, BETTER)                                                         \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = src[i * S];                                                                     \
        int take = v BETTER acc[i] || v != v;                                                 \
        acc[i] = take ? v : acc[i];                                                           \
        best[i] = take ? tap : best[i];                                                       \
    }

#define CYCONV_DEFINE_POOLROWS(T, SUFFIX)                                                     \
CYCONV_CLONES static void cyconv_pool_init_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src,   \
                                                    T* acc)                                   \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) acc[i] = src[i * s];                                    \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_argmax_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src, \
                                                      T* acc, int32_t* best, int32_t tap)     \
{                                                                                             \
    /* stride 2 (the common pooling stride) as a literal, so it vectorizes */                 \
    if (s == 2) { const ptrdiff_t S = 2; CYCONV_ARGSEL_BODY(T, >) }                           \
    else { const ptrdiff_t S = s; CYCONV_ARGSEL_BODY(T, >) }                                  \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_argmin_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src, \
                                                      T* acc, int32_t* best, int32_t tap)     \
{                                                                                             \
    /* stride 2 (the common pooling stride) as a literal, so it vectorizes */                 \
    if (s == 2) { const ptrdiff_t S = 2; CYCONV_ARGSEL_BODY(T, <) }                           \
    else { const ptrdiff_t S = s; CYCONV_ARGSEL_BODY(T, <) }                                  \
}

/* Max/min backward where windows tile the input (stride == kernel, no padding/dilation):
 * every input element of a kernel row gets its window's gradient if it was the selected tap
 * (best[i] == tap0 + t), else 0 - one streaming write, no zeroing pass, no scatter. */
#define CYCONV_ROUTE_BODY(T)                                                                  \
    for (ptrdiff_t i = 0; i < n; i++)                                                         \
        for (ptrdiff_t t = 0; t < KW; t++)                                                    \
            dst[i * KW + t] = (best[i] == tap0 + (int32_t)t) ? gy[i] : (T)0;
#define CYCONV_DEFINE_ROUTE(T, SUFFIX)                                                        \
CYCONV_CLONES static void cyconv_pool_route_##SUFFIX(ptrdiff_t n, ptrdiff_t kw,                \
                                                     const int32_t* restrict best,             \
                                                     int32_t tap0, const T* restrict gy,       \
                                                     T* restrict dst)                          \
{                                                                                             \
    if (kw == 2) { const ptrdiff_t KW = 2; CYCONV_ROUTE_BODY(T) }                             \
    else if (kw == 3) { const ptrdiff_t KW = 3; CYCONV_ROUTE_BODY(T) }                        \
    else { const ptrdiff_t KW = kw; CYCONV_ROUTE_BODY(T) }                                    \
}

CYCONV_DEFINE_ROUTE(float, f32)
CYCONV_DEFINE_ROUTE(double, f64)
CYCONV_DEFINE_POOLROWS(float, f32)
CYCONV_DEFINE_POOLROWS(double, f64)
#endif
