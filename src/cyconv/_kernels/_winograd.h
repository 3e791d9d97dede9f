/* The transforms of the Winograd F(4x4, 3x3) convolution (_winograd.pyx), built as
 * AVX-512, AVX2 and baseline clones like the row primitives: the kernel module itself is
 * compiled for baseline x86-64, where these loops ran 4 floats (2 doubles) wide.
 *
 *   input:    V = B^T d B of one input channel's tiles in a block of tile rows
 *   output:   y = A^T M A + beta of one output channel's tiles in the block
 *   matrices: B^T and A^T as numbers (the transforms have them as code)
 *   weights:  out[e * e_stride + lane] = (G w_lane G^T)[e]    (one panel's lanes, in double)
 */
#ifndef CYCONV_WINOGRAD_H
#define CYCONV_WINOGRAD_H

#include <stddef.h>
#include <string.h>

#include "_rowops.h" /* CYCONV_CLONES */

/* The transforms' row copies are runs of a few tiles (4 for a 14-wide image): GCC turned
 * those loops into memcpy calls through the PLT, 9% of res3x3's weight gradient
 * (benchmarks/README.md, "Winograd transforms without memcpy calls"). */
#if defined(__GNUC__) && !defined(__clang__)
#define CYCONV_WINO_INLINE_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define CYCONV_WINO_INLINE_COPIES
#endif

#define CYCONV_WINO_LANES 8 /* the most output channels in a micro-kernel panel */
_Static_assert(CYCONV_WINO_LANES % 4 == 0, "the weight transform builds 4-lane vectors");
#define CYCONV_WINO_WBLOCK 16 /* input channels per buffered block of the weight transform */
#define CYCONV_WINO_VBYTES 64 /* tiles transformed at a time: one AVX-512 vector's bytes */

/* A row of n tiles in the transforms' scratch: whole vectors and one more (the input's
 * last tile reads one element further), so the vector loops never leave their rows. */
static inline ptrdiff_t cyconv_wino_padded(ptrdiff_t n)
{
    const ptrdiff_t vl = CYCONV_WINO_VBYTES / sizeof(float);
    return (n + vl - 1) / vl * vl + vl;
}
#define CYCONV_WINO_CHANNELS 16 /* channels per call of the transforms (a cache line of them) */
static inline ptrdiff_t cyconv_wino_input_scratch(ptrdiff_t rows, ptrdiff_t tw)
{
    return (36 + 24 * CYCONV_WINO_CHANNELS) * cyconv_wino_padded(rows * (tw + 1));
}
static inline ptrdiff_t cyconv_wino_output_scratch(ptrdiff_t rows, ptrdiff_t tw)
{
    return 16 * CYCONV_WINO_CHANNELS * cyconv_wino_padded(rows * tw);
}
/* The grad-output transform's transposed block of tiles: 16 x (tiles) x (a panel of output
 * channels), bytes; panels are at most two AVX-512 vectors, 128 bytes, so a block holds 8
 * tiles or more. */
#define CYCONV_WINO_GRADOUT_BYTES 16384
static inline ptrdiff_t cyconv_wino_gradout_scratch(void)
{
    return CYCONV_WINO_GRADOUT_BYTES / sizeof(float); /* elements of either type */
}

/* The transform matrices of the interpolation points 0, 1, -1, 2, -1/2 and infinity, as
 * code (zeros and ones cost nothing); cyconv_wino_matrices writes the same numbers out for
 * the Python layer, which checks them exactly against the weight transform G it derives.
 * B^T (6 x 6) of six inputs d0..d5: */
#define CYCONV_WINO_BT(T, d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)                    \
    do {                                                                                     \
        o0 = d0 + (T)1.5 * (d1 - d3) - (T)2 * d2 + d4;                                       \
        o1 = -d1 - (T)2.5 * d2 - (T)0.5 * d3 + d4;                                           \
        o2 = d1 + (T)0.5 * d2 - (T)2.5 * d3 + d4;                                            \
        o3 = (T)0.5 * (d3 - d1) - d2 + d4;                                                   \
        o4 = (T)2 * (d1 - d3) - d2 + d4;                                                     \
        o5 = d1 + (T)1.5 * (d2 - d4) - (T)2 * d3 + d5;                                       \
    } while (0)
/* A^T (4 x 6) of six products m0..m5: */
#define CYCONV_WINO_AT(T, m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                            \
    do {                                                                                     \
        o0 = m0 + m1 + m2 + m3 + m4;                                                         \
        o1 = m1 - m2 + (T)2 * m3 - (T)0.5 * m4;                                              \
        o2 = m1 + m2 + (T)4 * m3 + (T)0.25 * m4;                                             \
        o3 = m1 - m2 + (T)8 * m3 - (T)0.125 * m4 + m5;                                       \
    } while (0)

#define T double
/* A (6 x 4) of four grad_output values g0..g3 (the adjoint of A^T: the weight gradient) */
#define CYCONV_WINO_A(T, g0, g1, g2, g3, o0, o1, o2, o3, o4, o5)                             \
    do {                                                                                     \
        o0 = g0;                                                                             \
        o1 = g0 + g1 + g2 + g3;                                                              \
        o2 = g0 - g1 + g2 - g3;                                                              \
        o3 = g0 + (T)2 * g1 + (T)4 * g2 + (T)8 * g3;                                         \
        o4 = g0 - (T)0.5 * g1 + (T)0.25 * g2 - (T)0.125 * g3;                                \
        o5 = g3;                                                                             \
    } while (0)

static void cyconv_wino_matrices(double* bt, double* at)
{
    double e[6];
    for (int c = 0; c < 6; c++) { /* column c: the transform of the unit vector */
        T d[6] = {0, 0, 0, 0, 0, 0};
        d[c] = 1;
        CYCONV_WINO_BT(T, d[0], d[1], d[2], d[3], d[4], d[5], e[0], e[1], e[2], e[3], e[4], e[5]);
        for (int r = 0; r < 6; r++)
            bt[6 * r + c] = e[r];
        CYCONV_WINO_AT(T, d[0], d[1], d[2], d[3], d[4], d[5], e[0], e[1], e[2], e[3]);
        for (int r = 0; r < 4; r++)
            at[6 * r + c] = e[r];
    }
}
#undef T

#define CYCONV_DEFINE_WINOGRAD(T, S)                                                          \
/* The tiles of `nch` input channels (up to CYCONV_WINO_CHANNELS; x_channel apart) in `rows` \
 * tile rows (row0.. counted over the batch: image (row0 + r) / tiles_h, tile row            \
 * (row0 + r) % tiles_h): v[c * v_channel + e * v_stride + (r * tw + t) * v_tile] (v_tile  \
 * 1: a row of tiles; the staged weight gradient interleaves NP channels). The rows are     \
 * first split into the four phases of the width (4 t + j), so tile u's 6 x 6 inputs are    \
 * six contiguous rows at u and u + 1: the loop over tiles vectorises, each tile's B^T d B  \
 * in registers, a vector of tiles at a time (column tw of each row holds the next tile's  \
 * first two inputs, which the last tile reads). The input's rows are x_row apart, their    \
 * elements x_elem apart: NCHW (x_elem 1), or channels-last memory, where a block of        \
 * channels is read pixel by pixel, each pixel's channels in one go.                        \
 * scratch: cyconv_wino_input_scratch(rows, tw) elements. */                               \
CYCONV_CLONES CYCONV_WINO_INLINE_COPIES static void cyconv_wino_input_##S(                                             \
    const T* restrict x, ptrdiff_t x_image, ptrdiff_t x_row, ptrdiff_t x_elem,               \
    ptrdiff_t x_channel, ptrdiff_t nch, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, \
    ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t tiles_h, ptrdiff_t tw, T* restrict scratch,    \
    T* restrict v, ptrdiff_t v_stride, ptrdiff_t v_channel, ptrdiff_t v_tile)                \
{                                                                                            \
    typedef T V __attribute__((vector_size(CYCONV_WINO_VBYTES)));                            \
    enum { VL = CYCONV_WINO_VBYTES / sizeof(T) };                                            \
    const ptrdiff_t tw1 = tw + 1, L = rows * tw1, Lp = cyconv_wino_padded(L);                \
    T* out = scratch;         /* out[e][u], 36 rows of Lp */                                 \
    T* R = out + 36 * Lp;     /* R[c][k][j][u], nch x 6 x 4 rows of Lp */                    \
    const ptrdiff_t rc = 24 * Lp;                                                            \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const ptrdiff_t n = (row0 + r) / tiles_h, th = (row0 + r) % tiles_h;                 \
        for (int k = 0; k < 6; k++) {                                                        \
            const ptrdiff_t ih = 4 * th - ph + k;                                            \
            T* dst = R + k * 4 * Lp + r * tw1;                                               \
            if (ih < 0 || ih >= H) {                                                         \
                for (ptrdiff_t c = 0; c < nch; c++)                                          \
                    for (int j = 0; j < 4; j++)                                              \
                        for (ptrdiff_t t = 0; t < tw1; t++)                                  \
                            dst[c * rc + j * Lp + t] = 0;                                    \
                continue;                                                                    \
            }                                                                                \
            const T* src = x + n * x_image + ih * x_row;                                     \
            if (nch == 1 && x_elem == 1) { /* an NCHW plane: its row, contiguous */         \
                for (ptrdiff_t t = 0; t < tw1; t++)                                          \
                    for (int j = 0; j < 4; j++) {                                            \
                        const ptrdiff_t iw = 4 * t + j - pw;                                 \
                        dst[j * Lp + t] = (iw >= 0 && iw < W) ? src[iw] : (T)0;              \
                    }                                                                        \
                continue;                                                                    \
            }                                                                                \
            if (nch == 1) { /* a plane's row, its elements x_elem apart (a dilated phase) */ \
                for (ptrdiff_t t = 0; t < tw1; t++)                                          \
                    for (int j = 0; j < 4; j++) {                                            \
                        const ptrdiff_t iw = 4 * t + j - pw;                                 \
                        dst[j * Lp + t] = (iw >= 0 && iw < W) ? src[iw * x_elem] : (T)0;     \
                    }                                                                        \
                continue;                                                                    \
            }                                                                                \
            for (ptrdiff_t t = 0; t < tw1; t++)                                              \
                for (int j = 0; j < 4; j++) {                                                \
                    const ptrdiff_t iw = 4 * t + j - pw;                                     \
                    if (iw < 0 || iw >= W) {                                                 \
                        for (ptrdiff_t c = 0; c < nch; c++)                                  \
                            dst[c * rc + j * Lp + t] = 0;                                    \
                        continue;                                                            \
                    }                                                                        \
                    const T* pixel = src + iw * x_elem; /* its channels, x_channel apart */  \
                    for (ptrdiff_t c = 0; c < nch; c++)                                      \
                        dst[c * rc + j * Lp + t] = pixel[c * x_channel];                     \
                }                                                                            \
        }                                                                                    \
    }                                                                                        \
    for (ptrdiff_t c = 0; c < nch; c++) {                                                    \
        const T* Rc = R + c * rc;                                                            \
        /* whole vectors: the lanes past L - 1 read the rows' padding, write out's */       \
        for (ptrdiff_t u = 0; u + 1 < L; u += VL) {                                          \
            V z[6][6];                                                                       \
            for (int k = 0; k < 6; k++) {                                                    \
                const T* rk = Rc + k * 4 * Lp + u;                                           \
                V d0, d1, d2, d3, d4, d5;                                                    \
                __builtin_memcpy(&d0, rk, sizeof(V));                                        \
                __builtin_memcpy(&d1, rk + Lp, sizeof(V));                                   \
                __builtin_memcpy(&d2, rk + 2 * Lp, sizeof(V));                               \
                __builtin_memcpy(&d3, rk + 3 * Lp, sizeof(V));                               \
                __builtin_memcpy(&d4, rk + 1, sizeof(V));                                    \
                __builtin_memcpy(&d5, rk + Lp + 1, sizeof(V));                               \
                CYCONV_WINO_BT(T, d0, d1, d2, d3, d4, d5, z[k][0], z[k][1], z[k][2],         \
                               z[k][3], z[k][4], z[k][5]);                                   \
            }                                                                                \
            for (int nu = 0; nu < 6; nu++) {                                                 \
                V o[6];                                                                      \
                CYCONV_WINO_BT(T, z[0][nu], z[1][nu], z[2][nu], z[3][nu], z[4][nu],          \
                               z[5][nu], o[0], o[1], o[2], o[3], o[4], o[5]);                \
                for (int xi = 0; xi < 6; xi++)                                               \
                    __builtin_memcpy(out + (6 * xi + nu) * Lp + u, &o[xi], sizeof(V));       \
            }                                                                                \
        }                                                                                    \
        /* rows of a few tiles: a loop, not a memcpy call per row (unit stride apart: the  \
         * forward's copy stays a contiguous one) */                                         \
        T* vc = v + c * v_channel;                                                           \
        if (v_tile == 1)                                                                     \
            for (int e = 0; e < 36; e++)                                                     \
                for (ptrdiff_t r = 0; r < rows; r++)                                         \
                    for (ptrdiff_t t = 0; t < tw; t++)                                       \
                        vc[e * v_stride + r * tw + t] = out[e * Lp + r * tw1 + t];           \
        else                                                                                 \
            for (int e = 0; e < 36; e++)                                                     \
                for (ptrdiff_t r = 0; r < rows; r++)                                         \
                    for (ptrdiff_t t = 0; t < tw; t++)                                       \
                        vc[e * v_stride + (r * tw + t) * v_tile] =                           \
                            out[e * Lp + r * tw1 + t];                                       \
    }                                                                                        \
}                                                                                            \
/* The tiles of `nco` output channels (up to CYCONV_WINO_CHANNELS) back to their outputs:   \
 * channel c's products m[c * m_channel + e * m_stride + u] for u < rows * tw (same tile     \
 * order as the input), each tile's A^T m A + beta[c] (beta NULL: 0) in registers, a vector  \
 * of tiles at a time (m has room for whole vectors: its rows are a multiple of them), then \
 * written into y rows of OW (y_row apart, their elements y_elem apart, channels y_channel  \
 * apart: NCHW, or channels-last memory, where each pixel's block of channels is written    \
 * in one go), images y_image apart. scratch: cyconv_wino_output_scratch(rows, tw). */     \
CYCONV_CLONES static void cyconv_wino_output_##S(                                            \
    const T* restrict m, ptrdiff_t m_stride, ptrdiff_t m_channel, ptrdiff_t nco,             \
    const T* restrict beta, T* restrict scratch, T* restrict y, ptrdiff_t y_image,           \
    ptrdiff_t y_row, ptrdiff_t y_elem, ptrdiff_t y_channel, ptrdiff_t OH, ptrdiff_t OW,      \
    ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t tiles_h, ptrdiff_t tw)                         \
{                                                                                            \
    typedef T V __attribute__((vector_size(CYCONV_WINO_VBYTES)));                            \
    enum { VL = CYCONV_WINO_VBYTES / sizeof(T) };                                            \
    const ptrdiff_t L = rows * tw, Lp = cyconv_wino_padded(L);                               \
    const ptrdiff_t pc = 16 * Lp;                                                            \
    T* P = scratch;           /* P[c][i][j][u], nco x 4 x 4 rows of Lp */                    \
    for (ptrdiff_t c = 0; c < nco; c++) {                                                    \
        const T b = beta != NULL ? beta[c] : (T)0;                                           \
        const T* mc = m + c * m_channel;                                                     \
        for (ptrdiff_t u = 0; u < L; u += VL) {                                              \
            V s[6][4];                                                                       \
            for (int xi = 0; xi < 6; xi++) {                                                 \
                const T* mx = mc + 6 * xi * m_stride + u;                                    \
                V a[6];                                                                      \
                for (int nu = 0; nu < 6; nu++)                                               \
                    __builtin_memcpy(&a[nu], mx + nu * m_stride, sizeof(V));                 \
                CYCONV_WINO_AT(T, a[0], a[1], a[2], a[3], a[4], a[5], s[xi][0], s[xi][1],    \
                               s[xi][2], s[xi][3]);                                          \
            }                                                                                \
            for (int j = 0; j < 4; j++) {                                                    \
                V o[4];                                                                      \
                CYCONV_WINO_AT(T, s[0][j], s[1][j], s[2][j], s[3][j], s[4][j], s[5][j],      \
                               o[0], o[1], o[2], o[3]);                                      \
                for (int i = 0; i < 4; i++) {                                                \
                    o[i] += b;                                                               \
                    __builtin_memcpy(P + c * pc + (i * 4 + j) * Lp + u, &o[i], sizeof(V));   \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const ptrdiff_t n = (row0 + r) / tiles_h, th = (row0 + r) % tiles_h;                 \
        for (int i = 0; i < 4 && 4 * th + i < OH; i++) {                                     \
            T* dst = y + n * y_image + (4 * th + i) * y_row;                                 \
            const T* p = P + i * 4 * Lp + r * tw;                                            \
            const ptrdiff_t full = OW / 4;                                                   \
            if (nco == 1 && y_elem == 1) { /* an NCHW plane: its row, contiguous */         \
                for (ptrdiff_t t = 0; t < full; t++)                                         \
                    for (int j = 0; j < 4; j++)                                              \
                        dst[4 * t + j] = p[j * Lp + t];                                      \
                for (ptrdiff_t ow = 4 * full; ow < OW; ow++)                                 \
                    dst[ow] = p[(ow % 4) * Lp + ow / 4];                                     \
                continue;                                                                    \
            }                                                                                \
            if (nco == 1) { /* a plane's row, its elements y_elem apart (a dilated phase) */ \
                for (ptrdiff_t t = 0; t < full; t++)                                         \
                    for (int j = 0; j < 4; j++)                                              \
                        dst[(4 * t + j) * y_elem] = p[j * Lp + t];                           \
                for (ptrdiff_t ow = 4 * full; ow < OW; ow++)                                 \
                    dst[ow * y_elem] = p[(ow % 4) * Lp + ow / 4];                            \
                continue;                                                                    \
            }                                                                                \
            for (ptrdiff_t ow = 0; ow < OW; ow++) {                                          \
                const T* q = p + (ow % 4) * Lp + ow / 4;                                     \
                T* pixel = dst + ow * y_elem; /* its channels, y_channel apart */            \
                for (ptrdiff_t c = 0; c < nco; c++)                                          \
                    pixel[c * y_channel] = q[c * pc];                                        \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* The grad_output tiles of a panel of `nco` (<= ob) output channels (gy_channel apart) in   \
 * `rows` tile rows (row0.. over the batch), each 4x4 tile's A g A^T (6x6) with the panel's  \
 * channels on the vector lanes, written for the weight gradient's micro-kernel:             \
 * q[e * q_stride + u * ob + l] for tile u and lane l < ob (lanes past nco and outputs past  \
 * OH / OW are zero). A block of tiles is first transposed into scratch (P[i][j][t][l], read \
 * row by row from gy); each tile's 36 rows of ob lanes are then whole-vector stores, where  \
 * a transform per channel with the tiles on the lanes stored one lane at a time          \
 * (benchmarks/README.md, "Winograd grad-output transform by panels"). ob * sizeof(T) is a   \
 * multiple of 32 bytes and at most CYCONV_WINO_GRADOUT_BYTES / 16.                          \
 * scratch: cyconv_wino_gradout_scratch() elements. */                                     \
CYCONV_CLONES CYCONV_WINO_INLINE_COPIES static void cyconv_wino_gradout_##S(                 \
    const T* restrict gy, ptrdiff_t gy_image, ptrdiff_t gy_channel, ptrdiff_t nco,           \
    ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t tiles_h,           \
    ptrdiff_t tw, T* restrict scratch, T* restrict q, ptrdiff_t q_stride, ptrdiff_t ob)      \
{                                                                                            \
    typedef T V __attribute__((vector_size(32)));                                            \
    enum { VL = 32 / sizeof(T) };                                                            \
    const ptrdiff_t block = CYCONV_WINO_GRADOUT_BYTES / (16 * ob * (ptrdiff_t)sizeof(T));    \
    T* P = scratch;           /* P[((i * 4 + j) * block + t) * ob + l] */                    \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const ptrdiff_t n = (row0 + r) / tiles_h, th = (row0 + r) % tiles_h;                 \
        for (ptrdiff_t t0 = 0; t0 < tw; t0 += block) {                                       \
            const ptrdiff_t nt = tw - t0 < block ? tw - t0 : block;                          \
            for (ptrdiff_t l = 0; l < ob; l++)                                               \
                for (int i = 0; i < 4; i++) {                                                \
                    const ptrdiff_t oh = 4 * th + i;                                         \
                    T* dst = P + i * 4 * block * ob + l;                                     \
                    if (l >= nco || oh >= OH) {                                              \
                        for (ptrdiff_t t = 0; t < nt; t++)                                   \
                            for (int j = 0; j < 4; j++)                                      \
                                dst[(j * block + t) * ob] = 0;                               \
                        continue;                                                            \
                    }                                                                        \
                    const T* src = gy + l * gy_channel + n * gy_image + oh * OW;             \
                    for (ptrdiff_t t = 0; t < nt; t++)                                       \
                        for (int j = 0; j < 4; j++) {                                        \
                            const ptrdiff_t ow = 4 * (t0 + t) + j;                           \
                            dst[(j * block + t) * ob] = ow < OW ? src[ow] : (T)0;            \
                        }                                                                    \
                }                                                                            \
            for (ptrdiff_t t = 0; t < nt; t++) {                                             \
                T* dst = q + (r * tw + t0 + t) * ob;                                         \
                for (ptrdiff_t c = 0; c < ob; c += VL) {                                     \
                    V s[4][6];                                                               \
                    for (int i = 0; i < 4; i++) {                                            \
                        V g[4];                                                              \
                        for (int j = 0; j < 4; j++)                                          \
                            __builtin_memcpy(&g[j], P + ((i * 4 + j) * block + t) * ob + c,  \
                                             sizeof(V));                                     \
                        CYCONV_WINO_A(T, g[0], g[1], g[2], g[3], s[i][0], s[i][1], s[i][2],  \
                                      s[i][3], s[i][4], s[i][5]);                            \
                    }                                                                        \
                    for (int nu = 0; nu < 6; nu++) {                                         \
                        V o[6];                                                              \
                        CYCONV_WINO_A(T, s[0][nu], s[1][nu], s[2][nu], s[3][nu], o[0], o[1], \
                                      o[2], o[3], o[4], o[5]);                               \
                        for (int xi = 0; xi < 6; xi++)                                       \
                            __builtin_memcpy(dst + (6 * xi + nu) * q_stride + c, &o[xi],     \
                                             sizeof(V));                                     \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* dW = G^T dU G (3x3) of one 6x6 dU (row stride du_stride between its e = 6 xi + nu       \
 * elements), in double, rounded once. */                                                  \
CYCONV_CLONES static void cyconv_wino_weight_grad_##S(                                       \
    const T* restrict du, ptrdiff_t du_stride, const double* restrict g, T* restrict dw)     \
{                                                                                            \
    double t[3][6];                                                                          \
    for (int l = 0; l < 3; l++)                                                              \
        for (int nu = 0; nu < 6; nu++) {                                                     \
            double acc = 0;                                                                  \
            for (int xi = 0; xi < 6; xi++)                                                   \
                acc += g[3 * xi + l] * (double)du[(6 * xi + nu) * du_stride];                \
            t[l][nu] = acc;                                                                  \
        }                                                                                    \
    for (int l = 0; l < 3; l++)                                                              \
        for (int m = 0; m < 3; m++) {                                                        \
            double acc = 0;                                                                  \
            for (int nu = 0; nu < 6; nu++)                                                   \
                acc += t[l][nu] * g[3 * nu + m];                                             \
            dw[3 * l + m] = (T)acc;                                                          \
        }                                                                                    \
}                                                                                            \
/* dW_l = G^T dU_l G (3x3) for lanes l < lanes (output channels) and input channels      \
 * 0..count-1: channel c's dU_l element e at du[e * e_stride + c * ci_stride + l], its dW_l  \
 * at dw[l * lane_stride + 9 * c]; in double, rounded once, the same sums in the same order \
 * as cyconv_wino_weight_grad_##S, 4 lanes at a time (4 doubles: one AVX2 register; wider  \
 * vectors went through the stack), each channel's whole run of du read once. */           \
CYCONV_CLONES static void cyconv_wino_weight_grad_panel_##S(                                 \
    ptrdiff_t lanes, ptrdiff_t count, const T* restrict du, ptrdiff_t e_stride,              \
    ptrdiff_t ci_stride, const double* restrict g, T* restrict dw, ptrdiff_t lane_stride)    \
{                                                                                            \
    typedef T TV __attribute__((vector_size(4 * sizeof(T))));                                \
    typedef double DV __attribute__((vector_size(4 * sizeof(double))));                      \
    for (ptrdiff_t c = 0; c < count; c++) {                                                  \
        const T* src = du + c * ci_stride;                                                   \
        ptrdiff_t h = 0;                                                                     \
        for (; h + 4 <= lanes; h += 4) {                                                     \
            DV d[36], t[3][6];                                                               \
            for (int e = 0; e < 36; e++) {                                                   \
                TV v;                                                                        \
                __builtin_memcpy(&v, src + e * e_stride + h, sizeof v);                      \
                d[e] = __builtin_convertvector(v, DV);                                       \
            }                                                                                \
            for (int l3 = 0; l3 < 3; l3++)                                                   \
                for (int nu = 0; nu < 6; nu++) {                                             \
                    DV acc = {0};                                                            \
                    for (int xi = 0; xi < 6; xi++)                                           \
                        acc += g[3 * xi + l3] * d[6 * xi + nu];                              \
                    t[l3][nu] = acc;                                                         \
                }                                                                            \
            for (int l3 = 0; l3 < 3; l3++)                                                   \
                for (int m = 0; m < 3; m++) {                                                \
                    DV acc = {0};                                                            \
                    for (int nu = 0; nu < 6; nu++)                                           \
                        acc += t[l3][nu] * g[3 * nu + m];                                    \
                    const TV r = __builtin_convertvector(acc, TV);                           \
                    for (int l = 0; l < 4; l++)                                              \
                        dw[(h + l) * lane_stride + 9 * c + 3 * l3 + m] = r[l];               \
                }                                                                            \
        }                                                                                    \
        for (; h < lanes; h++) /* a partial panel's last lanes */                           \
            cyconv_wino_weight_grad_##S(src + h, e_stride, g, dw + h * lane_stride + 9 * c); \
    }                                                                                        \
}                                                                                            \
/* out[e * e_stride + l] = (G w_l G^T)[e] for the panel's lanes l < lanes and 0 for       \
 * lanes <= l < width (the panel's padding); w_l's tap (r, c) at w[l*lane_stride +          \
 * r*row_stride + c*col_stride] (any strides: a swapped, flipped kernel is read in place).  \
 * It stores CYCONV_WINO_LANES values per e (past width: scratch the caller overwrites or   \
 * leaves) - inlined into the panel loop, whose buffer rows have that slack. */             \
static inline __attribute__((always_inline)) void cyconv_wino_weights_##S(                  \
    ptrdiff_t lanes, ptrdiff_t width, const T* restrict w, ptrdiff_t lane_stride,            \
    ptrdiff_t row_stride, ptrdiff_t col_stride, const double* restrict g,                    \
    T* restrict out, ptrdiff_t e_stride)                                                     \
{                                                                                            \
    /* 4-double vectors (one AVX2 register), each built from its lanes' taps in registers: \
     * taps stored one by one into an array and read back as vectors stalled on store      \
     * forwarding (benchmarks/README.md, "the weight transform's taps in registers") */     \
    typedef T TV __attribute__((vector_size(4 * sizeof(T))));                                \
    typedef double DV __attribute__((vector_size(4 * sizeof(double))));                      \
    enum { H = CYCONV_WINO_LANES / 4 };                                                      \
    DV k[9][H], t[6][3][H];                                                                  \
    for (int q = 0; q < 9; q++) {                                                            \
        const T* p = w + (q / 3) * row_stride + (q % 3) * col_stride;                        \
        for (int h = 0; h < H; h++) {                                                        \
            const ptrdiff_t l = 4 * h;                                                       \
            const TV v = {l < lanes ? p[l * lane_stride] : (T)0,                             \
                          l + 1 < lanes ? p[(l + 1) * lane_stride] : (T)0,                   \
                          l + 2 < lanes ? p[(l + 2) * lane_stride] : (T)0,                   \
                          l + 3 < lanes ? p[(l + 3) * lane_stride] : (T)0};                  \
            k[q][h] = __builtin_convertvector(v, DV);                                        \
        }                                                                                    \
    }                                                                                        \
    for (int i = 0; i < 6; i++)                                                              \
        for (int c = 0; c < 3; c++)                                                          \
            for (int h = 0; h < H; h++)                                                      \
                t[i][c][h] = g[3 * i] * k[c][h] + g[3 * i + 1] * k[3 + c][h]                 \
                             + g[3 * i + 2] * k[6 + c][h];                                   \
    for (int i = 0; i < 6; i++)                                                              \
        for (int j = 0; j < 6; j++) {                                                        \
            T* o = out + (6 * i + j) * e_stride;                                             \
            for (int h = 0; h < H; h++) { /* k is 0 past lanes */                            \
                const TV v = __builtin_convertvector(t[i][0][h] * g[3 * j]                   \
                                                     + t[i][1][h] * g[3 * j + 1]             \
                                                     + t[i][2][h] * g[3 * j + 2], TV);       \
                memcpy(o + 4 * h, &v, sizeof v); /* all the lanes: the rows have the slack */ \
            }                                                                                \
        }                                                                                    \
}                                                                                            \
/* The panel's transforms for input channels 0..count-1 (channel c's taps at               \
 * w + c*ci_stride), out[e * e_stride + c * width + l]: computed CYCONV_WINO_WBLOCK          \
 * channels at a time into a buffer and copied out a row of e at a time, so the 36 rows     \
 * of e (e_stride apart) take whole runs, not 36 scattered stores per channel. */           \
CYCONV_CLONES static void cyconv_wino_weight_panel_##S(                                      \
    ptrdiff_t lanes, ptrdiff_t width, ptrdiff_t count, const T* restrict w,                  \
    ptrdiff_t ci_stride, ptrdiff_t lane_stride, ptrdiff_t row_stride, ptrdiff_t col_stride,  \
    const double* restrict g, T* restrict out, ptrdiff_t e_stride)                           \
{                                                                                            \
    T buf[36 * (CYCONV_WINO_WBLOCK + 1) * CYCONV_WINO_LANES];                                \
    /* a row of e: the block's channels, width apart, + the last one's spare lanes */        \
    const ptrdiff_t run = CYCONV_WINO_WBLOCK * width + CYCONV_WINO_LANES;                    \
    for (ptrdiff_t c0 = 0; c0 < count; c0 += CYCONV_WINO_WBLOCK) {                           \
        const ptrdiff_t n = count - c0 < CYCONV_WINO_WBLOCK ? count - c0 : CYCONV_WINO_WBLOCK; \
        for (ptrdiff_t c = 0; c < n; c++) /* in order: a channel's spare lanes, the next's */ \
            cyconv_wino_weights_##S(lanes, width, w + (c0 + c) * ci_stride, lane_stride,     \
                                    row_stride, col_stride, g, buf + c * width, run);        \
        for (int e = 0; e < 36; e++)                                                         \
            memcpy(out + e * e_stride + c0 * width, buf + e * run,                           \
                   (size_t)(n * width) * sizeof(T));                                         \
    }                                                                                        \
}

CYCONV_DEFINE_WINOGRAD(float, f32)
CYCONV_DEFINE_WINOGRAD(double, f64)

#undef CYCONV_DEFINE_WINOGRAD

#endif
