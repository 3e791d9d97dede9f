/* Row primitives of the direct convolution, compiled per ISA and picked at load time.
 *
 * With GCC/clang on x86-64 Linux each function is built as AVX-512, AVX2 and baseline clones
 * (target_clones, resolved once by the dynamic loader), so the default build runs anywhere
 * and still uses the wide units where they exist. Elsewhere they are plain C.
 * The reductions keep 16 independent partial sums in a fixed order: vectorizable without
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

/* Row loops of the direct convolution over `rows` rows of `n` elements: x rows are
 * `x_row` apart with element stride `incx`, y rows `y_row` apart and contiguous.
 *   axpy_rows:    y += a * x              (forward: y = output, x = input)
 *   axpy_rows_to: x += a * y              (grad_input: scatter into strided input rows)
 *   dot_rows:     acc[64] += x * y        (grad_weight: partial sums, reduced by the caller)
 * Keeping the row loop here keeps the accumulators in registers across rows. */
#define CYCONV_DOT_LANES 64

#define CYCONV_DEFINE_ROWOPS(T, SUFFIX)                                                      \
CYCONV_CLONES static void cyconv_axpy_rows_##SUFFIX(                                          \
    ptrdiff_t rows, ptrdiff_t n, T a, const T* restrict x, ptrdiff_t x_row, ptrdiff_t incx,  \
    T* restrict y, ptrdiff_t y_row)                                                          \
{                                                                                            \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const T* xr = x + r * x_row;                                                         \
        T* yr = y + r * y_row;                                                               \
        if (incx == 1) {                                                                     \
            for (ptrdiff_t i = 0; i < n; i++) yr[i] += a * xr[i];                            \
        } else {                                                                             \
            for (ptrdiff_t i = 0; i < n; i++) yr[i] += a * xr[i * incx];                     \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
CYCONV_CLONES static void cyconv_axpy_rows_to_##SUFFIX(                                       \
    ptrdiff_t rows, ptrdiff_t n, T a, T* restrict x, ptrdiff_t x_row, ptrdiff_t incx,        \
    const T* restrict y, ptrdiff_t y_row)                                                    \
{                                                                                            \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        T* xr = x + r * x_row;                                                               \
        const T* yr = y + r * y_row;                                                         \
        if (incx == 1) {                                                                     \
            for (ptrdiff_t i = 0; i < n; i++) xr[i] += a * yr[i];                            \
        } else {                                                                             \
            for (ptrdiff_t i = 0; i < n; i++) xr[i * incx] += a * yr[i];                     \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
CYCONV_CLONES static void cyconv_dot_rows_##SUFFIX(                                           \
    ptrdiff_t rows, ptrdiff_t n, const T* restrict x, ptrdiff_t x_row, ptrdiff_t incx,       \
    const T* restrict y, ptrdiff_t y_row, T* restrict acc)                                   \
{                                                                                            \
    /* 64 partial sums = 4 independent vector chains, so FMA latency does not serialize */   \
    T a[CYCONV_DOT_LANES];                                                                   \
    for (int l = 0; l < CYCONV_DOT_LANES; l++) a[l] = acc[l];                                \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const T* xr = x + r * x_row;                                                         \
        const T* yr = y + r * y_row;                                                         \
        ptrdiff_t i = 0;                                                                     \
        if (incx == 1) {                                                                     \
            for (; i + CYCONV_DOT_LANES <= n; i += CYCONV_DOT_LANES)                         \
                for (int l = 0; l < CYCONV_DOT_LANES; l++) a[l] += xr[i + l] * yr[i + l];    \
            /* the tail as masked vector steps (AVX-512), not lane by lane */                \
            for (int l = 0; l < CYCONV_DOT_LANES; l++)                                       \
                if (l < n - i) a[l] += xr[i + l] * yr[i + l];                                \
        } else {                                                                             \
            for (; i < n; i++) a[i & (CYCONV_DOT_LANES - 1)] += xr[i * incx] * yr[i];        \
        }                                                                                    \
    }                                                                                        \
    for (int l = 0; l < CYCONV_DOT_LANES; l++) acc[l] = a[l];                                \
}                                                                                            \
/* dst row r = src row r + bias[r] (0 without a bias): the implicit GEMM's tile rows    \
 * copied out to NCHW, in wide vectors (the Cython loop compiles to SSE2 only). */        \
CYCONV_CLONES static void cyconv_rows_plus_bias_##SUFFIX(                                     \
    ptrdiff_t rows, ptrdiff_t n, const T* restrict src, ptrdiff_t src_row,                   \
    T* restrict dst, ptrdiff_t dst_row, const T* restrict bias)                              \
{                                                                                            \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const T beta = bias ? bias[r] : (T)0;                                                \
        const T* s = src + r * src_row;                                                      \
        T* d = dst + r * dst_row;                                                            \
        for (ptrdiff_t i = 0; i < n; i++) d[i] = s[i] + beta;                                \
    }                                                                                        \
}                                                                                            \
CYCONV_CLONES static double cyconv_sum_##SUFFIX(ptrdiff_t n, const T* x)                     \
{                                                                                            \
    T acc[16] = {0};                                                                         \
    ptrdiff_t i = 0;                                                                         \
    for (; i + 16 <= n; i += 16)                                                             \
        for (int l = 0; l < 16; l++) acc[l] += x[i + l];                                     \
    for (int l = 0; l < 16; l++)                                                             \
        if (l < n - i) acc[l] += x[i + l];                                                   \
    double total = 0;                                                                        \
    for (int l = 0; l < 16; l++) total += acc[l];                                            \
    return total;                                                                            \
}

CYCONV_DEFINE_ROWOPS(float, f32)
CYCONV_DEFINE_ROWOPS(double, f64)
#endif
