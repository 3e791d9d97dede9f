/* From the direct micro-kernel's [pixel][channel] tile to NCHW rows, plus bias.
 *
 *   dst[c*lddst + p] = src[p*ldsrc + c] + (bias ? bias[c] : 0)    (p < npix, c < nch)
 *
 * The row-tiled kernel keeps output channels on the vector lanes, so each output row leaves
 * it transposed. Element by element that transpose is a strided scalar load, add and store
 * per output - on shallow reductions (conv1d's 320-deep rows) a tenth of the whole call.
 * The AVX-512 version moves 16x16 blocks: 16 pixel-row loads, an in-register transpose
 * (unpack, shuffle, two 128-bit lane shuffles), 16 channel-row stores; partial blocks use
 * masked loads and stores, so nothing outside [0, npix) x [0, nch) is read or written; the
 * AVX2 versions (float 8x8, double 4x4) move the whole blocks and loop over the rest.
 * Included by _isa_table.h, which puts the version of each ISA level in its descriptor.
 */
#ifndef CYCONV_TILE_UNPACK_H
#define CYCONV_TILE_UNPACK_H
#include <stddef.h>
#include "_isa.h"

#define CYCONV_DEFINE_UNPACK_GENERIC(T, SUFFIX)                                              \
static void cyconv_unpack_tile_##SUFFIX##_generic(ptrdiff_t npix, ptrdiff_t nch,             \
        const T* restrict src, ptrdiff_t ldsrc, T* restrict dst, ptrdiff_t lddst,             \
        const T* restrict bias)                                                              \
{                                                                                            \
    for (ptrdiff_t c = 0; c < nch; c++) {                                                    \
        const T beta = bias ? bias[c] : (T)0;                                                \
        T* d = dst + c * lddst;                                                              \
        for (ptrdiff_t p = 0; p < npix; p++)                                                 \
            d[p] = src[p * ldsrc + c] + beta;                                                \
    }                                                                                        \
}
CYCONV_DEFINE_UNPACK_GENERIC(float, f32)
CYCONV_DEFINE_UNPACK_GENERIC(double, f64)

#if CYCONV_X86
#include <immintrin.h>

/* out[k] = column k of the 16 rows r[0..15] (all 16 lanes of every row valid). */
CYCONV_TARGET_AVX512 static inline void cyconv_transpose16_ps(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int g = 0; g < 4; g++) {
        t[4 * g + 0] = _mm512_unpacklo_ps(r[4 * g + 0], r[4 * g + 1]);
        t[4 * g + 1] = _mm512_unpackhi_ps(r[4 * g + 0], r[4 * g + 1]);
        t[4 * g + 2] = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]);
        t[4 * g + 3] = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        /* u[4g+k], 128-bit lane L: column 4L+k of rows 4g..4g+3 */
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) {
        __m512 p = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44);
        __m512 q = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xEE);
        __m512 p2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44);
        __m512 q2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xEE);
        r[k] = _mm512_shuffle_f32x4(p, p2, 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(p, p2, 0xDD);
        r[8 + k] = _mm512_shuffle_f32x4(q, q2, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(q, q2, 0xDD);
    }
}

CYCONV_TARGET_AVX512 static void cyconv_unpack_tile_f32_avx512(ptrdiff_t npix, ptrdiff_t nch,
        const float* restrict src, ptrdiff_t ldsrc, float* restrict dst, ptrdiff_t lddst,
        const float* restrict bias)
{
    for (ptrdiff_t c0 = 0; c0 < nch; c0 += 16) {
        const int nc = nch - c0 < 16 ? (int)(nch - c0) : 16;
        const __mmask16 cmask = (__mmask16)((1u << nc) - 1u);
        for (ptrdiff_t p0 = 0; p0 < npix; p0 += 16) {
            const int np = npix - p0 < 16 ? (int)(npix - p0) : 16;
            const __mmask16 pmask = (__mmask16)((1u << np) - 1u);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < np ? _mm512_maskz_loadu_ps(cmask, src + (p0 + i) * ldsrc + c0)
                              : _mm512_setzero_ps();
            cyconv_transpose16_ps(r);
            for (int c = 0; c < nc; c++) {
                /* + 0 without a bias, as the generic version: -0.0 becomes +0.0 alike */
                const float beta = bias ? bias[c0 + c] : 0.0f;
                _mm512_mask_storeu_ps(dst + (c0 + c) * lddst + p0, pmask,
                                      _mm512_add_ps(r[c], _mm512_set1_ps(beta)));
            }
        }
    }
}
#endif

/* AVX2: out[k] = column k of the 8 rows r[0..7] (8 floats each) */
CYCONV_TARGET_AVX2 static inline void cyconv_transpose8_ps(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int g = 0; g < 2; g++) {
        t[4 * g + 0] = _mm256_unpacklo_ps(r[4 * g + 0], r[4 * g + 1]);
        t[4 * g + 1] = _mm256_unpackhi_ps(r[4 * g + 0], r[4 * g + 1]);
        t[4 * g + 2] = _mm256_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]);
        t[4 * g + 3] = _mm256_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        /* u[4g+k]: column k of rows 4g..4g+3 in the low 128 bits, column 4+k in the high */
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x20);
        r[4 + k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x31);
    }
}

/* AVX2: out[k] = column k of the 4 rows r[0..3] (4 doubles each) */
CYCONV_TARGET_AVX2 static inline void cyconv_transpose4_pd(__m256d r[4])
{
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* AVX2 moves whole B x B blocks (B = one vector's lanes) through the transposes above and
 * leaves the partial blocks at a tile's edges to the element loop: AVX2's masked stores are
 * slow on the AMD cores that lack AVX-512, and the row tiles' blocks are nearly all whole
 * (16-channel panels, 16-pixel runs). */
#define CYCONV_DEFINE_UNPACK_AVX2(T, SUFFIX, VEC, B, LOADU, STOREU, ADD, SET1, TRANSPOSE)     \
CYCONV_TARGET_AVX2 static void cyconv_unpack_tile_##SUFFIX##_avx2(ptrdiff_t npix,            \
        ptrdiff_t nch, const T* restrict src, ptrdiff_t ldsrc, T* restrict dst,               \
        ptrdiff_t lddst, const T* restrict bias)                                             \
{                                                                                            \
    for (ptrdiff_t c0 = 0; c0 < nch; c0 += (B)) {                                            \
        const ptrdiff_t nc = nch - c0 < (B) ? nch - c0 : (B);                                \
        for (ptrdiff_t p0 = 0; p0 < npix; p0 += (B)) {                                       \
            const ptrdiff_t np = npix - p0 < (B) ? npix - p0 : (B);                          \
            if (nc < (B) || np < (B)) {                                                      \
                cyconv_unpack_tile_##SUFFIX##_generic(np, nc, src + p0 * ldsrc + c0, ldsrc,  \
                        dst + c0 * lddst + p0, lddst, bias ? bias + c0 : NULL);              \
                continue;                                                                    \
            }                                                                                \
            VEC r[(B)];                                                                      \
            for (int i = 0; i < (B); i++)                                                    \
                r[i] = LOADU(src + (p0 + i) * ldsrc + c0);                                   \
            TRANSPOSE(r);                                                                    \
            for (int c = 0; c < (B); c++) {                                                  \
                /* + 0 without a bias, as the generic version: -0.0 becomes +0.0 alike */    \
                const T beta = bias ? bias[c0 + c] : (T)0;                                   \
                STOREU(dst + (c0 + c) * lddst + p0, ADD(r[c], SET1(beta)));                  \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}
CYCONV_DEFINE_UNPACK_AVX2(float, f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,
                          _mm256_add_ps, _mm256_set1_ps, cyconv_transpose8_ps)
CYCONV_DEFINE_UNPACK_AVX2(double, f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd,
                          _mm256_add_pd, _mm256_set1_pd, cyconv_transpose4_pd)
#undef CYCONV_DEFINE_UNPACK_AVX2

/* float64 on AVX-512 runs the portable loop */
#define cyconv_unpack_tile_f64_avx512 cyconv_unpack_tile_f64_generic
#endif
