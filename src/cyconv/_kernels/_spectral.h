/* The inner loop of the per-frequency contraction (_spectral.pyx): acc[f] += op(a[f]) *
 * op(b[f]) over nf interleaved complex numbers, op = conj where the sign is -1. Built as
 * AVX-512, AVX2 and baseline clones like the row primitives (the baseline build alone
 * vectorizes it 4 floats wide), with `restrict`: the three rows never alias. */
#ifndef CYCONV_SPECTRAL_H
#define CYCONV_SPECTRAL_H

#include <stddef.h>

#include "_rowops.h" /* CYCONV_CLONES */

#define CYCONV_CMAC(NAME, T)                                                               \
    CYCONV_CLONES static void NAME(const T *restrict a, const T *restrict b,              \
                                   T *restrict acc, ptrdiff_t nf, T sa, T sb)              \
    {                                                                                      \
        for (ptrdiff_t f = 0; f < nf; f++) {                                               \
            T ar = a[2 * f], ai = sa * a[2 * f + 1];                                       \
            T br = b[2 * f], bi = sb * b[2 * f + 1];                                       \
            acc[2 * f] += ar * br - ai * bi;                                               \
            acc[2 * f + 1] += ar * bi + ai * br;                                           \
        }                                                                                  \
    }

CYCONV_CMAC(cyconv_cmac_f32, float)
CYCONV_CMAC(cyconv_cmac_f64, double)

/* z[j][f] = sum over k < K (in order) of op(a[k][f]) * op(b[j][k][f]) for j < JB, f < nf <=
 * CYCONV_SPECTRAL_FB: a register block of JB outputs, each a[k] row chunk loaded once for
 * all of them (a row at a + k*ak, b's at b + j*bj + k*bk, z's at z + j*zj; interleaved
 * complex, as the rows above). */
#define CYCONV_SPECTRAL_FB 32
#define CYCONV_CBLOCK(NAME, T, JB)                                                         \
    static inline __attribute__((always_inline)) void NAME##_n(                            \
        const T *restrict a, ptrdiff_t ak, const T *restrict b, ptrdiff_t bj,              \
        ptrdiff_t bk, T *restrict z, ptrdiff_t zj, ptrdiff_t K, const ptrdiff_t nf,        \
        T sa, T sb)                                                                        \
    {                                                                                      \
        T accr[JB][CYCONV_SPECTRAL_FB], acci[JB][CYCONV_SPECTRAL_FB];                      \
        for (int j = 0; j < JB; j++)                                                       \
            for (int f = 0; f < CYCONV_SPECTRAL_FB; f++)                                   \
                accr[j][f] = acci[j][f] = 0;                                               \
        for (ptrdiff_t k = 0; k < K; k++) {                                                \
            T ar[CYCONV_SPECTRAL_FB], ai[CYCONV_SPECTRAL_FB];                              \
            const T *ak_row = a + k * ak;                                                  \
            for (int f = 0; f < nf; f++) {                                                 \
                ar[f] = ak_row[2 * f];                                                     \
                ai[f] = sa * ak_row[2 * f + 1];                                            \
            }                                                                              \
            for (int j = 0; j < JB; j++) {                                                 \
                const T *b_row = b + j * bj + k * bk;                                      \
                for (int f = 0; f < nf; f++) {                                             \
                    const T br = b_row[2 * f], bi = sb * b_row[2 * f + 1];                 \
                    accr[j][f] += ar[f] * br - ai[f] * bi;                                 \
                    acci[j][f] += ar[f] * bi + ai[f] * br;                                 \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        for (int j = 0; j < JB; j++)                                                       \
            for (ptrdiff_t f = 0; f < nf; f++) {                                           \
                z[j * zj + 2 * f] = accr[j][f];                                            \
                z[j * zj + 2 * f + 1] = acci[j][f];                                        \
            }                                                                              \
    }                                                                                      \
    CYCONV_CLONES static void NAME(const T *restrict a, ptrdiff_t ak,                      \
                                   const T *restrict b, ptrdiff_t bj, ptrdiff_t bk,        \
                                   T *restrict z, ptrdiff_t zj, ptrdiff_t K, ptrdiff_t nf, \
                                   T sa, T sb)                                             \
    {   /* a whole chunk with a constant count (vectorized), a tail with its own */        \
        if (nf == CYCONV_SPECTRAL_FB)                                                      \
            NAME##_n(a, ak, b, bj, bk, z, zj, K, CYCONV_SPECTRAL_FB, sa, sb);              \
        else                                                                               \
            NAME##_n(a, ak, b, bj, bk, z, zj, K, nf, sa, sb);                              \
    }

CYCONV_CBLOCK(cyconv_cblock4_f32, float, 4)
CYCONV_CBLOCK(cyconv_cblock1_f32, float, 1)
CYCONV_CBLOCK(cyconv_cblock4_f64, double, 4)
CYCONV_CBLOCK(cyconv_cblock1_f64, double, 1)

#endif
