/* Row micro-kernel with the output pixels on the vector lanes (stride 1), AVX-512 and AVX2.
 *
 *   Y[i*ldy + yoff[v] + q] = bias[i] + sum_k A[k*MR + i] * B[voff[v] + boff[k] + q]
 *                                         (i < nch <= MR, v < nvec <= 3, q < vlen[v] <= lanes)
 *
 * Each of up to 3 vectors is up to 16 float / 8 double (AVX2: 8 / 4) output pixels of one
 * output row, at
 * its own place in the input (voff) and in y (yoff): consecutive pieces of a row, or, for
 * rows narrower than 3 vectors, pieces of consecutive rows (conv3d's rows of 32: three
 * vectors span one and a half rows, where a row-by-row tile had 2 vectors and 16
 * accumulators). B is the padded input (or the unpadded one when no tap of these pixels
 * leaves its row), so tap k is up to 3 unaligned loads at voff[v] + boff[k]. MR output
 * channels are broadcast from the packed weights per tap: AVX-512 MR = 8, 24 accumulators,
 * 3 input vectors and a broadcast in 32 registers; AVX2 MR = 4, 12 + 3 + 1 in 16. Fewer vectors (a row's or a work item's last pieces) run
 * a 2- or 1-vector instance, so no lane beyond the last vector's is computed (conv1d's 1024
 * samples: 21 tiles of 48 and one of 16, none wasted; a 6 x 4-vector tile computed 66 of 64
 * channels and ran the row 7% slower).
 *
 * Against the channels-on-lanes row tiles (_ukr_bcast_template.h) the result needs no
 * transpose: each accumulator is 16 consecutive pixels of one NCHW output row, stored (with
 * the bias) straight into y, and the whole reduction runs in registers - no row tile in
 * memory, no reduction chunks.
 */
#ifndef CYCONV_UKR_PIXEL_ROWS_H
#define CYCONV_UKR_PIXEL_ROWS_H
#include <stddef.h>
#include "_isa.h"

/* the widest instance of each level, CYCONV_PIXROWS_FAMILY below: MR output channels x 3
 * vectors */
enum { CYCONV_PIXROWS_MR_avx512 = 8, CYCONV_PIXROWS_MR_avx2 = 4, CYCONV_PIXROWS_NV = 3 };


#if CYCONV_X86
#define CYCONV_HAVE_PIXROWS 1
#define CYCONV_DEFINE_PIXROWS(TARGET, VB, MR, NV, T, SUFFIX, LANES, MASK_T, MAKE_MASK,        \
                              MASKED_STORE, CAST)                                            \
TARGET static void cyconv_ukr_pixrows_##MR##x##NV##_##SUFFIX(ptrdiff_t K,                    \
        const T* restrict A, const T* restrict B, const ptrdiff_t* restrict boff,            \
        const ptrdiff_t* restrict voff, T* restrict Y, ptrdiff_t ldy,                        \
        const ptrdiff_t* restrict yoff, const ptrdiff_t* restrict vlen, ptrdiff_t nch,       \
        const T* restrict bias)                                                              \
{                                                                                            \
    typedef T vec __attribute__((vector_size(VB)));                                          \
    vec acc[(MR)][(NV)];                                                                     \
    /* one base pointer per vector: each load is then base + boff[k], one instruction */     \
    const T* base[(NV)];                                                                     \
    _Pragma("GCC unroll 4")                                                                  \
    for (int v = 0; v < (NV); v++)                                                           \
        base[v] = B + voff[v];                                                               \
    _Pragma("GCC unroll 8")                                                                  \
    for (int i = 0; i < (MR); i++)                                                           \
        _Pragma("GCC unroll 4")                                                              \
        for (int v = 0; v < (NV); v++)                                                       \
            acc[i][v] = (vec){0};                                                            \
    for (ptrdiff_t k = 0; k < K; k++) {                                                      \
        const ptrdiff_t o = boff[k];                                                         \
        vec b[(NV)];                                                                         \
        _Pragma("GCC unroll 4")                                                              \
        for (int v = 0; v < (NV); v++)                                                       \
            __builtin_memcpy(&b[v], base[v] + o, sizeof(vec));                               \
        _Pragma("GCC unroll 8")                                                              \
        for (int i = 0; i < (MR); i++) {                                                     \
            const T a = A[k * (MR) + i];                                                     \
            _Pragma("GCC unroll 4")                                                          \
            for (int v = 0; v < (NV); v++)                                                   \
                acc[i][v] += a * b[v];                                                       \
        }                                                                                    \
    }                                                                                        \
    /* masked stores: nothing past a row's end or the panel's last real channel (loops       \
     * unrolled with constant indices, so the accumulators never leave the registers) */     \
    MASK_T masks[(NV)];                                                                      \
    _Pragma("GCC unroll 4")                                                                  \
    for (int v = 0; v < (NV); v++)                                                           \
        masks[v] = MAKE_MASK(vlen[v]);                                                       \
    _Pragma("GCC unroll 8")                                                                  \
    for (int i = 0; i < (MR); i++) {                                                         \
        if (i >= nch)                                                                        \
            break;                                                                           \
        /* + 0 without a bias, as the other row kernels' copy-out: -0.0 becomes +0.0 */      \
        const T beta = bias ? bias[i] : (T)0;                                                \
        _Pragma("GCC unroll 4")                                                              \
        for (int v = 0; v < (NV); v++)                                                       \
            MASKED_STORE(Y + i * ldy + yoff[v], masks[v], CAST(acc[i][v] + beta));           \
    }                                                                                        \
}
#include <immintrin.h>
/* the lanes below n: AVX-512 a bit mask, AVX2 a vector of all-ones lanes (AVX2 compares are
 * signed, lane indices and n < 2^31 compare as they should) */
#define CYCONV_PIXROWS_MASK16(n) ((n) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n)) - 1u))
#define CYCONV_PIXROWS_MASK8(n) ((n) >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n)) - 1u))
#define CYCONV_PIXROWS_MASK_F32_AVX2(n)                                                      \
    _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define CYCONV_PIXROWS_MASK_F64_AVX2(n)                                                      \
    _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n)), _mm256_setr_epi64x(0, 1, 2, 3))
#define CYCONV_PIXROWS_FAMILY(TARGET, VB, MR, T, SUFFIX, LANES, MASK_T, MAKE_MASK,           \
                              MASKED_STORE, CAST)                                            \
CYCONV_DEFINE_PIXROWS(TARGET, VB, MR, 3, T, SUFFIX, LANES, MASK_T, MAKE_MASK, MASKED_STORE,  \
                      CAST)                                                                  \
CYCONV_DEFINE_PIXROWS(TARGET, VB, MR, 2, T, SUFFIX, LANES, MASK_T, MAKE_MASK, MASKED_STORE,  \
                      CAST)                                                                  \
CYCONV_DEFINE_PIXROWS(TARGET, VB, MR, 1, T, SUFFIX, LANES, MASK_T, MAKE_MASK, MASKED_STORE,  \
                      CAST)                                                                  \
/* the instance for nvec (1-3) vectors */                                                    \
static void cyconv_ukr_pixrows_##SUFFIX(ptrdiff_t K, const T* A, const T* B,                 \
        const ptrdiff_t* boff, int nvec, const ptrdiff_t* voff, T* Y, ptrdiff_t ldy,         \
        const ptrdiff_t* yoff, const ptrdiff_t* vlen, ptrdiff_t nch, const T* bias)          \
{                                                                                            \
    if (nvec >= 3)                                                                           \
        cyconv_ukr_pixrows_##MR##x3_##SUFFIX(K, A, B, boff, voff, Y, ldy, yoff, vlen, nch,   \
                                             bias);                                          \
    else if (nvec == 2)                                                                      \
        cyconv_ukr_pixrows_##MR##x2_##SUFFIX(K, A, B, boff, voff, Y, ldy, yoff, vlen, nch,   \
                                             bias);                                          \
    else                                                                                     \
        cyconv_ukr_pixrows_##MR##x1_##SUFFIX(K, A, B, boff, voff, Y, ldy, yoff, vlen, nch,   \
                                             bias);                                          \
}
CYCONV_PIXROWS_FAMILY(CYCONV_TARGET_AVX512, 64, 8, float, f32_avx512, 16, __mmask16,
                      CYCONV_PIXROWS_MASK16, _mm512_mask_storeu_ps, (__m512))
CYCONV_PIXROWS_FAMILY(CYCONV_TARGET_AVX512, 64, 8, double, f64_avx512, 8, __mmask8,
                      CYCONV_PIXROWS_MASK8, _mm512_mask_storeu_pd, (__m512d))
CYCONV_PIXROWS_FAMILY(CYCONV_TARGET_AVX2, 32, 4, float, f32_avx2, 8, __m256i,
                      CYCONV_PIXROWS_MASK_F32_AVX2, _mm256_maskstore_ps, (__m256))
CYCONV_PIXROWS_FAMILY(CYCONV_TARGET_AVX2, 32, 4, double, f64_avx2, 4, __m256i,
                      CYCONV_PIXROWS_MASK_F64_AVX2, _mm256_maskstore_pd, (__m256d))
#undef CYCONV_PIXROWS_FAMILY
#undef CYCONV_DEFINE_PIXROWS
#undef CYCONV_PIXROWS_MASK16
#undef CYCONV_PIXROWS_MASK8
#undef CYCONV_PIXROWS_MASK_F32_AVX2
#undef CYCONV_PIXROWS_MASK_F64_AVX2
#else
#define CYCONV_HAVE_PIXROWS 0
#endif

/* The nvec dispatchers as the descriptor table holds them: NULL where this build has none
 * (the generic level holds NULL as well, _isa_table.h). */
#if CYCONV_HAVE_PIXROWS
#define CYCONV_PIXROWS_F32_avx512 cyconv_ukr_pixrows_f32_avx512
#define CYCONV_PIXROWS_F64_avx512 cyconv_ukr_pixrows_f64_avx512
#define CYCONV_PIXROWS_F32_avx2 cyconv_ukr_pixrows_f32_avx2
#define CYCONV_PIXROWS_F64_avx2 cyconv_ukr_pixrows_f64_avx2
#else
#define CYCONV_PIXROWS_F32_avx512 NULL
#define CYCONV_PIXROWS_F64_avx512 NULL
#define CYCONV_PIXROWS_F32_avx2 NULL
#define CYCONV_PIXROWS_F64_avx2 NULL
#endif
#define CYCONV_PIXROWS_F32_generic NULL
#define CYCONV_PIXROWS_F64_generic NULL
#define CYCONV_PIXROWS_MR_generic 1
#endif
