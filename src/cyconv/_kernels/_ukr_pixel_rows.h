/* Row micro-kernel with the output pixels on the vector lanes (stride 1), AVX-512.
 *
 *   Y[i*ldy + q] = bias[i] + sum_k A[k*8 + i] * B[boff[k] + q]      (i < nch <= 8, q < npix)
 *
 * npix <= 3 vectors of pixels (48 float / 24 double) of one output row; B is the input row
 * (padded, or the unpadded input when no tap of these pixels leaves it), so tap k of the
 * pixels is up to 3 unaligned loads at boff[k]. 8 output channels are broadcast from the
 * packed weights per tap: 24 accumulators, 3 input vectors and a broadcast in 32 registers.
 * A row's last, shorter tile runs a 2- or 1-vector instance, so a row wastes at most the
 * lanes of its last vector (conv1d's 1024 samples: 21 tiles of 48 and one of 16, none
 * wasted; a 6 x 4-vector tile computed 66 of 64 channels and ran the row 7% slower).
 *
 * Against the channels-on-lanes row tiles (_ukr_bcast_template.h) the result needs no
 * transpose: each accumulator is 16 consecutive pixels of one NCHW output row, stored (with
 * the bias) straight into y, and the whole reduction runs in registers - no row tile in
 * memory, no reduction chunks.
 */
#ifndef CYCONV_UKR_PIXEL_ROWS_H
#define CYCONV_UKR_PIXEL_ROWS_H
#include <stddef.h>


#if CYCONV_X86
#define CYCONV_HAVE_PIXROWS 1
#define CYCONV_DEFINE_PIXROWS(MR, NV, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)          \
CYCONV_TARGET_AVX512 static void cyconv_ukr_pixrows_##MR##x##NV##_##SUFFIX(ptrdiff_t K,      \
        const T* restrict A, const T* restrict B, const ptrdiff_t* restrict boff,            \
        T* restrict Y, ptrdiff_t ldy, ptrdiff_t npix, ptrdiff_t nch,                         \
        const T* restrict bias)                                                              \
{                                                                                            \
    typedef T vec __attribute__((vector_size(64)));                                          \
    vec acc[(MR)][(NV)];                                                                     \
    _Pragma("GCC unroll 8")                                                                  \
    for (int i = 0; i < (MR); i++)                                                           \
        _Pragma("GCC unroll 4")                                                              \
        for (int v = 0; v < (NV); v++)                                                       \
            acc[i][v] = (vec){0};                                                            \
    for (ptrdiff_t k = 0; k < K; k++) {                                                      \
        const T* bk = B + boff[k];                                                           \
        vec b[(NV)];                                                                         \
        _Pragma("GCC unroll 4")                                                              \
        for (int v = 0; v < (NV); v++)                                                       \
            __builtin_memcpy(&b[v], bk + v * (LANES), sizeof(vec));                          \
        _Pragma("GCC unroll 8")                                                              \
        for (int i = 0; i < (MR); i++) {                                                     \
            const T a = A[k * (MR) + i];                                                     \
            _Pragma("GCC unroll 4")                                                          \
            for (int v = 0; v < (NV); v++)                                                   \
                acc[i][v] += a * b[v];                                                       \
        }                                                                                    \
    }                                                                                        \
    /* masked stores: nothing past the row's end or the panel's last real channel (loops    \
     * unrolled with constant indices, so the accumulators never leave the registers) */    \
    MASK_T masks[(NV)];                                                                      \
    _Pragma("GCC unroll 4")                                                                  \
    for (int v = 0; v < (NV); v++) {                                                         \
        const ptrdiff_t left = npix - v * (LANES);                                           \
        masks[v] = left >= (LANES) ? (MASK_T)~(MASK_T)0                                      \
                 : left > 0 ? (MASK_T)((1u << left) - 1u) : (MASK_T)0;                       \
    }                                                                                        \
    _Pragma("GCC unroll 8")                                                                  \
    for (int i = 0; i < (MR); i++) {                                                         \
        if (i >= nch)                                                                        \
            break;                                                                           \
        /* + 0 without a bias, as the other row kernels' copy-out: -0.0 becomes +0.0 */      \
        const T beta = bias ? bias[i] : (T)0;                                                \
        _Pragma("GCC unroll 4")                                                              \
        for (int v = 0; v < (NV); v++)                                                       \
            MASKED_STORE(Y + i * ldy + v * (LANES), masks[v], CAST(acc[i][v] + beta));       \
    }                                                                                        \
}
#include <immintrin.h>
#define CYCONV_PIXROWS_FAMILY(T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                  \
CYCONV_DEFINE_PIXROWS(8, 3, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                   \
CYCONV_DEFINE_PIXROWS(8, 2, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                   \
CYCONV_DEFINE_PIXROWS(8, 1, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                   \
/* the instance with the fewest vectors that covers npix */                                 \
static void cyconv_ukr_pixrows_##SUFFIX(ptrdiff_t K, const T* A, const T* B,                 \
        const ptrdiff_t* boff, T* Y, ptrdiff_t ldy, ptrdiff_t npix, ptrdiff_t nch,           \
        const T* bias)                                                                       \
{                                                                                            \
    if (npix > 2 * (LANES))                                                                  \
        cyconv_ukr_pixrows_8x3_##SUFFIX(K, A, B, boff, Y, ldy, npix, nch, bias);             \
    else if (npix > (LANES))                                                                 \
        cyconv_ukr_pixrows_8x2_##SUFFIX(K, A, B, boff, Y, ldy, npix, nch, bias);             \
    else                                                                                     \
        cyconv_ukr_pixrows_8x1_##SUFFIX(K, A, B, boff, Y, ldy, npix, nch, bias);             \
}
CYCONV_PIXROWS_FAMILY(float, f32, 16, __mmask16, _mm512_mask_storeu_ps, (__m512))
CYCONV_PIXROWS_FAMILY(double, f64, 8, __mmask8, _mm512_mask_storeu_pd, (__m512d))
#undef CYCONV_PIXROWS_FAMILY
#undef CYCONV_DEFINE_PIXROWS
#else
#define CYCONV_HAVE_PIXROWS 0
/* Portable build of the same contraction (never selected: the driver asks
 * cyconv_pixrows_available, but the module links the same everywhere). */
#define CYCONV_DEFINE_PIXROWS_PORTABLE(MR, T, SUFFIX)                                        \
static void cyconv_ukr_pixrows_##SUFFIX(ptrdiff_t K, const T* A, const T* B,                 \
        const ptrdiff_t* boff, T* Y, ptrdiff_t ldy, ptrdiff_t npix, ptrdiff_t nch,           \
        const T* bias)                                                                       \
{                                                                                            \
    for (ptrdiff_t i = 0; i < nch; i++)                                                      \
        for (ptrdiff_t q = 0; q < npix; q++) {                                               \
            T acc = 0;                                                                       \
            for (ptrdiff_t k = 0; k < K; k++)                                                \
                acc += A[k * (MR) + i] * B[boff[k] + q];                                     \
            Y[i * ldy + q] = acc + (bias ? bias[i] : (T)0);                                  \
        }                                                                                    \
}
CYCONV_DEFINE_PIXROWS_PORTABLE(8, float, f32)
CYCONV_DEFINE_PIXROWS_PORTABLE(8, double, f64)
#undef CYCONV_DEFINE_PIXROWS_PORTABLE
#endif

/* Whether the kernel exists in this build and the CPU runs it (AVX-512 chosen). */
static int cyconv_pixrows_available(void)
{
    return CYCONV_HAVE_PIXROWS && cyconv_isa == 2;
}
#endif
