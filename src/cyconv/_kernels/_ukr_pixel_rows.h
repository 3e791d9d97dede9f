/* Row micro-kernel with the output pixels on the vector lanes (stride 1), AVX-512.
 *
 *   Y[i*ldy + yoff[v] + q] = bias[i] + sum_k A[k*8 + i] * B[voff[v] + boff[k] + q]
 *                                          (i < nch <= 8, v < nvec <= 3, q < vlen[v] <= lanes)
 *
 * Each of up to 3 vectors is up to 16 float / 8 double output pixels of one output row, at
 * its own place in the input (voff) and in y (yoff): consecutive pieces of a row, or, for
 * rows narrower than 3 vectors, pieces of consecutive rows (conv3d's rows of 32: three
 * vectors span one and a half rows, where a row-by-row tile had 2 vectors and 16
 * accumulators). B is the padded input (or the unpadded one when no tap of these pixels
 * leaves its row), so tap k is up to 3 unaligned loads at voff[v] + boff[k]. 8 output
 * channels are broadcast from the packed weights per tap: 24 accumulators, 3 input vectors
 * and a broadcast in 32 registers. Fewer vectors (a row's or a work item's last pieces) run
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

/* the widest instance, CYCONV_DEFINE_PIXROWS(8, 3, ...) below: 8 output channels x 3 vectors */
enum { CYCONV_PIXROWS_MR = 8, CYCONV_PIXROWS_NV = 3 };


#if CYCONV_X86
#define CYCONV_HAVE_PIXROWS 1
#define CYCONV_DEFINE_PIXROWS(MR, NV, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)          \
CYCONV_TARGET_AVX512 static void cyconv_ukr_pixrows_##MR##x##NV##_##SUFFIX(ptrdiff_t K,      \
        const T* restrict A, const T* restrict B, const ptrdiff_t* restrict boff,            \
        const ptrdiff_t* restrict voff, T* restrict Y, ptrdiff_t ldy,                        \
        const ptrdiff_t* restrict yoff, const ptrdiff_t* restrict vlen, ptrdiff_t nch,       \
        const T* restrict bias)                                                              \
{                                                                                            \
    typedef T vec __attribute__((vector_size(64)));                                          \
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
        masks[v] = vlen[v] >= (LANES) ? (MASK_T)~(MASK_T)0                                   \
                 : (MASK_T)((1u << vlen[v]) - 1u);                                           \
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
#define CYCONV_PIXROWS_FAMILY(T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                  \
CYCONV_DEFINE_PIXROWS(8, 3, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                    \
CYCONV_DEFINE_PIXROWS(8, 2, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                    \
CYCONV_DEFINE_PIXROWS(8, 1, T, SUFFIX, LANES, MASK_T, MASKED_STORE, CAST)                    \
/* the instance for nvec (1-3) vectors */                                                    \
static void cyconv_ukr_pixrows_##SUFFIX(ptrdiff_t K, const T* A, const T* B,                 \
        const ptrdiff_t* boff, int nvec, const ptrdiff_t* voff, T* Y, ptrdiff_t ldy,         \
        const ptrdiff_t* yoff, const ptrdiff_t* vlen, ptrdiff_t nch, const T* bias)          \
{                                                                                            \
    if (nvec >= 3)                                                                           \
        cyconv_ukr_pixrows_8x3_##SUFFIX(K, A, B, boff, voff, Y, ldy, yoff, vlen, nch, bias); \
    else if (nvec == 2)                                                                      \
        cyconv_ukr_pixrows_8x2_##SUFFIX(K, A, B, boff, voff, Y, ldy, yoff, vlen, nch, bias); \
    else                                                                                     \
        cyconv_ukr_pixrows_8x1_##SUFFIX(K, A, B, boff, voff, Y, ldy, yoff, vlen, nch, bias); \
}
CYCONV_PIXROWS_FAMILY(float, f32, 16, __mmask16, _mm512_mask_storeu_ps, (__m512))
CYCONV_PIXROWS_FAMILY(double, f64, 8, __mmask8, _mm512_mask_storeu_pd, (__m512d))
#undef CYCONV_PIXROWS_FAMILY
#undef CYCONV_DEFINE_PIXROWS
#else
#define CYCONV_HAVE_PIXROWS 0
#endif

/* The nvec dispatchers as the descriptor table holds them: NULL where this build has none
 * (the ISA levels below AVX-512 hold NULL as well, _isa_table.h). */
#if CYCONV_HAVE_PIXROWS
#define CYCONV_PIXROWS_KERNEL_F32 cyconv_ukr_pixrows_f32
#define CYCONV_PIXROWS_KERNEL_F64 cyconv_ukr_pixrows_f64
#else
#define CYCONV_PIXROWS_KERNEL_F32 NULL
#define CYCONV_PIXROWS_KERNEL_F64 NULL
#endif
#endif
