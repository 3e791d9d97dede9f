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

/* The sum's tree has 8 double lanes; the vector code holds them as two 4-double halves
 * (lanes 0-3, 4-7), each a 256-bit register: GCC lowers one 64-byte vector type in its AVX2
 * clone through the stack (3.5x slower on 49-value runs). The argmax's lane count does not
 * change its result, so it takes one 32-byte vector of either type. */
#define CYCONV_RUN_LANES 8
#define CYCONV_ARG_BYTES 32

#if defined(__GNUC__) && !defined(CYCONV_NO_VECTOR_EXT)  /* the define tests the fallback */
#define CYCONV_RUN_VECTORS 1
typedef double cyconv_vd4 __attribute__((vector_size(32)));
typedef float cyconv_varg_f32 __attribute__((vector_size(CYCONV_ARG_BYTES)));
typedef int32_t cyconv_viarg_f32 __attribute__((vector_size(CYCONV_ARG_BYTES)));
typedef double cyconv_varg_f64 __attribute__((vector_size(CYCONV_ARG_BYTES)));
typedef int64_t cyconv_viarg_f64 __attribute__((vector_size(CYCONV_ARG_BYTES)));
#else
#define CYCONV_RUN_VECTORS 0
#endif

/* VA, VI: the argmax's vectors */
#define CYCONV_DEFINE_ADAPTIVE_ROWS(T, SUFFIX, VA, VI)                                         \
static inline double cyconv_run_sum_##SUFFIX(ptrdiff_t n, const T* restrict p)                  \
{                                                                                              \
    ptrdiff_t i = 0;                                                                           \
    double lane[CYCONV_RUN_LANES] = {0};                                                       \
    if (CYCONV_RUN_VECTORS) {                                                                  \
        /* four accumulators on long runs (independent chains hide the add latency), folded    \
           into one, then single blocks */                                                     \
        CYCONV_VEC(cyconv_vd4 a0l = {0}; cyconv_vd4 a0h = {0}; cyconv_vd4 a1l = {0};           \
                   cyconv_vd4 a1h = {0}; cyconv_vd4 a2l = {0}; cyconv_vd4 a2h = {0};           \
                   cyconv_vd4 a3l = {0}; cyconv_vd4 a3h = {0};                                 \
                   for (; i + 4 * CYCONV_RUN_LANES <= n; i += 4 * CYCONV_RUN_LANES) {          \
                       a0l += cyconv_load4_##SUFFIX(p + i);                                    \
                       a0h += cyconv_load4_##SUFFIX(p + i + 4);                                \
                       a1l += cyconv_load4_##SUFFIX(p + i + 8);                                \
                       a1h += cyconv_load4_##SUFFIX(p + i + 12);                               \
                       a2l += cyconv_load4_##SUFFIX(p + i + 16);                               \
                       a2h += cyconv_load4_##SUFFIX(p + i + 20);                               \
                       a3l += cyconv_load4_##SUFFIX(p + i + 24);                               \
                       a3h += cyconv_load4_##SUFFIX(p + i + 28);                               \
                   }                                                                           \
                   a0l = (a0l + a2l) + (a1l + a3l);                                            \
                   a0h = (a0h + a2h) + (a1h + a3h);                                            \
                   for (; i + CYCONV_RUN_LANES <= n; i += CYCONV_RUN_LANES) {                  \
                       a0l += cyconv_load4_##SUFFIX(p + i);                                    \
                       a0h += cyconv_load4_##SUFFIX(p + i + 4);                                \
                   }                                                                           \
                   memcpy(lane, &a0l, sizeof a0l);                                             \
                   memcpy(lane + 4, &a0h, sizeof a0h);)                                        \
    } else {  /* the same tree in plain loops */                                             \
        double part[4][CYCONV_RUN_LANES] = {{0}};                                              \
        for (; i + 4 * CYCONV_RUN_LANES <= n; i += 4 * CYCONV_RUN_LANES)                       \
            for (int k = 0; k < 4; k++)                                                        \
                for (int j = 0; j < CYCONV_RUN_LANES; j++)                                     \
                    part[k][j] += (double)p[i + k * CYCONV_RUN_LANES + j];                     \
        for (int j = 0; j < CYCONV_RUN_LANES; j++)                                             \
            lane[j] = (part[0][j] + part[2][j]) + (part[1][j] + part[3][j]);                   \
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
    enum { LANES = CYCONV_ARG_BYTES / sizeof(T) };                                             \
    ptrdiff_t i = 0, block = 0, pos;                                                           \
    T best = p[0];                                                                             \
    int any_nan = 0;                                                                           \
    if (CYCONV_RUN_VECTORS && n >= LANES) {                                                    \
        /* lane-wise: take a larger value (comparisons give all-ones lanes, so the select is   \
           bitwise), flag NaNs */                                                              \
        CYCONV_VEC(VA acc; VA v; VI nan = {0}; VI gt;                                          \
                   memcpy(&acc, p, sizeof acc);                                                \
                   for (; i + LANES <= n; i += LANES) {                                        \
                       memcpy(&v, p + i, sizeof v);                                            \
                       nan |= v != v;                                                          \
                       gt = v > acc;                                                           \
                       acc = (VA)(((VI)v & gt) | ((VI)acc & ~gt));                             \
                   }                                                                           \
                   for (int j = 0; j < LANES; j++) {                                           \
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
        CYCONV_VEC(VA v; VA target = (VA){0} + best; VI eq;                                    \
                   for (; block + LANES <= n; block += LANES) {                                \
                       int hit = 0;                                                            \
                       memcpy(&v, p + block, sizeof v);                                        \
                       eq = v == target;                                                       \
                       for (int j = 0; j < LANES; j++) hit |= eq[j] != 0;                      \
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
/* statement expressions, not functions: a vector-returning function outside the clones
   would take the baseline ABI. The float one as an initializer: GCC 12 turns that into one
   vcvtps2pd from memory, __builtin_convertvector into two halves and a vinsertf128 */
#define cyconv_load4_f32(p)                                                                    \
    ({ const float* q4_ = (p); (cyconv_vd4){q4_[0], q4_[1], q4_[2], q4_[3]}; })
#define cyconv_load4_f64(p) ({ cyconv_vd4 v4_; memcpy(&v4_, (p), sizeof v4_); v4_; })
CYCONV_DEFINE_ADAPTIVE_ROWS(float, f32, cyconv_varg_f32, cyconv_viarg_f32)
CYCONV_DEFINE_ADAPTIVE_ROWS(double, f64, cyconv_varg_f64, cyconv_viarg_f64)
#else
#define CYCONV_VEC(...)
CYCONV_DEFINE_ADAPTIVE_ROWS(float, f32, float, int)
CYCONV_DEFINE_ADAPTIVE_ROWS(double, f64, double, int)
#endif

#endif
