/* A GEMM micro-kernel for 8-pixel-wide outputs (stride 1), AVX-512 float32 only.
 *
 *   C[i*ldc + q] += sum_k A[k*6 + i] * B[boff[k] + (q/8)*W + q%8]    (i < 6, q < 64)
 *
 * Output pixels are on the vector lanes as in the GEMM-shaped implicit kernel, but each
 * 16-lane vector holds two output rows of 8, loaded as two 8-float halves from rows W
 * apart on the zero-padded grid: no lane is spent on the grid's padding columns. With 8
 * output rows per call the 64 lanes are a whole 8x8 output plane, contiguous in NCHW, so
 * C is the output itself (ldc = its plane). 6 output channels are broadcast per tap: 24
 * accumulators, and channel counts waste less than with 16-lane channel tiles (lenet2's
 * 50 output channels: 54 computed instead of 64).
 */
#ifndef CYCONV_UKR_ROWPAIRS_H
#define CYCONV_UKR_ROWPAIRS_H
#include <stddef.h>
#include "_isa.h"

enum { CYCONV_ROWPAIRS_MR = 6, CYCONV_ROWPAIRS_ROWS = 8, CYCONV_ROWPAIRS_WIDTH = 8 };

#if CYCONV_X86 && defined(__GNUC__) && __GNUC__ >= 12
#define CYCONV_HAVE_ROWPAIRS 1
CYCONV_TARGET_AVX512 static void cyconv_ukr_rowpairs_f32(ptrdiff_t K, const float* restrict A,
                                                         const float* restrict B,
                                                         const ptrdiff_t* restrict boff,
                                                         ptrdiff_t W, float* restrict C,
                                                         ptrdiff_t ldc)
{
    typedef float vec __attribute__((vector_size(64)));
    typedef float half __attribute__((vector_size(32)));
    vec acc[CYCONV_ROWPAIRS_MR][4];
#pragma GCC unroll 8
    for (int i = 0; i < CYCONV_ROWPAIRS_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc[i][v] = (vec){0};
    for (ptrdiff_t k = 0; k < K; k++) {
        const float* bk = B + boff[k];
        vec b[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            half lo, hi;
            __builtin_memcpy(&lo, bk + (2 * v) * W, sizeof(lo));
            __builtin_memcpy(&hi, bk + (2 * v + 1) * W, sizeof(hi));
            b[v] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                           14, 15);
        }
#pragma GCC unroll 8
        for (int i = 0; i < CYCONV_ROWPAIRS_MR; i++) {
            const float a = A[k * CYCONV_ROWPAIRS_MR + i];
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                acc[i][v] += a * b[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < CYCONV_ROWPAIRS_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            vec c;
            __builtin_memcpy(&c, C + i * ldc + v * 16, sizeof(c));
            c += acc[i][v];
            __builtin_memcpy(C + i * ldc + v * 16, &c, sizeof(c));
        }
}
#else
#define CYCONV_HAVE_ROWPAIRS 0
#endif

/* The kernel as the descriptor table holds it: NULL where this build has none (the
 * ISA levels below AVX-512 hold NULL as well, _isa_table.h). */
#if CYCONV_HAVE_ROWPAIRS
#define CYCONV_ROWPAIRS_KERNEL cyconv_ukr_rowpairs_f32
#else
#define CYCONV_ROWPAIRS_KERNEL NULL
#endif
#endif
