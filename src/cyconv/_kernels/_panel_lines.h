/* Lines of a GEMM panel gathered at fixed offsets: line i (dst + i * nr) holds
 * x[off[t] + p + i * step] for taps t < taps - a B panel of the lowered weight gradient,
 * NR taps of one output position per line. For a whole panel of 8 or 16 taps (float64 /
 * float32 on AVX2) the tap loop has a constant trip count, so it unrolls with the offsets
 * in registers: one load and one store per element. */
#ifndef CYCONV_PANEL_LINES_H
#define CYCONV_PANEL_LINES_H
#include <stddef.h>

#define CYCONV_GATHER_LINES_CASE(T, TAPS)                                                    \
    for (ptrdiff_t i = 0; i < n; i++) {                                                      \
        const T* s = x + p + i * step;                                                       \
        T* d = dst + i * nr;                                                                 \
        for (int t = 0; t < (TAPS); t++)                                                     \
            d[t] = s[off[t]];                                                                \
    }

#define CYCONV_DEFINE_GATHER_LINES(T, S)                                                     \
    static inline void cyconv_gather_lines_##S(T* restrict dst, ptrdiff_t nr,                \
                                               const T* restrict x,                          \
                                               const ptrdiff_t* restrict off,                \
                                               ptrdiff_t taps, ptrdiff_t p, ptrdiff_t step,  \
                                               ptrdiff_t n)                                  \
    {                                                                                        \
        if (taps == 16) {                                                                    \
            CYCONV_GATHER_LINES_CASE(T, 16)                                                  \
        } else if (taps == 8) {                                                              \
            CYCONV_GATHER_LINES_CASE(T, 8)                                                   \
        } else {                                                                             \
            CYCONV_GATHER_LINES_CASE(T, taps)                                                \
        }                                                                                    \
    }

CYCONV_DEFINE_GATHER_LINES(float, f32)
CYCONV_DEFINE_GATHER_LINES(double, f64)
#undef CYCONV_DEFINE_GATHER_LINES
#undef CYCONV_GATHER_LINES_CASE
#endif
