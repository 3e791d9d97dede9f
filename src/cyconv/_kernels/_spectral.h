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

#endif
