/* Pointwise parts of the recurrent kernels (_recurrent.pyx): the gate nonlinearities and the
 * cell update of one forward tile, and the gate gradients of one backward tile.
 *
 * Built as AVX-512, AVX2 and baseline clones (target_clones, resolved by the dynamic loader,
 * as _rowops.h) with GCC on x86-64 Linux; plain C elsewhere. float32 activations run 16
 * lanes at a time on a polynomial exp (Cephes' expf: range reduction by ln 2 in two parts,
 * degree-5 polynomial, about 1 ulp) and a tanh that switches to its odd Taylor series below
 * |x| = 0.4, where (1 - e)/(1 + e) with e = exp(-2|x|) would cancel; float64 calls libm's exp
 * and tanh. Every element's result depends on its own inputs only, so the tiles' partition
 * over threads cannot change a bit.
 *
 * Packed gate columns: the G gates of hidden unit u sit at column
 *   (u / hb) * nr + g * hb + u % hb        (hb = nr / G units per block of nr columns)
 * so one register tile of the GEMM micro-kernel (nr columns) holds every gate of hb units.
 */
#ifndef CYCONV_RECURRENT_H
#define CYCONV_RECURRENT_H
#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
#define CYR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CYR_CLONES
#endif
#define CYR_INLINE static inline __attribute__((always_inline))

enum { CYR_RNN_TANH = 0, CYR_RNN_RELU = 1, CYR_LSTM = 2, CYR_GRU = 3 };
enum { CYR_SIGMOID = 0, CYR_TANH = 1, CYR_RELU = 2 };
#define CYR_LANES 16

typedef float cyr_vf __attribute__((vector_size(64)));
typedef int cyr_vi __attribute__((vector_size(64)));

CYR_INLINE cyr_vf cyr_sel(cyr_vi m, cyr_vf a, cyr_vf b)
{
    return (cyr_vf)(((cyr_vi)a & m) | ((cyr_vi)b & ~m));
}

CYR_INLINE cyr_vf cyr_expf(cyr_vf x)
{
    const cyr_vf zero = {0};
    x = cyr_sel(x < -87.0f, zero - 87.0f, x);
    x = cyr_sel(x > 88.0f, zero + 88.0f, x);
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (vectorizes, no rounding-mode calls) */
    cyr_vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    cyr_vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    cyr_vf p = zero + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    cyr_vf y = p * (r * r) + r + 1.0f;
    cyr_vi bits = (__builtin_convertvector(n, cyr_vi) + 127) << 23;
    return y * (cyr_vf)bits;
}

CYR_INLINE cyr_vf cyr_sigmoidf(cyr_vf x)
{
    return 1.0f / (1.0f + cyr_expf(-x));
}

CYR_INLINE cyr_vf cyr_tanhf(cyr_vf x)
{
    const cyr_vi sign = (cyr_vi){0} + (int)0x80000000;
    cyr_vf a = (cyr_vf)((cyr_vi)x & ~sign);
    cyr_vf e = cyr_expf(-2.0f * a);
    cyr_vf big = (1.0f - e) / (1.0f + e);
    big = (cyr_vf)((cyr_vi)big | ((cyr_vi)x & sign));
    cyr_vf t = x * x;
    cyr_vf p = (cyr_vf){0} + 0.00359212803f;
    p = p * t - 0.00886323552f;
    p = p * t + 0.0218694885f;
    p = p * t - 0.0539682540f;
    p = p * t + 0.133333333f;
    p = p * t - 0.333333333f;
    cyr_vf small = x + x * t * p;
    return cyr_sel(a < 0.4f, small, big);
}

CYR_INLINE cyr_vf cyr_actv(int kind, cyr_vf v)
{
    if (kind == CYR_SIGMOID)
        return cyr_sigmoidf(v);
    if (kind == CYR_TANH)
        return cyr_tanhf(v);
    return cyr_sel(v > 0.0f, v, (cyr_vf){0});
}

/* x[0:n] = act(x[0:n]) in place, float32, 16 lanes (the tail through a zero-padded vector) */
CYR_INLINE void cyr_act_f32(int kind, ptrdiff_t n, float* x)
{
    ptrdiff_t i = 0;
    for (; i + CYR_LANES <= n; i += CYR_LANES) {
        cyr_vf v;
        memcpy(&v, x + i, sizeof v);
        v = cyr_actv(kind, v);
        memcpy(x + i, &v, sizeof v);
    }
    if (i < n) {
        cyr_vf v = {0};
        memcpy(&v, x + i, (size_t)(n - i) * sizeof(float));
        v = cyr_actv(kind, v);
        memcpy(x + i, &v, (size_t)(n - i) * sizeof(float));
    }
}

CYR_INLINE void cyr_act_f64(int kind, ptrdiff_t n, double* x)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        if (kind == CYR_SIGMOID)
            x[i] = 1.0 / (1.0 + exp(-x[i]));
        else if (kind == CYR_TANH)
            x[i] = tanh(x[i]);
        else
            x[i] = x[i] > 0.0 ? x[i] : 0.0;
    }
}

/* Forward of one tile: `rows` batch rows (row i of a tile/array at + i * its ld) x the hb
 * hidden units of one column block, `units` of them real (the last block may be short).
 *   pre   rows x (G*hb): the hidden pre-activations h_{t-1} W_hh^T + b_hh (overwritten)
 *   xp    the same columns of the input projection x_t W_ih^T + b_ih
 *   len   each row's sequence length; row i is valid at step t when t < len[i]
 *   hprev, cprev -> hnext, cnext; acts: the gate activations (saved for the backward);
 *   aux: tanh(c_t) (LSTM) or W_hn h + b_hn (GRU); y: the output (zero on masked rows);
 *   hpack: the next step's GEMM panel of h, hpack[u * mr + i].
 * The pointers to per-unit arrays (hprev ... y, hpack) point at the block's first unit. */
#define CYR_DEFINE_FORWARD(T, SUF)                                                             \
CYR_CLONES static void cyconv_rnn_fwd_tile_##SUF(                                               \
    int mode, ptrdiff_t rows, ptrdiff_t units, ptrdiff_t hb, T* restrict pre, ptrdiff_t ldp,   \
    const T* restrict xp, ptrdiff_t ldx, const ptrdiff_t* restrict len, ptrdiff_t t,           \
    const T* restrict hprev, const T* restrict cprev, T* restrict hnext, T* restrict cnext,    \
    ptrdiff_t ldh, T* restrict acts, ptrdiff_t lda, T* restrict aux, T* restrict y,           \
    ptrdiff_t ldy, T* restrict hpack, ptrdiff_t mr)                                            \
{                                                                                              \
    const int G = mode == CYR_LSTM ? 4 : mode == CYR_GRU ? 3 : 1;                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        T* p = pre + i * ldp;                                                                  \
        const T* xr = xp + i * ldx;                                                            \
        const T* hp = hprev + i * ldh;                                                         \
        T* hn = hnext + i * ldh;                                                               \
        T* yr = y + i * ldy;                                                                   \
        if (t >= len[i]) {                                                                     \
            for (ptrdiff_t j = 0; j < units; j++) {                                            \
                hn[j] = hp[j];                                                                 \
                yr[j] = 0;                                                                     \
                hpack[j * mr + i] = hp[j];                                                     \
            }                                                                                  \
            if (mode == CYR_LSTM)                                                              \
                memcpy(cnext + i * ldh, cprev + i * ldh, (size_t)units * sizeof(T));           \
            continue;                                                                          \
        }                                                                                      \
        if (mode == CYR_GRU) {                                                                 \
            T* ax = aux + i * ldh;                                                             \
            for (ptrdiff_t c = 0; c < 2 * hb; c++)                                             \
                p[c] += xr[c];                                                                 \
            cyr_act_##SUF(CYR_SIGMOID, 2 * hb, p);                                             \
            for (ptrdiff_t j = 0; j < hb; j++) {                                               \
                T hidden_n = p[2 * hb + j];                                                    \
                if (j < units)                                                                 \
                    ax[j] = hidden_n;                                                          \
                p[2 * hb + j] = xr[2 * hb + j] + p[j] * hidden_n;                              \
            }                                                                                  \
            cyr_act_##SUF(CYR_TANH, hb, p + 2 * hb);                                           \
            for (ptrdiff_t j = 0; j < units; j++) {                                            \
                T z = p[hb + j], n = p[2 * hb + j];                                            \
                hn[j] = (1 - z) * n + z * hp[j];                                               \
            }                                                                                  \
        } else if (mode == CYR_LSTM) {                                                         \
            const T* cp = cprev + i * ldh;                                                     \
            T* cn = cnext + i * ldh;                                                           \
            T* ax = aux + i * ldh;                                                             \
            for (ptrdiff_t c = 0; c < 4 * hb; c++)                                             \
                p[c] += xr[c];                                                                 \
            cyr_act_##SUF(CYR_SIGMOID, 2 * hb, p);                                             \
            cyr_act_##SUF(CYR_TANH, hb, p + 2 * hb);                                           \
            cyr_act_##SUF(CYR_SIGMOID, hb, p + 3 * hb);                                        \
            for (ptrdiff_t j = 0; j < units; j++) {                                            \
                T c = p[hb + j] * cp[j] + p[j] * p[2 * hb + j];                                \
                cn[j] = c;                                                                     \
                ax[j] = c;                                                                     \
            }                                                                                  \
            cyr_act_##SUF(CYR_TANH, units, ax);                                                \
            for (ptrdiff_t j = 0; j < units; j++)                                              \
                hn[j] = p[3 * hb + j] * ax[j];                                                 \
        } else {                                                                               \
            for (ptrdiff_t c = 0; c < hb; c++)                                                 \
                p[c] += xr[c];                                                                 \
            cyr_act_##SUF(mode == CYR_RNN_TANH ? CYR_TANH : CYR_RELU, hb, p);                  \
            for (ptrdiff_t j = 0; j < units; j++)                                              \
                hn[j] = p[j];                                                                  \
        }                                                                                      \
        memcpy(acts + i * lda, p, (size_t)(G * hb) * sizeof(T));                               \
        for (ptrdiff_t j = 0; j < units; j++) {                                                \
            yr[j] = hn[j];                                                                     \
            hpack[j * mr + i] = hn[j];                                                         \
        }                                                                                      \
    }                                                                                          \
}

/* Backward of one tile: `rows` batch rows x `units` hidden units from unit u0 on.
 *   dhh   rows x units: dG_h(next step) W_hh for these units (the recurrent gradient)
 *   dy    the output gradient; carry: gradient reaching h directly (the final state's,
 *         a masked step's pass-through, GRU's z * dh); dc: the cell gradient (LSTM)
 *   acts, aux, hprev, cprev: the forward's saved values of this step
 *   dgx, dgh: the gate gradients with respect to the input and hidden pre-activations
 *         (packed columns; dgh may be NULL when they are the same, LSTM and RNN)
 *   dpack: the next GEMM's panel of dgh, dpack[column * mr + i].
 * Per-unit arrays (dy, carry, dc, aux, hprev, cprev) point at unit u0; the gate arrays
 * (acts, dgx, dgh, dpack) at column 0. */
#define CYR_DEFINE_BACKWARD(T, SUF)                                                            \
CYR_CLONES static void cyconv_rnn_bwd_tile_##SUF(                                               \
    int mode, ptrdiff_t rows, ptrdiff_t u0, ptrdiff_t units, ptrdiff_t hb, ptrdiff_t nr,       \
    const T* restrict dhh, ptrdiff_t ldt, const ptrdiff_t* restrict len, ptrdiff_t t,          \
    const T* restrict dy, ptrdiff_t ldy, T* restrict carry, T* restrict dc, ptrdiff_t ldh,     \
    const T* restrict acts, ptrdiff_t lda, const T* restrict aux, const T* restrict hprev,     \
    const T* restrict cprev, T* restrict dgx, T* restrict dgh, ptrdiff_t ldg,                  \
    T* restrict dpack, ptrdiff_t mr)                                                           \
{                                                                                              \
    const int G = mode == CYR_LSTM ? 4 : mode == CYR_GRU ? 3 : 1;                              \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        const T* tr = dhh + i * ldt;                                                           \
        T* cr = carry + i * ldh;                                                               \
        const T* ar = acts + i * lda;                                                          \
        T* gx = dgx + i * ldg;                                                                 \
        T* gh = dgh ? dgh + i * ldg : NULL;                                                    \
        const int valid = t < len[i];                                                          \
        for (ptrdiff_t j = 0; j < units; j++) {                                                \
            const ptrdiff_t u = u0 + j;                                                        \
            const ptrdiff_t col = (u / hb) * nr + u % hb;                                      \
            if (!valid) {                                                                      \
                cr[j] += tr[j];                                                                \
                for (int g = 0; g < G; g++) {                                                  \
                    gx[col + g * hb] = 0;                                                      \
                    if (gh)                                                                    \
                        gh[col + g * hb] = 0;                                                  \
                    dpack[(col + g * hb) * mr + i] = 0;                                        \
                }                                                                              \
                continue;                                                                      \
            }                                                                                  \
            const T total = dy[i * ldy + j] + tr[j] + cr[j];                                   \
            if (mode == CYR_LSTM) {                                                            \
                const T ig = ar[col], fg = ar[col + hb], gg = ar[col + 2 * hb];                \
                const T og = ar[col + 3 * hb], tc = aux[i * ldh + j];                          \
                const T dct = dc[i * ldh + j] + total * og * (1 - tc * tc);                    \
                const T d0 = dct * gg * ig * (1 - ig);                                         \
                const T d1 = dct * cprev[i * ldh + j] * fg * (1 - fg);                         \
                const T d2 = dct * ig * (1 - gg * gg);                                         \
                const T d3 = total * tc * og * (1 - og);                                       \
                dc[i * ldh + j] = dct * fg;                                                    \
                cr[j] = 0;                                                                     \
                gx[col] = d0; gx[col + hb] = d1; gx[col + 2 * hb] = d2; gx[col + 3 * hb] = d3; \
                dpack[col * mr + i] = d0;                                                      \
                dpack[(col + hb) * mr + i] = d1;                                               \
                dpack[(col + 2 * hb) * mr + i] = d2;                                           \
                dpack[(col + 3 * hb) * mr + i] = d3;                                           \
            } else if (mode == CYR_GRU) {                                                      \
                const T r = ar[col], z = ar[col + hb], n = ar[col + 2 * hb];                   \
                const T dn = total * (1 - z) * (1 - n * n);                                    \
                const T dz = total * (hprev[i * ldh + j] - n) * z * (1 - z);                   \
                const T dr = dn * aux[i * ldh + j] * r * (1 - r);                              \
                cr[j] = total * z;                                                             \
                gx[col] = dr; gx[col + hb] = dz; gx[col + 2 * hb] = dn;                        \
                gh[col] = dr; gh[col + hb] = dz; gh[col + 2 * hb] = dn * r;                    \
                dpack[col * mr + i] = dr;                                                      \
                dpack[(col + hb) * mr + i] = dz;                                               \
                dpack[(col + 2 * hb) * mr + i] = dn * r;                                       \
            } else {                                                                           \
                const T h = ar[col];                                                           \
                const T d = mode == CYR_RNN_TANH ? total * (1 - h * h)                         \
                                                 : (h > 0 ? total : (T)0);                     \
                cr[j] = 0;                                                                     \
                gx[col] = d;                                                                   \
                dpack[col * mr + i] = d;                                                       \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
}

CYR_DEFINE_FORWARD(float, f32)
CYR_DEFINE_FORWARD(double, f64)
CYR_DEFINE_BACKWARD(float, f32)
CYR_DEFINE_BACKWARD(double, f64)
#endif
