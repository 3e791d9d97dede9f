/* Depthwise (one input and one output channel per group) plane kernels, instantiated per
 * element type and ISA by _depthwise.h. DW_T element type, DW_VB vector bytes, DW_TARGET
 * target attribute, DW_SUFFIX name suffix.
 *
 * Every kernel reads a zero-padded copy of the input plane (xpad, row length lw, built by
 * the caller), so all taps of a vector of output pixels are plain unaligned loads: no edge
 * code, and every tap of the kernel is applied in one pass over the output (the tap-by-tap
 * row kernels made 9 passes over the output plane for a 3x3 kernel). Output pixels are on
 * the vector lanes, in chunks of NV vectors whose accumulators stay in registers; the
 * kernel width KW and NV are compile-time constants of each inlined instance, so the tap
 * and chunk loops unroll. The stride along the row is 1 (other strides use the row kernels).
 */
#define DW_CAT2(a, b) a##_##b
#define DW_CAT(a, b) DW_CAT2(a, b)
#define DW_VEC DW_CAT(cyconv_dw_vec, DW_SUFFIX)
#define DW_FWD_CHUNKS DW_CAT(cyconv_dw_forward_chunks, DW_SUFFIX)
#define DW_FWD DW_CAT(cyconv_dw_forward, DW_SUFFIX)
#define DW_WGT_ROW DW_CAT(cyconv_dw_weight_row, DW_SUFFIX)
#define DW_WGT DW_CAT(cyconv_dw_weight, DW_SUFFIX)
#define DW_PAD DW_CAT(cyconv_dw_pad, DW_SUFFIX)

typedef DW_T DW_VEC __attribute__((vector_size(DW_VB)));

/* The rows x lw window of the zero-padded plane x (H x W; ph rows and pw columns of
 * leading padding) that the kernels read. Plain vector loops, kept from being turned into
 * memcpy/memset calls (the attribute): the rows are a few hundred bytes and the borders a
 * few elements, where a library call costs more than the copy (depthwise forward, 56-wide
 * planes, 2 threads: memmove + memset were 18% of the time). */
DW_TARGET __attribute__((optimize("no-tree-loop-distribute-patterns")))
static void DW_PAD(const DW_T* restrict x, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph,
                             ptrdiff_t pw, ptrdiff_t rows, ptrdiff_t lw, DW_T* restrict xpad)
{
    const ptrdiff_t n = W < lw - pw ? W : lw - pw;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const ptrdiff_t ih = r - ph;
        DW_T* dst = xpad + r * lw;
        if (ih < 0 || ih >= H || n <= 0) {
            for (ptrdiff_t i = 0; i < lw; i++) dst[i] = 0;
            continue;
        }
        const DW_T* src = x + ih * W;
        /* the next plane in memory (the next work item's, in the forward) */
        for (ptrdiff_t i = 0; i < W; i += 64 / sizeof(DW_T))
            __builtin_prefetch(src + H * W + i, 0, 3);
        for (ptrdiff_t i = 0; i < pw; i++) dst[i] = 0;
        for (ptrdiff_t i = 0; i < n; i++) dst[pw + i] = src[i];
        for (ptrdiff_t i = pw + n; i < lw; i++) dst[i] = 0;
    }
}

/* Output rows [oh0, oh0 + R), row chunks [ow0, ow0 + NV*L): y = beta + sum of taps. R rows
 * at once give R*NV independent accumulator chains (one row's NV chains of 9 dependent FMAs
 * each left half the FMA issue slots idle at 4 cycles' latency). */
DW_TARGET static inline __attribute__((always_inline)) void DW_CAT(cyconv_dw_rows, DW_SUFFIX)(
    ptrdiff_t oh0, const int R, ptrdiff_t OW, const DW_T* restrict xpad, ptrdiff_t lw,
    ptrdiff_t sh, const DW_T* restrict w, ptrdiff_t KH, const int KW, ptrdiff_t dh,
    ptrdiff_t dw, DW_T beta, DW_T* restrict y, const int NV)
{
    enum { L = DW_VB / sizeof(DW_T) };
    for (ptrdiff_t ow0 = 0; ow0 < OW; ow0 += NV * L) {
        DW_VEC acc[2][4];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = (DW_VEC){0} + beta;
        for (ptrdiff_t kh = 0; kh < KH; kh++) {
#pragma GCC unroll 8
            for (int kw = 0; kw < KW; kw++) {
                const DW_T wv = w[kh * KW + kw];
#pragma GCC unroll 2
                for (int r = 0; r < R; r++) {
                    const DW_T* row = xpad + ((oh0 + r) * sh + kh * dh) * lw + ow0 + kw * dw;
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++) {
                        DW_VEC xv;
                        __builtin_memcpy(&xv, row + v * L, sizeof(xv));
                        acc[r][v] += wv * xv;
                    }
                }
            }
        }
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            DW_T* out = y + (oh0 + r) * OW + ow0;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const ptrdiff_t left = OW - ow0 - v * L;
                if (left >= L)
                    __builtin_memcpy(out + v * L, &acc[r][v], sizeof(acc[r][v]));
                else if (left > 0) {
                    /* element stores (a variable-length memcpy is a libc call) from a copy:
                     * indexing acc itself by a variable kept all accumulators on the stack */
                    DW_T lanes[L];
                    __builtin_memcpy(lanes, &acc[r][v], sizeof(lanes));
                    for (ptrdiff_t l = 0; l < left; l++)
                        out[v * L + l] = lanes[l];
                }
            }
        }
    }
}

/* Rows [0, oh_count) of the plane, two at a time. */
DW_TARGET static inline __attribute__((always_inline)) void DW_FWD_CHUNKS(
    ptrdiff_t oh_count, ptrdiff_t OW, const DW_T* restrict xpad, ptrdiff_t lw, ptrdiff_t sh,
    const DW_T* restrict w, ptrdiff_t KH, const int KW, ptrdiff_t dh, ptrdiff_t dw,
    DW_T beta, DW_T* restrict y, const int NV)
{
    ptrdiff_t oh = 0;
    for (; oh + 2 <= oh_count; oh += 2)
        DW_CAT(cyconv_dw_rows, DW_SUFFIX)(oh, 2, OW, xpad, lw, sh, w, KH, KW, dh, dw, beta, y,
                                          NV);
    if (oh < oh_count)
        DW_CAT(cyconv_dw_rows, DW_SUFFIX)(oh, 1, OW, xpad, lw, sh, w, KH, KW, dh, dw, beta, y,
                                          NV);
}

/* y (OH x OW) of one plane. xpad rows: (OH-1)*sh + (KH-1)*dh + 1; lw >= the chunked row
 * width + (KW-1)*dw (cyconv_dw_row_length). */
DW_TARGET __attribute__((optimize("no-tree-loop-distribute-patterns")))
static void DW_FWD(ptrdiff_t OH, ptrdiff_t OW, const DW_T* restrict xpad,
                             ptrdiff_t lw, ptrdiff_t sh, const DW_T* restrict w, ptrdiff_t KH,
                             ptrdiff_t KW, ptrdiff_t dh, ptrdiff_t dw, DW_T beta,
                             DW_T* restrict y)
{
    enum { L = DW_VB / sizeof(DW_T) };
    const int nv = OW >= 4 * L ? 4 : (int)((OW + L - 1) / L);
#define DW_FWD_CASE(kw_, nv_) \
    DW_FWD_CHUNKS(OH, OW, xpad, lw, sh, w, KH, kw_, dh, dw, beta, y, nv_)
#define DW_FWD_NV(kw_)                                                                        \
    switch (nv) {                                                                            \
    case 1: DW_FWD_CASE(kw_, 1); break;                                                      \
    case 2: DW_FWD_CASE(kw_, 2); break;                                                      \
    case 3: DW_FWD_CASE(kw_, 3); break;                                                      \
    default: DW_FWD_CASE(kw_, 4); break;                                                     \
    }
    switch (KW) {
    case 1: DW_FWD_NV(1); break;
    case 2: DW_FWD_NV(2); break;
    case 3: DW_FWD_NV(3); break;
    case 4: DW_FWD_NV(4); break;
    case 5: DW_FWD_NV(5); break;
    case 6: DW_FWD_NV(6); break;
    case 7: DW_FWD_NV(7); break;
    default:
        /* other widths: one kernel row of taps at a time (KH*KW passes of width 1) */
        for (ptrdiff_t oh = 0; oh < OH; oh++)
            for (ptrdiff_t ow = 0; ow < OW; ow++)
                y[oh * OW + ow] = beta;
        for (ptrdiff_t kh = 0; kh < KH; kh++)
            for (ptrdiff_t kw = 0; kw < KW; kw++) {
                const DW_T wv = w[kh * KW + kw];
                for (ptrdiff_t oh = 0; oh < OH; oh++) {
                    const DW_T* row = xpad + (oh * sh + kh * dh) * lw + kw * dw;
                    DW_T* out = y + oh * OW;
                    for (ptrdiff_t ow = 0; ow < OW; ow++)
                        out[ow] += wv * row[ow];
                }
            }
        break;
    }
#undef DW_FWD_NV
#undef DW_FWD_CASE
}

/* Products of `rows` output rows (grad_y rows OW apart, their input rows xstride apart)
 * with the KW taps of one kernel row, summed into working-precision lanes and then added
 * to the double lanes dacc[kw][L]. The caller bounds rows * chunks, so a lane sums at
 * most 64 products in the working precision (the previous tap-by-tap kernel: 49). */
DW_TARGET static inline __attribute__((always_inline)) void DW_WGT_ROW(
    ptrdiff_t rows, ptrdiff_t chunks, ptrdiff_t OW, const DW_T* restrict gy,
    const DW_T* restrict x, ptrdiff_t xstride, const int KW, ptrdiff_t dw,
    double* restrict dacc)
{
    enum { L = DW_VB / sizeof(DW_T) };
    DW_VEC acc[8];
#pragma GCC unroll 8
    for (int kw = 0; kw < KW; kw++)
        acc[kw] = (DW_VEC){0};
    for (ptrdiff_t r = 0; r < rows; r++) {
        const DW_T* gy_row = gy + r * OW;
        const DW_T* x_row = x + r * xstride;
        const ptrdiff_t full = OW / L;
        for (ptrdiff_t c = 0; c < full; c++) {
            DW_VEC g;
            __builtin_memcpy(&g, gy_row + c * L, sizeof(g));
#pragma GCC unroll 8
            for (int kw = 0; kw < KW; kw++) {
                DW_VEC xv;
                __builtin_memcpy(&xv, x_row + kw * dw + c * L, sizeof(xv));
                acc[kw] += g * xv;
            }
        }
        if (full < chunks) {
            /* the row's last, partial vector: lanes past the row end add nothing */
            DW_T tail[L];
            for (ptrdiff_t l = 0; l < L; l++)
                tail[l] = full * L + l < OW ? gy_row[full * L + l] : (DW_T)0;
            DW_VEC g;
            __builtin_memcpy(&g, tail, sizeof(g));
#pragma GCC unroll 8
            for (int kw = 0; kw < KW; kw++) {
                DW_VEC xv;
                __builtin_memcpy(&xv, x_row + kw * dw + full * L, sizeof(xv));
                acc[kw] += g * xv;
            }
        }
    }
#pragma GCC unroll 8
    for (int kw = 0; kw < KW; kw++)
        for (int l = 0; l < L; l++)
            dacc[kw * L + l] += (double)acc[kw][l];
}

/* dacc[(kh*KW + kw)*L + lane] += the products of one plane pair (lanes in double).
 * gy: the OH x OW grad_y plane, read in place. */
DW_TARGET __attribute__((optimize("no-tree-loop-distribute-patterns")))
static void DW_WGT(ptrdiff_t OH, ptrdiff_t OW, const DW_T* restrict gy,
                             const DW_T* restrict xpad, ptrdiff_t lw, ptrdiff_t sh,
                             ptrdiff_t KH, ptrdiff_t KW, ptrdiff_t dh, ptrdiff_t dw,
                             double* restrict dacc)
{
    enum { L = DW_VB / sizeof(DW_T) };
    const ptrdiff_t chunks = (OW + L - 1) / L;
    const ptrdiff_t block = chunks >= 64 ? 1 : 64 / chunks;
    for (ptrdiff_t oh0 = 0; oh0 < OH; oh0 += block) {
        const ptrdiff_t rows = OH - oh0 < block ? OH - oh0 : block;
        for (ptrdiff_t kh = 0; kh < KH; kh++) {
            const DW_T* g = gy + oh0 * OW;
            const DW_T* x = xpad + (oh0 * sh + kh * dh) * lw;
            const ptrdiff_t xs = sh * lw;
            double* d = dacc + kh * KW * L;
            switch (KW) {
            case 1: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 1, dw, d); break;
            case 2: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 2, dw, d); break;
            case 3: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 3, dw, d); break;
            case 4: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 4, dw, d); break;
            case 5: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 5, dw, d); break;
            case 6: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 6, dw, d); break;
            case 7: DW_WGT_ROW(rows, chunks, OW, g, x, xs, 7, dw, d); break;
            default:
                for (ptrdiff_t kw = 0; kw < KW; kw++)
                    DW_WGT_ROW(rows, chunks, OW, g, x + kw * dw, xs, 1, dw, d + kw * L);
                break;
            }
        }
    }
}

#undef DW_VEC
#undef DW_FWD_CHUNKS
#undef DW_FWD
#undef DW_WGT_ROW
#undef DW_WGT
#undef DW_PAD
#undef DW_CAT
#undef DW_CAT2
