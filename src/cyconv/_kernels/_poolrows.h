/* Row primitives of the pooling kernels, compiled per ISA and picked at load time
 * (target_clones, as in _rowops.h). Each applies one window tap to the interior of an output
 * row - the outputs whose windows lie wholly inside the input - reading the input with the
 * pooling stride, so stride 2 costs no gathers in the caller. The selection rule is
 * PyTorch's: a strictly better value or any NaN takes over.
 */
#ifndef CYCONV_POOLROWS_H
#define CYCONV_POOLROWS_H
#include <stddef.h>
#include <stdint.h>
#include "_rowops.h"

#define CYCONV_DEFINE_POOLROWS(T, SUFFIX)                                                     \
CYCONV_CLONES static void cyconv_pool_init_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src,   \
                                                    T* acc)                                   \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) acc[i] = src[i * s];                                    \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_sum_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src,    \
                                                   T* acc)                                    \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) acc[i] += src[i * s];                                   \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_max_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src,    \
                                                   T* acc)                                    \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = src[i * s];                                                                     \
        acc[i] = (v > acc[i] || v != v) ? v : acc[i];                                         \
    }                                                                                         \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_min_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src,    \
                                                   T* acc)                                    \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = src[i * s];                                                                     \
        acc[i] = (v < acc[i] || v != v) ? v : acc[i];                                         \
    }                                                                                         \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_argmax_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src, \
                                                      T* acc, int32_t* best, int32_t tap)     \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = src[i * s];                                                                     \
        int take = v > acc[i] || v != v;                                                      \
        acc[i] = take ? v : acc[i];                                                           \
        best[i] = take ? tap : best[i];                                                       \
    }                                                                                         \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_argmin_##SUFFIX(ptrdiff_t n, ptrdiff_t s, const T* src, \
                                                      T* acc, int32_t* best, int32_t tap)     \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = src[i * s];                                                                     \
        int take = v < acc[i] || v != v;                                                      \
        acc[i] = take ? v : acc[i];                                                           \
        best[i] = take ? tap : best[i];                                                       \
    }                                                                                         \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_div_##SUFFIX(ptrdiff_t n, const T* acc, double divisor,  \
                                                   T* out)                                    \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) out[i] = (T)(acc[i] / divisor);                         \
}                                                                                             \
CYCONV_CLONES static void cyconv_pool_scatter_add_##SUFFIX(ptrdiff_t n, ptrdiff_t s,          \
                                                           const T* share, T* dst)            \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) dst[i * s] += share[i];                                 \
}

CYCONV_DEFINE_POOLROWS(float, f32)
CYCONV_DEFINE_POOLROWS(double, f64)
#endif
