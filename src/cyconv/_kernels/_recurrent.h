/* Pointwise parts of the recurrent kernels (_recurrent.pyx): the gate nonlinearities and the
 * cell update of one forward tile, and the gate gradients of one backward tile.
 *
 * Built as AVX-512, AVX2 and baseline clones (target_clones, resolved by the dynamic loader,
 * as _rowops.h) with GCC on x86-64 Linux; plain C elsewhere. float32 activations run 16
 * lanes at a time on a polynomial exp (Cephes' expf: range reduction by ln 2 in two parts,
 * degree-5 polynomial, about 1 ulp): sigmoid 1 / (1 + exp(-x)), tanh 2 sigmoid(2x) - 1 but
 * its odd Taylor series below |x| = 0.4, where the difference would cancel (a few ulp in
 * all); float64 calls libm's exp and tanh. Every element's result depends on its own inputs only, so the tiles' partition
 * over threads cannot change a bit.
 *
 * Packed gate columns: the G gates of hidden unit u sit at column
 *   (u / hb) * G*hb + g * hb + u % hb      (blocks of hb units, G*hb a multiple of nr)
 * so the register tiles of the GEMM micro-kernel (nr columns) of one block hold every gate
 * of its hb units.
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
#if defined(__GNUC__) && !defined(__clang__)
/* the 64-byte vectors are passed between inlined helpers only: no ABI crosses a call */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

enum { CYR_RNN_TANH = 0, CYR_RNN_RELU = 1, CYR_LSTM = 2, CYR_GRU = 3 };
enum { CYR_SIGMOID = 0, CYR_TANH = 1, CYR_RELU = 2 };
#define CYR_LANES 16
#define CYR_MAX_RUN 64  /* units per run of the backward tile's inner loops */
#define CYR_MAX_GATES_ROW 256  /* longest LSTM tile row (4 hb) done in whole vectors */

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

/* sigmoid on the lanes where scale is 1, tanh where it is 2, for one exp and one division:
 * tanh(x) = 2 sigmoid(2x) - 1, except below |x| = 0.4, where that difference would cancel
 * and the odd Taylor series to x^13 (truncation < 1e-8 relative there) takes over. (A float
 * scale rather than an integer lane mask: GCC 12 built such masks lane by lane.) */
CYR_INLINE cyr_vf cyr_gatef(cyr_vf x, cyr_vf scale)
{
    const cyr_vi sign = (cyr_vi){0} + (int)0x80000000;
    cyr_vf s = 1.0f / (1.0f + cyr_expf(-(x * scale)));
    cyr_vf big = s * scale - (scale - 1.0f);
    cyr_vf a = (cyr_vf)((cyr_vi)x & ~sign);
    cyr_vi near0 = a < 0.4f;
    cyr_vf xs = cyr_sel(near0, x, (cyr_vf){0});
    cyr_vf t = xs * xs;
    cyr_vf p = (cyr_vf){0} + 0.00359212803f;
    p = p * t - 0.00886323552f;
    p = p * t + 0.0218694885f;
    p = p * t - 0.0539682540f;
    p = p * t + 0.133333333f;
    p = p * t - 0.333333333f;
    cyr_vf small = xs + xs * t * p;
    /* w = 1 on tanh lanes, 0 on sigmoid lanes: an exact blend, and one comparison in all
     * (GCC 12 built a second mask, from scale, lane by lane) */
    cyr_vf w = scale - 1.0f;
    return cyr_sel(near0, w * small + (1.0f - w) * big, big);
}

CYR_INLINE cyr_vf cyr_sigmoidf(cyr_vf x)
{
    return cyr_gatef(x, (cyr_vf){0} + 1.0f);
}

CYR_INLINE cyr_vf cyr_tanhf(cyr_vf x)
{
    return cyr_gatef(x, (cyr_vf){0} + 2.0f);
}

CYR_INLINE cyr_vf cyr_actv(int kind, cyr_vf v)
{
    if (kind == CYR_SIGMOID)
        return cyr_sigmoidf(v);
    if (kind == CYR_TANH)
        return cyr_tanhf(v);
    return cyr_sel(v > 0.0f, v, (cyr_vf){0});
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
        float buf[CYR_LANES] = {0};
        cyr_vf v;
        for (ptrdiff_t k = 0; k < n - i; k++)
            buf[k] = x[i + k];
        memcpy(&v, buf, sizeof v);
        v = cyr_actv(kind, v);
        memcpy(buf, &v, sizeof v);
        for (ptrdiff_t k = 0; k < n - i; k++)
            x[i + k] = buf[k];
    }
}

/* The LSTM gates of one tile row in place: sigmoid on columns [0, 2hb) and [3hb, 4hb), tanh
 * on [2hb, 3hb). With rows of whole vectors (nr a multiple of 16) each vector of the row is
 * done once, lane by lane choosing the function; otherwise range by range. */
CYR_INLINE void cyr_lstm_gates_f32(ptrdiff_t hb, ptrdiff_t nr, float* p)
{
    if (nr % CYR_LANES || 4 * hb > CYR_MAX_GATES_ROW) {
        cyr_act_f32(CYR_SIGMOID, 2 * hb, p);
        cyr_act_f32(CYR_TANH, hb, p + 2 * hb);
        cyr_act_f32(CYR_SIGMOID, hb, p + 3 * hb);
        return;
    }
    float scale[CYR_MAX_GATES_ROW];
    for (ptrdiff_t c = 0; c < 4 * hb; c++)
        scale[c] = c >= 2 * hb && c < 3 * hb ? 2.0f : 1.0f;
    for (ptrdiff_t c = 0; c < 4 * hb; c += CYR_LANES) {
        cyr_vf v, sc;
        memcpy(&v, p + c, sizeof v);
        memcpy(&sc, scale + c, sizeof sc);
        v = cyr_gatef(v, sc);
        memcpy(p + c, &v, sizeof v);
    }
}

/* tanh of p[0:units] in place (units <= hb); the columns from `units` to the end of the
 * last vector may be overwritten (a tile row of whole vectors: whole vectors, no tail). */
CYR_INLINE void cyr_tanh_head_f32(ptrdiff_t hb, ptrdiff_t nr, ptrdiff_t units, float* p)
{
    (void)hb;
    if (nr % CYR_LANES || (units + CYR_LANES - 1) / CYR_LANES * CYR_LANES > nr) {
        cyr_act_f32(CYR_TANH, units, p);
        return;
    }
    for (ptrdiff_t c = 0; c < units; c += CYR_LANES) {
        cyr_vf v;
        memcpy(&v, p + c, sizeof v);
        v = cyr_tanhf(v);
        memcpy(p + c, &v, sizeof v);
    }
}

CYR_INLINE void cyr_tanh_head_f64(ptrdiff_t hb, ptrdiff_t nr, ptrdiff_t units, double* p)
{
    (void)hb;
    (void)nr;
    cyr_act_f64(CYR_TANH, units, p);
}

CYR_INLINE void cyr_lstm_gates_f64(ptrdiff_t hb, ptrdiff_t nr, double* p)
{
    (void)nr;
    cyr_act_f64(CYR_SIGMOID, 2 * hb, p);
    cyr_act_f64(CYR_TANH, hb, p + 2 * hb);
    cyr_act_f64(CYR_SIGMOID, hb, p + 3 * hb);
}


/* Forward of one tile: `rows` batch rows (row i of a tile/array at + i * its ld) x the hb
 * hidden units of one column block, `units` of them real (the last block may be short).
 *   pre   rows x (G*hb): the hidden pre-activations h_{t-1} W_hh^T + b_hh (overwritten)
 *   xp    the same columns of the input projection x_t W_ih^T + b_ih (may be `acts`
 *         itself: a row's activations are stored after its last read of xp)
 *   len   each row's sequence length; row i is valid at step t when t < len[i]
 *   hprev, cprev -> hnext, cnext; acts: the gate activations (saved for the backward);
 *   aux: tanh(c_t) (LSTM) or W_hn h + b_hn (GRU); y: the output (zero on masked rows);
 *   hpack: the next step's GEMM panel of h, hpack[u * mr + i].
 * The pointers to per-unit arrays (hprev ... y, hpack) point at the block's first unit. */
#define CYR_DEFINE_FORWARD(T, SUF)                                                             \
CYR_CLONES static void cyconv_rnn_fwd_tile_##SUF(                                               \
    int mode, ptrdiff_t rows, ptrdiff_t units, ptrdiff_t hb, T* restrict pre, ptrdiff_t ldp,   \
    const T* xp, ptrdiff_t ldx, const ptrdiff_t* restrict len, ptrdiff_t t,                    \
    const T* restrict hprev, const T* restrict cprev, T* restrict hnext, T* restrict cnext,    \
    ptrdiff_t ldh, T* acts, ptrdiff_t lda, T* restrict aux, T* restrict y,                    \
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
                for (ptrdiff_t j = 0; j < units; j++)                                          \
                    cnext[i * ldh + j] = cprev[i * ldh + j];                                   \
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
            T* a = acts + i * lda;                                                             \
            for (ptrdiff_t c = 0; c < 4 * hb; c++)                                             \
                p[c] += xr[c];                                                                 \
            cyr_lstm_gates_##SUF(hb, ldp, p);                                                  \
            for (ptrdiff_t c = 0; c < 4 * hb; c++) /* a loop: memcpy of a run-time size */     \
                a[c] = p[c];                                                                   \
            /* c_t over the (saved) input gate's columns, then tanh(c_t) in place */           \
            for (ptrdiff_t j = 0; j < units; j++) {                                            \
                T c = a[hb + j] * cp[j] + a[j] * a[2 * hb + j];                                \
                cn[j] = c;                                                                     \
                p[j] = c;                                                                      \
            }                                                                                  \
            cyr_tanh_head_##SUF(hb, ldp, units, p);                                            \
            for (ptrdiff_t j = 0; j < units; j++) {                                            \
                ax[j] = p[j];                                                                  \
                hn[j] = a[3 * hb + j] * p[j];                                                  \
            }                                                                                  \
        } else {                                                                               \
            for (ptrdiff_t c = 0; c < hb; c++)                                                 \
                p[c] += xr[c];                                                                 \
            cyr_act_##SUF(mode == CYR_RNN_TANH ? CYR_TANH : CYR_RELU, hb, p);                  \
            for (ptrdiff_t j = 0; j < units; j++)                                              \
                hn[j] = p[j];                                                                  \
        }                                                                                      \
        if (mode != CYR_LSTM)                                                                  \
            for (ptrdiff_t c = 0; c < G * hb; c++)                                             \
                acts[i * lda + c] = p[c];                                                      \
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
 *         (packed columns, rows r0 + i, stored as cyr_store does with pw, ps; dgh may be
 *         NULL when they are the same, LSTM and RNN)
 *   dpack: the next GEMM's panel of dgh, dpack[column * mr + i].
 * Per-unit arrays (dy, carry, dc, aux, hprev, cprev) point at unit u0; acts and dpack at
 * column 0 of the tile's first row, dgx and dgh at the whole arrays. */
/* v[0:n] into columns c.. of row `row` of a gate array stored in panels of pw columns, ps
 * elements apart (row r of a panel at r * pw): pw = Gc, ps = 0 for a plain row-major
 * (rows, Gc) array; pw = NR, ps = rows * NR for the GEMM's B panels (a run is split where it
 * crosses a panel). */
#define CYR_DEFINE_STORE(T, SUF)                                                               \
CYR_INLINE void cyr_store_##SUF(T* a, ptrdiff_t row, ptrdiff_t c, ptrdiff_t n, const T* v,     \
                                ptrdiff_t pw, ptrdiff_t ps)                                    \
{                                                                                              \
    while (n > 0) {                                                                            \
        const ptrdiff_t panel = c / pw, off = c - panel * pw;                                  \
        const ptrdiff_t m = pw - off < n ? pw - off : n;                                       \
        T* dst = a + panel * ps + row * pw + off;                                              \
        for (ptrdiff_t k = 0; k < m; k++)                                                      \
            dst[k] = v[k];                                                                     \
        c += m;                                                                                \
        v += m;                                                                                \
        n -= m;                                                                                \
    }                                                                                          \
}
CYR_DEFINE_STORE(float, f32)
CYR_DEFINE_STORE(double, f64)

#define CYR_DEFINE_BACKWARD(T, SUF)                                                            \
CYR_CLONES static void cyconv_rnn_bwd_tile_##SUF(                                               \
    int mode, ptrdiff_t rows, ptrdiff_t u0, ptrdiff_t units, ptrdiff_t hb, ptrdiff_t bw,       \
    const T* restrict dhh, ptrdiff_t ldt, const ptrdiff_t* restrict len, ptrdiff_t t,          \
    const T* restrict dy, ptrdiff_t ldy, T* restrict carry, T* restrict dc, ptrdiff_t ldh,     \
    const T* restrict acts, ptrdiff_t lda, const T* restrict aux, const T* restrict hprev,     \
    const T* restrict cprev, T* restrict dgx, T* restrict dgh, ptrdiff_t r0, ptrdiff_t pw,     \
    ptrdiff_t ps, T* restrict dpack, ptrdiff_t mr)                                             \
{                                                                                              \
    const int G = mode == CYR_LSTM ? 4 : mode == CYR_GRU ? 3 : 1;                              \
    /* GRU's input-side n gradient (dgx) differs from its hidden-side one (dgh, dpack) */      \
    const int gx_n = mode == CYR_GRU ? 3 : 2;                                                  \
    T d[4][CYR_MAX_RUN];                                                                       \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        const T* tr = dhh + i * ldt;                                                           \
        T* cr = carry + i * ldh;                                                               \
        const T* ar = acts + i * lda;                                                          \
        const int valid = t < len[i];                                                          \
        /* runs of units inside one hidden block: their gate columns are contiguous */         \
        for (ptrdiff_t j0 = 0; j0 < units;) {                                                  \
            const ptrdiff_t u = u0 + j0, blk = u / hb, off = u - blk * hb;                     \
            ptrdiff_t run = hb - off;                                                          \
            if (run > units - j0)                                                              \
                run = units - j0;                                                              \
            if (run > CYR_MAX_RUN)                                                             \
                run = CYR_MAX_RUN;                                                             \
            const ptrdiff_t col = blk * bw + off;                                              \
            const T* tj = tr + j0;                                                             \
            T* cj = cr + j0;                                                                   \
            if (!valid) {                                                                      \
                for (ptrdiff_t k = 0; k < run; k++)                                            \
                    cj[k] += tj[k];                                                            \
                for (int g = 0; g < 4; g++)                                                    \
                    for (ptrdiff_t k = 0; k < run; k++)                                        \
                        d[g][k] = 0;                                                           \
            } else if (mode == CYR_LSTM) {                                                     \
                const T* ig = ar + col; const T* fg = ig + hb;                                 \
                const T* gg = fg + hb; const T* og = gg + hb;                                  \
                const T* tc = aux + i * ldh + j0;                                              \
                const T* cp = cprev + i * ldh + j0;                                            \
                const T* dyj = dy + i * ldy + j0;                                              \
                T* dcj = dc + i * ldh + j0;                                                    \
                for (ptrdiff_t k = 0; k < run; k++) {                                          \
                    const T total = dyj[k] + tj[k] + cj[k];                                    \
                    const T dct = dcj[k] + total * og[k] * (1 - tc[k] * tc[k]);                \
                    d[0][k] = dct * gg[k] * ig[k] * (1 - ig[k]);                               \
                    d[1][k] = dct * cp[k] * fg[k] * (1 - fg[k]);                               \
                    d[2][k] = dct * ig[k] * (1 - gg[k] * gg[k]);                               \
                    d[3][k] = total * tc[k] * og[k] * (1 - og[k]);                             \
                    dcj[k] = dct * fg[k];                                                      \
                    cj[k] = 0;                                                                 \
                }                                                                              \
            } else if (mode == CYR_GRU) {                                                      \
                const T* rg = ar + col; const T* zg = rg + hb; const T* ng = zg + hb;          \
                const T* hn = aux + i * ldh + j0;                                              \
                const T* hp = hprev + i * ldh + j0;                                            \
                const T* dyj = dy + i * ldy + j0;                                              \
                for (ptrdiff_t k = 0; k < run; k++) {                                          \
                    const T total = dyj[k] + tj[k] + cj[k];                                    \
                    const T z = zg[k], n = ng[k], r = rg[k];                                   \
                    const T dn = total * (1 - z) * (1 - n * n);                                \
                    d[0][k] = dn * hn[k] * r * (1 - r);                                        \
                    d[1][k] = total * (hp[k] - n) * z * (1 - z);                               \
                    d[3][k] = dn;                                                              \
                    d[2][k] = dn * r;                                                          \
                    cj[k] = total * z;                                                         \
                }                                                                              \
            } else {                                                                           \
                const T* hg = ar + col;                                                        \
                const T* dyj = dy + i * ldy + j0;                                              \
                for (ptrdiff_t k = 0; k < run; k++) {                                          \
                    const T total = dyj[k] + tj[k] + cj[k];                                    \
                    d[0][k] = mode == CYR_RNN_TANH ? total * (1 - hg[k] * hg[k])               \
                                                   : (hg[k] > 0 ? total : (T)0);               \
                    cj[k] = 0;                                                                 \
                }                                                                              \
            }                                                                                  \
            /* the gate gradients, and the next step's GEMM panel of the hidden-side ones */   \
            for (int g = 0; g < G; g++) {                                                      \
                cyr_store_##SUF(dgx, r0 + i, col + g * hb, run, d[g == 2 ? gx_n : g], pw, ps); \
                if (dgh)                                                                       \
                    cyr_store_##SUF(dgh, r0 + i, col + g * hb, run, d[g], pw, ps);             \
                for (ptrdiff_t k = 0; k < run; k++)                                            \
                    dpack[(col + g * hb + k) * mr + i] = d[g][k];                              \
            }                                                                                  \
            j0 += run;                                                                         \
        }                                                                                      \
    }                                                                                          \
}

/* c[0:nr] += sum_k a[k * as] * B[k * nr + 0:nr]: one row of the micro-kernel's product, for
 * steps of fewer batch rows than half its MR (the 8-row kernel would spend most of its FMAs
 * on zero rows; one row is bound by the loads of B instead). Sums in k order, as the
 * micro-kernel does. nr a multiple of 16 (float) / 8 (double) up to 64 floats runs in
 * registers; other widths in a plain loop. */
#define CYR_DEFINE_GEMV(T, SUF, LANES)                                                         \
CYR_CLONES static void cyconv_rnn_gemv_##SUF(ptrdiff_t K, const T* restrict a, ptrdiff_t as,   \
                                            const T* restrict B, T* restrict c, ptrdiff_t nr) \
{                                                                                              \
    typedef T vec __attribute__((vector_size(64)));                                            \
    if (nr % LANES == 0 && nr <= 4 * LANES) {                                                  \
        vec acc[4] = {{0}, {0}, {0}, {0}};                                                     \
        const ptrdiff_t nv = nr / LANES;                                                       \
        for (ptrdiff_t k = 0; k < K; k++) {                                                    \
            const T ak = a[k * as];                                                            \
            for (ptrdiff_t v = 0; v < nv; v++) {                                               \
                vec b;                                                                         \
                memcpy(&b, B + k * nr + v * LANES, sizeof b);                                  \
                acc[v] += ak * b;                                                              \
            }                                                                                  \
        }                                                                                      \
        for (ptrdiff_t v = 0; v < nv; v++) {                                                   \
            vec x;                                                                             \
            memcpy(&x, c + v * LANES, sizeof x);                                               \
            x += acc[v];                                                                       \
            memcpy(c + v * LANES, &x, sizeof x);                                               \
        }                                                                                      \
        return;                                                                                \
    }                                                                                          \
    T acc[256];                                                                                \
    for (ptrdiff_t j = 0; j < nr; j++)                                                         \
        acc[j] = 0;                                                                            \
    for (ptrdiff_t k = 0; k < K; k++)                                                          \
        for (ptrdiff_t j = 0; j < nr; j++)                                                     \
            acc[j] += a[k * as] * B[k * nr + j];                                               \
    for (ptrdiff_t j = 0; j < nr; j++)                                                         \
        c[j] += acc[j];                                                                        \
}
CYR_DEFINE_GEMV(float, f32, 16)
CYR_DEFINE_GEMV(double, f64, 8)

/* Prefetch `rows` rows of `bytes` bytes, `ld` bytes apart, into the cache: a tile's inputs
 * from the large per-step arrays, requested before its GEMM so that their misses overlap it. */
static inline void cyconv_rnn_prefetch(const void* p, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t bytes)
{
    const char* c = (const char*)p;
    for (ptrdiff_t i = 0; i < rows; i++)
        for (ptrdiff_t b = 0; b < bytes; b += 64)
            __builtin_prefetch(c + i * ld + b);
}

CYR_DEFINE_FORWARD(float, f32)
CYR_DEFINE_FORWARD(double, f64)
CYR_DEFINE_BACKWARD(float, f32)
CYR_DEFINE_BACKWARD(double, f64)
#endif
