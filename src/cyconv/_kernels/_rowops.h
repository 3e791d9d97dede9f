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
#include <string.h>

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
/* The sum of x[0..n-1] in 16 double lanes (lane l: the elements l mod 16), then the lanes \
 * in order. Float values are summed in 16 float lanes 256 elements at a time, each block's \
 * lanes then added into the double ones: float lanes over a whole 10^6-element plane lost \
 * 6e-4 of its sum (300x the accuracy contract); widening every element was 1.3-2.5x      \
 * slower. Explicit vectors: GCC kept a block's float lanes on the stack. */               \
CYCONV_CLONES static double cyconv_sum_##SUFFIX(ptrdiff_t n, const T* x)                     \
{                                                                                            \
    typedef double D4 __attribute__((vector_size(32)));                                      \
    typedef float F8 __attribute__((vector_size(32)));                                       \
    typedef float F4 __attribute__((vector_size(16)));                                       \
    double acc[16] = {0};                                                                    \
    ptrdiff_t i = 0;                                                                         \
    if (sizeof(T) == sizeof(double)) {                                                       \
        for (; i + 16 <= n; i += 16)                                                         \
            for (int l = 0; l < 16; l++) acc[l] += x[i + l];                                 \
        for (int l = 0; l < 16; l++)                                                         \
            if (l < n - i) acc[l] += x[i + l];                                               \
    } else {                                                                                 \
        D4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                           \
        while (i < n) {                                                                      \
            const ptrdiff_t end = n - i > 256 ? i + 256 : n;                                 \
            F8 p0 = {0}, p1 = {0}, v0, v1;                                                   \
            for (; i + 16 <= end; i += 16) {                                                 \
                memcpy(&v0, x + i, sizeof v0);                                               \
                memcpy(&v1, x + i + 8, sizeof v1);                                           \
                p0 += v0;                                                                    \
                p1 += v1;                                                                    \
            }                                                                                \
            if (i < end) { /* the last few, zero-padded: a lane from +0 never holds -0 */    \
                float rest[16] = {0};                                                        \
                memcpy(rest, x + i, (size_t)(end - i) * sizeof(float));                      \
                memcpy(&v0, rest, sizeof v0);                                                \
                memcpy(&v1, rest + 8, sizeof v1);                                            \
                p0 += v0;                                                                    \
                p1 += v1;                                                                    \
                i = end;                                                                     \
            }                                                                                \
            const F4 q0 = {p0[0], p0[1], p0[2], p0[3]}, q1 = {p0[4], p0[5], p0[6], p0[7]};   \
            const F4 q2 = {p1[0], p1[1], p1[2], p1[3]}, q3 = {p1[4], p1[5], p1[6], p1[7]};   \
            a0 += __builtin_convertvector(q0, D4);                                           \
            a1 += __builtin_convertvector(q1, D4);                                           \
            a2 += __builtin_convertvector(q2, D4);                                           \
            a3 += __builtin_convertvector(q3, D4);                                           \
        }                                                                                    \
        memcpy(acc, &a0, sizeof a0);                                                         \
        memcpy(acc + 4, &a1, sizeof a1);                                                     \
        memcpy(acc + 8, &a2, sizeof a2);                                                     \
        memcpy(acc + 12, &a3, sizeof a3);                                                    \
    }                                                                                        \
    double total = 0;                                                                        \
    for (int l = 0; l < 16; l++) total += acc[l];                                            \
    return total;                                                                            \
}

CYCONV_DEFINE_ROWOPS(float, f32)
CYCONV_DEFINE_ROWOPS(double, f64)
#endif
