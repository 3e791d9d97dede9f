/* Contiguous runs of the adaptive/global pooling kernels (after the API merges trailing dims,
 * a global-pooling plane is one run), compiled per ISA through _rowops.h's CYCONV_CLONES
 * (target_clones: AVX-512, AVX2 and baseline, picked by the dynamic loader), so the default
 * build still uses the wide units. Each entry point handles `count` runs of n values back to
 * back: one call for many small planes, no call per run, and the CPU overlaps their work.
 *
 *   runs_sum:    the sum of each run in double, in partial sums combined in a fixed tree:
 *                the same result on every call and thread count.
 *   runs_argmax: the position of each run's maximum with max pooling's rule - the first of
 *                equal maxima, except that a NaN always wins, and of several NaNs the last.
 *                Vector passes: the lane-wise maximum and a NaN flag, then the first block
 *                holding the maximum, then a short scalar search inside that block (or a
 *                backward scan for the last NaN).
 *
 * GCC and clang get explicit vector code (their vector extensions): they do not vectorize a
 * partial-sum tree or a NaN-aware lane-wise maximum reliably by themselves. Other compilers
 * get the same arithmetic as plain loops.
 */
#ifndef CYCONV_ADAPTIVE_ROWS_H
#define CYCONV_ADAPTIVE_ROWS_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_rowops.h"

#define CYCONV_RUN_LANES 8

#if defined(__GNUC__) && !defined(CYCONV_NO_VECTOR_EXT)  /* the define tests the fallback */
#define CYCONV_RUN_VECTORS 1
typedef float cyconv_vf32 __attribute__((vector_size(CYCONV_RUN_LANES * 4)));
typedef int32_t cyconv_vi32 __attribute__((vector_size(CYCONV_RUN_LANES * 4)));
typedef double cyconv_vf64 __attribute__((vector_size(CYCONV_RUN_LANES * 8)));
typedef int64_t cyconv_vi64 __attribute__((vector_size(CYCONV_RUN_LANES * 8)));
#else
#define CYCONV_RUN_VECTORS 0
#endif

#define CYCONV_DEFINE_ADAPTIVE_ROWS(T, SUFFIX, VT, VI)                                         \
static inline double cyconv_run_sum_##SUFFIX(ptrdiff_t n, const T* restrict p)                  \
{                                                                                              \
    ptrdiff_t i = 0;                                                                           \
    double lane[CYCONV_RUN_LANES] = {0};                                                       \
    if (CYCONV_RUN_VECTORS) {                                                                  \
        /* four accumulators on long runs (independent chains hide the add latency), folded    \
           into one, then single blocks */                                                     \
        CYCONV_VEC(cyconv_vf64 a0 = {0}; cyconv_vf64 a1 = {0}; cyconv_vf64 a2 = {0};           \
                   cyconv_vf64 a3 = {0}; VT v;                                                 \
                   for (; i + 4 * CYCONV_RUN_LANES <= n; i += 4 * CYCONV_RUN_LANES) {          \
                       memcpy(&v, p + i, sizeof v);                                            \
                       a0 += __builtin_convertvector(v, cyconv_vf64);                          \
                       memcpy(&v, p + i + CYCONV_RUN_LANES, sizeof v);                         \
                       a1 += __builtin_convertvector(v, cyconv_vf64);                          \
                       memcpy(&v, p + i + 2 * CYCONV_RUN_LANES, sizeof v);                     \
                       a2 += __builtin_convertvector(v, cyconv_vf64);                          \
                       memcpy(&v, p + i + 3 * CYCONV_RUN_LANES, sizeof v);                     \
                       a3 += __builtin_convertvector(v, cyconv_vf64);                          \
                   }                                                                           \
                   a0 = (a0 + a2) + (a1 + a3);                                                 \
                   for (; i + CYCONV_RUN_LANES <= n; i += CYCONV_RUN_LANES) {                  \
                       memcpy(&v, p + i, sizeof v);                                            \
                       a0 += __builtin_convertvector(v, cyconv_vf64);                          \
                   }                                                                           \
                   memcpy(lane, &a0, sizeof lane);)                                            \
    } else {                                                                                   \
        for (; i + CYCONV_RUN_LANES <= n; i += CYCONV_RUN_LANES)                               \
            for (int j = 0; j < CYCONV_RUN_LANES; j++) lane[j] += (double)p[i + j];            \
    }                                                                                          \
    double total = ((lane[0] + lane[4]) + (lane[2] + lane[6]))                                 \
                 + ((lane[1] + lane[5]) + (lane[3] + lane[7]));                                \
    for (; i < n; i++) total += (double)p[i];                                                  \
    return total;                                                                              \
}                                                                                              \
static inline ptrdiff_t cyconv_run_argmax_##SUFFIX(ptrdiff_t n, const T* restrict p)            \
{                                                                                              \
    ptrdiff_t i = 0, block = 0, pos;                                                           \
    T best = p[0];                                                                             \
    int any_nan = 0;                                                                           \
    if (CYCONV_RUN_VECTORS && n >= CYCONV_RUN_LANES) {                                         \
        /* lane-wise: take a larger value (comparisons give all-ones lanes, so the select is   \
           bitwise), flag NaNs */                                                              \
        CYCONV_VEC(VT acc; VT v; VI nan = {0}; VI gt;                                          \
                   memcpy(&acc, p, sizeof acc);                                                \
                   for (; i + CYCONV_RUN_LANES <= n; i += CYCONV_RUN_LANES) {                  \
                       memcpy(&v, p + i, sizeof v);                                            \
                       nan |= v != v;                                                          \
                       gt = v > acc;                                                           \
                       acc = (VT)(((VI)v & gt) | ((VI)acc & ~gt));                             \
                   }                                                                           \
                   for (int j = 0; j < CYCONV_RUN_LANES; j++) {                                \
                       any_nan |= nan[j] != 0;                                                 \
                       best = acc[j] > best ? acc[j] : best;                                   \
                   })                                                                          \
    }                                                                                          \
    for (; i < n; i++) {                                                                       \
        any_nan |= p[i] != p[i];                                                               \
        best = p[i] > best ? p[i] : best;                                                      \
    }                                                                                          \
    if (any_nan) {                                                                             \
        for (pos = n - 1; p[pos] == p[pos]; pos--) {}                                          \
        return pos;                                                                            \
    }                                                                                          \
    /* no NaN: the first element equal to the maximum (== also matches -0.0 for 0.0, as the    \
       scalar rule keeps the first zero of either sign); first skip the blocks without it */   \
    if (CYCONV_RUN_VECTORS) {                                                                  \
        CYCONV_VEC(VT v; VT target = (VT){0} + best; VI eq;                                    \
                   for (; block + CYCONV_RUN_LANES <= n; block += CYCONV_RUN_LANES) {          \
                       int hit = 0;                                                            \
                       memcpy(&v, p + block, sizeof v);                                        \
                       eq = v == target;                                                       \
                       for (int j = 0; j < CYCONV_RUN_LANES; j++) hit |= eq[j] != 0;           \
                       if (hit) break;                                                         \
                   })                                                                          \
    }                                                                                          \
    for (pos = block; p[pos] != best; pos++) {}                                                \
    return pos;                                                                                \
}                                                                                              \
CYCONV_CLONES static void cyconv_runs_sum_##SUFFIX(ptrdiff_t count, ptrdiff_t n,                \
                                                   const T* restrict p, double* restrict out)  \
{                                                                                              \
    for (ptrdiff_t r = 0; r < count; r++) out[r] = cyconv_run_sum_##SUFFIX(n, p + r * n);       \
}                                                                                              \
CYCONV_CLONES static void cyconv_runs_argmax_##SUFFIX(ptrdiff_t count, ptrdiff_t n,             \
                                                      const T* restrict p,                     \
                                                      int64_t* restrict out)                   \
{                                                                                              \
    for (ptrdiff_t r = 0; r < count; r++) out[r] = cyconv_run_argmax_##SUFFIX(n, p + r * n);    \
}

#if CYCONV_RUN_VECTORS
#define CYCONV_VEC(...) __VA_ARGS__
CYCONV_DEFINE_ADAPTIVE_ROWS(float, f32, cyconv_vf32, cyconv_vi32)
CYCONV_DEFINE_ADAPTIVE_ROWS(double, f64, cyconv_vf64, cyconv_vi64)
#else
#define CYCONV_VEC(...)
CYCONV_DEFINE_ADAPTIVE_ROWS(float, f32, float, int)
CYCONV_DEFINE_ADAPTIVE_ROWS(double, f64, double, int)
#endif

#endif
