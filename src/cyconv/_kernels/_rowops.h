/* Row primitives of the direct convolution, compiled per ISA and picked at load time.
 *
 * With GCC/clang on x86-64 Linux each function is built as AVX-512, AVX2 and baseline clones
 * (target_clones, resolved once by the dynamic loader), so the default build runs anywhere
 * and still uses the wide units where they exist. Elsewhere they are plain C.
 * The dot products keep 16 independent partial sums in a fixed order: vectorizable without
 * -ffast-math, and the same result on every run and thread count.
 */
#ifndef CYCONV_ROWOPS_H
#define CYCONV_ROWOPS_H
#include <stddef.h>

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
#define CYCONV_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CYCONV_CLONES
#endif

#define CYCONV_DEFINE_ROWOPS(T, SUFFIX)                                                      \
CYCONV_CLONES static void cyconv_axpy_##SUFFIX(ptrdiff_t n, T a, const T* x, ptrdiff_t incx, \
                                               T* y, ptrdiff_t incy)                         \
{                                                                                            \
    if (incx == 1 && incy == 1) {                                                            \
        for (ptrdiff_t i = 0; i < n; i++) y[i] += a * x[i];                                  \
    } else {                                                                                 \
        for (ptrdiff_t i = 0; i < n; i++) y[i * incy] += a * x[i * incx];                    \
    }                                                                                        \
}                                                                                            \
CYCONV_CLONES static T cyconv_dot_##SUFFIX(ptrdiff_t n, const T* x, ptrdiff_t incx,          \
                                           const T* y)                                       \
{                                                                                            \
    T acc[16] = {0};                                                                         \
    ptrdiff_t i = 0;                                                                         \
    if (incx == 1) {                                                                         \
        for (; i + 16 <= n; i += 16)                                                         \
            for (int l = 0; l < 16; l++) acc[l] += x[i + l] * y[i + l];                      \
    }                                                                                        \
    for (; i < n; i++) acc[i & 15] += x[i * incx] * y[i];                                    \
    T total = 0;                                                                             \
    for (int l = 0; l < 16; l++) total += acc[l];                                            \
    return total;                                                                            \
}                                                                                            \
CYCONV_CLONES static double cyconv_sum_##SUFFIX(ptrdiff_t n, const T* x)                     \
{                                                                                            \
    T acc[16] = {0};                                                                         \
    ptrdiff_t i = 0;                                                                         \
    for (; i + 16 <= n; i += 16)                                                             \
        for (int l = 0; l < 16; l++) acc[l] += x[i + l];                                     \
    for (; i < n; i++) acc[i & 15] += x[i];                                                  \
    double total = 0;                                                                        \
    for (int l = 0; l < 16; l++) total += acc[l];                                            \
    return total;                                                                            \
}

CYCONV_DEFINE_ROWOPS(float, f32)
CYCONV_DEFINE_ROWOPS(double, f64)
#endif
