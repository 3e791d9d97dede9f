/* col2im's stride-1 scatter of one kernel row onto one input row, compiled per ISA (the
 * target clones of _rowops.h).
 *
 * Tap kw of the row adds rows[kw * ldr + o] to dst[o + kw] for the output columns o of
 * one output row. Added tap by tap, each tap's run re-read the elements the tap before
 * had just stored one element to the side, and the loads waited on those stores
 * (benchmarks/README.md, "col2im's stride-1 kernel rows"). Here each input element is
 * loaded once, takes its taps in kw order - the per-tap walk's additions, in its order:
 * the same bits - and is stored once.
 */
#ifndef CYCONV_COL2IM_ROWS_H
#define CYCONV_COL2IM_ROWS_H
#include <stddef.h>
#include <string.h>
#include "_rowops.h"

#define CYCONV_DEFINE_COL2IM_ROWS(T, S)                                                       \
/* acc plus the values of taps kw_lo..kw_hi-1 landing on element i, in kw order */          \
static inline __attribute__((always_inline)) T cyconv_col2im_element_##S(                   \
    ptrdiff_t i, ptrdiff_t kw_lo, ptrdiff_t kw_hi, const T* rows, ptrdiff_t ldr, T acc)      \
{                                                                                            \
    for (ptrdiff_t kw = kw_lo; kw < kw_hi; kw++)                                             \
        acc += rows[kw * ldr + i - kw];                                                      \
    return acc;                                                                              \
}                                                                                            \
/* Output columns o in [o_lo, o_hi) of taps kw < taps onto dst[o + kw], for the elements   \
 * i in [i_lo, i_hi) (the input row's; the others are padding): element i takes the taps   \
 * kw with o_lo <= i - kw < o_hi. */                                                         \
CYCONV_CLONES static void cyconv_col2im_row_##S(                                             \
    ptrdiff_t taps, ptrdiff_t o_lo, ptrdiff_t o_hi, ptrdiff_t i_lo, ptrdiff_t i_hi,          \
    const T* restrict rows, ptrdiff_t ldr, T* restrict dst)                                  \
{                                                                                            \
    typedef T VT __attribute__((vector_size(4 * sizeof(T))));                                \
    const ptrdiff_t first = o_lo > i_lo ? o_lo : i_lo;                                       \
    const ptrdiff_t end = o_hi + taps - 1 < i_hi ? o_hi + taps - 1 : i_hi;                   \
    /* the middle run, which every tap reaches */                                           \
    const ptrdiff_t mid_lo = o_lo + taps - 1 > first ? o_lo + taps - 1 : first;              \
    const ptrdiff_t mid_hi = o_hi < end ? o_hi : end;                                        \
    ptrdiff_t i = first;                                                                     \
    if (mid_hi >= mid_lo + 4) {                                                              \
        for (; i < mid_lo; i++)                                                              \
            dst[i] = cyconv_col2im_element_##S(i, i - o_hi + 1 > 0 ? i - o_hi + 1 : 0,       \
                                               i - o_lo + 1, rows, ldr, dst[i]);             \
        for (; i + 4 <= mid_hi; i += 4) {                                                    \
            VT acc, v;                                                                       \
            memcpy(&acc, dst + i, sizeof acc);                                               \
            for (ptrdiff_t kw = 0; kw < taps; kw++) {                                        \
                memcpy(&v, rows + kw * ldr + i - kw, sizeof v);                              \
                acc += v;                                                                    \
            }                                                                                \
            memcpy(dst + i, &acc, sizeof acc);                                               \
        }                                                                                    \
    }                                                                                        \
    for (; i < end; i++) {                                                                   \
        const ptrdiff_t a = i - o_hi + 1 > 0 ? i - o_hi + 1 : 0;                             \
        const ptrdiff_t b = i - o_lo + 1 < taps ? i - o_lo + 1 : taps;                       \
        dst[i] = cyconv_col2im_element_##S(i, a, b, rows, ldr, dst[i]);                      \
    }                                                                                        \
}

CYCONV_DEFINE_COL2IM_ROWS(float, f32)
CYCONV_DEFINE_COL2IM_ROWS(double, f64)

#undef CYCONV_DEFINE_COL2IM_ROWS

#endif
