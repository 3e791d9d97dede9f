/* The transforms of the Winograd F(4x4, 3x3) convolution (_winograd.pyx), built as
 * AVX-512, AVX2 and baseline clones like the row primitives: the kernel module itself is
 * compiled for baseline x86-64, where these loops ran 4 floats (2 doubles) wide.
 *
 *   input:    V = B^T d B of one input channel's tiles in a block of tile rows
 *   output:   y = A^T M A + beta of one output channel's tiles in the block
 *   weights:  out[e * e_stride + lane] = (G w_lane G^T)[e]    (one panel's lanes, in double)
 */
#ifndef CYCONV_WINOGRAD_H
#define CYCONV_WINOGRAD_H

#include <stddef.h>

#include "_rowops.h" /* CYCONV_CLONES */

#define CYCONV_WINO_LANES 8 /* the most output channels in a micro-kernel panel */

#define CYCONV_DEFINE_WINOGRAD(T, S)                                                          \
/* One input channel's tiles of `rows` tile rows (row0.. counted over the batch: image      \
 * (row0 + r) / tiles_h, tile row (row0 + r) % tiles_h): v[e * v_stride + r * tw + t].       \
 * The rows are first split into the four phases of the width (4 t + j), so every          \
 * transform below runs over rows * (tw + 1) contiguous elements (column tw + 1 of each     \
 * row holds the next tile's first two inputs, which the last tile reads).                 \
 * scratch: 49 * rows * (tw + 1) elements. */                                               \
CYCONV_CLONES static void cyconv_wino_input_##S(                                             \
    const T* restrict x, ptrdiff_t x_image, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph,          \
    ptrdiff_t pw, ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t tiles_h, ptrdiff_t tw,           \
    const T* restrict bt, T* restrict scratch, T* restrict v, ptrdiff_t v_stride)            \
{                                                                                            \
    const ptrdiff_t tw1 = tw + 1, L = rows * tw1;                                            \
    T* R = scratch;           /* R[k][j][u], 6 x 4 x L */                                    \
    T* Z = R + 24 * L;        /* Z[xi][j][u] */                                              \
    T* tmp = Z + 24 * L;      /* L */                                                        \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const ptrdiff_t n = (row0 + r) / tiles_h, th = (row0 + r) % tiles_h;                 \
        for (int k = 0; k < 6; k++) {                                                        \
            const ptrdiff_t ih = 4 * th - ph + k;                                            \
            T* dst = R + k * 4 * L + r * tw1;                                                \
            if (ih < 0 || ih >= H) {                                                         \
                for (int j = 0; j < 4; j++)                                                  \
                    for (ptrdiff_t t = 0; t < tw1; t++)                                      \
                        dst[j * L + t] = 0;                                                  \
                continue;                                                                    \
            }                                                                                \
            const T* src = x + n * x_image + ih * W;                                         \
            for (ptrdiff_t t = 0; t < tw1; t++)                                              \
                for (int j = 0; j < 4; j++) {                                                \
                    const ptrdiff_t iw = 4 * t + j - pw;                                     \
                    dst[j * L + t] = (iw >= 0 && iw < W) ? src[iw] : (T)0;                   \
                }                                                                            \
        }                                                                                    \
    }                                                                                        \
    for (int xi = 0; xi < 6; xi++) {                                                         \
        const T c0 = bt[6 * xi], c1 = bt[6 * xi + 1], c2 = bt[6 * xi + 2],                  \
                c3 = bt[6 * xi + 3], c4 = bt[6 * xi + 4], c5 = bt[6 * xi + 5];               \
        for (int j = 0; j < 4; j++) {                                                        \
            const T* r0 = R + j * L;                                                         \
            T* o = Z + (xi * 4 + j) * L;                                                     \
            for (ptrdiff_t u = 0; u < L; u++)                                                \
                o[u] = c0 * r0[u] + c1 * r0[4 * L + u] + c2 * r0[8 * L + u]                  \
                       + c3 * r0[12 * L + u] + c4 * r0[16 * L + u] + c5 * r0[20 * L + u];    \
        }                                                                                    \
    }                                                                                        \
    for (int xi = 0; xi < 6; xi++) {                                                         \
        const T* z = Z + xi * 4 * L;                                                         \
        for (int nu = 0; nu < 6; nu++) {                                                     \
            const T c0 = bt[6 * nu], c1 = bt[6 * nu + 1], c2 = bt[6 * nu + 2],              \
                    c3 = bt[6 * nu + 3], c4 = bt[6 * nu + 4], c5 = bt[6 * nu + 5];           \
            for (ptrdiff_t u = 0; u + 1 < L; u++)                                            \
                tmp[u] = c0 * z[u] + c1 * z[L + u] + c2 * z[2 * L + u] + c3 * z[3 * L + u]   \
                         + c4 * z[u + 1] + c5 * z[L + u + 1];                                \
            T* o = v + (6 * xi + nu) * v_stride;                                             \
            for (ptrdiff_t r = 0; r < rows; r++)                                             \
                for (ptrdiff_t t = 0; t < tw; t++)                                           \
                    o[r * tw + t] = tmp[r * tw1 + t];                                        \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* One output channel's tiles back to its outputs: m[e * m_stride + u] for u < rows * tw   \
 * (same tile order as the input), y rows of OW, images y_image apart; + beta.              \
 * scratch: 40 * rows * tw elements. */                                                     \
CYCONV_CLONES static void cyconv_wino_output_##S(                                            \
    const T* restrict m, ptrdiff_t m_stride, const T* restrict at, T beta,                   \
    T* restrict scratch, T* restrict y, ptrdiff_t y_image, ptrdiff_t OH, ptrdiff_t OW,       \
    ptrdiff_t row0, ptrdiff_t rows, ptrdiff_t tiles_h, ptrdiff_t tw)                         \
{                                                                                            \
    const ptrdiff_t L = rows * tw;                                                           \
    T* Sx = scratch;          /* S[xi][j][u], 6 x 4 x L */                                   \
    T* P = Sx + 24 * L;       /* P[i][j][u], 4 x 4 x L */                                    \
    for (int xi = 0; xi < 6; xi++) {                                                         \
        const T* m0 = m + 6 * xi * m_stride;                                                 \
        for (int j = 0; j < 4; j++) {                                                        \
            const T c0 = at[6 * j], c1 = at[6 * j + 1], c2 = at[6 * j + 2],                  \
                    c3 = at[6 * j + 3], c4 = at[6 * j + 4], c5 = at[6 * j + 5];              \
            T* o = Sx + (xi * 4 + j) * L;                                                    \
            for (ptrdiff_t u = 0; u < L; u++)                                                \
                o[u] = c0 * m0[u] + c1 * m0[m_stride + u] + c2 * m0[2 * m_stride + u]        \
                       + c3 * m0[3 * m_stride + u] + c4 * m0[4 * m_stride + u]               \
                       + c5 * m0[5 * m_stride + u];                                          \
        }                                                                                    \
    }                                                                                        \
    for (int i = 0; i < 4; i++) {                                                            \
        const T c0 = at[6 * i], c1 = at[6 * i + 1], c2 = at[6 * i + 2],                      \
                c3 = at[6 * i + 3], c4 = at[6 * i + 4], c5 = at[6 * i + 5];                  \
        for (int j = 0; j < 4; j++) {                                                        \
            const T* s0 = Sx + j * L;                                                        \
            T* o = P + (i * 4 + j) * L;                                                      \
            for (ptrdiff_t u = 0; u < L; u++)                                                \
                o[u] = beta + c0 * s0[u] + c1 * s0[4 * L + u] + c2 * s0[8 * L + u]           \
                       + c3 * s0[12 * L + u] + c4 * s0[16 * L + u] + c5 * s0[20 * L + u];    \
        }                                                                                    \
    }                                                                                        \
    for (ptrdiff_t r = 0; r < rows; r++) {                                                   \
        const ptrdiff_t n = (row0 + r) / tiles_h, th = (row0 + r) % tiles_h;                 \
        for (int i = 0; i < 4 && 4 * th + i < OH; i++) {                                     \
            T* dst = y + n * y_image + (4 * th + i) * OW;                                    \
            const T* p = P + i * 4 * L + r * tw;                                             \
            const ptrdiff_t full = OW / 4;                                                   \
            for (ptrdiff_t t = 0; t < full; t++)                                             \
                for (int j = 0; j < 4; j++)                                                  \
                    dst[4 * t + j] = p[j * L + t];                                           \
            for (ptrdiff_t ow = 4 * full; ow < OW; ow++)                                     \
                dst[ow] = p[(ow % 4) * L + ow / 4];                                          \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
CYCONV_CLONES static void cyconv_wino_weights_##S(                                           \
    ptrdiff_t lanes, const T* restrict w, ptrdiff_t w_stride, const double* restrict g,      \
    T* restrict out, ptrdiff_t e_stride)                                                     \
{                                                                                            \
    double k[9][CYCONV_WINO_LANES], t[6][3][CYCONV_WINO_LANES];                              \
    for (int q = 0; q < 9; q++)                                                              \
        for (ptrdiff_t l = 0; l < CYCONV_WINO_LANES; l++)                                    \
            k[q][l] = l < lanes ? (double)w[l * w_stride + q] : 0.0;                         \
    for (int i = 0; i < 6; i++)                                                              \
        for (int c = 0; c < 3; c++)                                                          \
            for (ptrdiff_t l = 0; l < CYCONV_WINO_LANES; l++)                                \
                t[i][c][l] = g[3 * i] * k[c][l] + g[3 * i + 1] * k[3 + c][l]                 \
                             + g[3 * i + 2] * k[6 + c][l];                                   \
    for (int i = 0; i < 6; i++)                                                              \
        for (int j = 0; j < 6; j++) {                                                        \
            T* o = out + (6 * i + j) * e_stride;                                             \
            for (ptrdiff_t l = 0; l < lanes; l++)                                            \
                o[l] = (T)(t[i][0][l] * g[3 * j] + t[i][1][l] * g[3 * j + 1]                 \
                           + t[i][2][l] * g[3 * j + 2]);                                     \
        }                                                                                    \
}

CYCONV_DEFINE_WINOGRAD(float, f32)
CYCONV_DEFINE_WINOGRAD(double, f64)

#undef CYCONV_DEFINE_WINOGRAD

#endif
