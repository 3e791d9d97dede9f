/* Row micro-kernels with the output pixels on the vector lanes (stride 1), AVX-512.
 *
 *   Y[i*ldy + q] = bias[i] + sum_k A[k*MR + i] * B[boff[k] + q]     (i < nch <= MR, q < npix)
 *
 * npix <= NV vectors of pixels of one output row; B is the input row (padded, or the
 * unpadded input when no tap of these pixels leaves it), so tap k of the NV vectors is NV
 * unaligned loads at boff[k]. MR = 6 output channels are broadcast from the packed weights
 * per tap, NV = 4 vectors (64 float / 32 double pixels): 24 accumulators, 4 input vectors
 * and a broadcast in 32 registers; 6-channel panels waste little on odd channel counts. (An
 * 8 x 2 shape, no waste on conv1d's 64 channels, ran its row 5% slower: benchmarks/README.)
 *
 * Against the channels-on-lanes row tiles (_ukr_bcast_template.h) the result needs no
 * transpose: each accumulator is 16 consecutive pixels of one NCHW output row, stored (with
 * the bias) straight into y, and the whole reduction runs in registers - no row tile in
 * memory, no reduction chunks. On long rows (conv1d's 1024 samples) that transpose was
 * 7% of the call.
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
    /* masked stores: nothing past the row's end or the panel's last real channel */         \
    for (ptrdiff_t i = 0; i < nch; i++) {                                                    \
        /* + 0 without a bias, as the other row kernels' copy-out: -0.0 becomes +0.0 */      \
        const T beta = bias ? bias[i] : (T)0;                                                \
        for (int v = 0; v < (NV) && v * (LANES) < npix; v++) {                               \
            const ptrdiff_t left = npix - v * (LANES);                                       \
            const MASK_T m = left >= (LANES) ? (MASK_T)~(MASK_T)0                            \
                                             : (MASK_T)((1u << left) - 1u);                  \
            MASKED_STORE(Y + i * ldy + v * (LANES), m, CAST(acc[i][v] + beta));              \
        }                                                                                    \
    }                                                                                        \
}
#include <immintrin.h>
CYCONV_DEFINE_PIXROWS(6, 4, float, f32, 16, __mmask16, _mm512_mask_storeu_ps, (__m512))
CYCONV_DEFINE_PIXROWS(6, 4, double, f64, 8, __mmask8, _mm512_mask_storeu_pd, (__m512d))
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
CYCONV_DEFINE_PIXROWS_PORTABLE(6, float, 6x4_f32)
CYCONV_DEFINE_PIXROWS_PORTABLE(6, double, 6x4_f64)
#undef CYCONV_DEFINE_PIXROWS_PORTABLE
#endif

/* Whether the kernel exists in this build and the CPU runs it (AVX-512 chosen). */
static int cyconv_pixrows_available(void)
{
    return CYCONV_HAVE_PIXROWS && cyconv_isa == 2;
}
#endif
