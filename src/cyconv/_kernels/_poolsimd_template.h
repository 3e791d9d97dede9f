/* One (element type, ISA) instance of the separable pooling row kernels, included by
 * _poolsimd.h with T (float/double), VT (float vector of the ISA's width), IT (integer vector
 * of the same shape), L (lanes), SFX (name suffix), TGT (target attribute) and the shuffle
 * index lists EVEN, ODD, ILO, IHI, STOREN(p, v, n) (store the first 0 < n < L lanes) and
 * LOADN(p, n) (load them, the other lanes zero, no access past p + n) defined; it undefines
 * them at its end.
 *
 * GCC vector extensions at the ISA's native width, compiled with an explicit target
 * attribute (target_clones would leave GCC 12 scalarizing the vector compares). Stride 2
 * reads two vectors and de-interleaves their even/odd lanes with one two-source shuffle
 * (vpermt2ps on AVX-512) instead of a gather.
 */
#define CYP_CAT_(a, b) a##_##b
#define CYP_CAT(a, b) CYP_CAT_(a, b)
#define CYP(name) CYP_CAT(name, SFX)

/* Helpers are macros (statement expressions): no 64-byte vector crosses a function
 * boundary, so there is no ABI question between the clones. */
#if defined(__clang__)
#define CYP_SHUF(a, b, idx) __builtin_shufflevector((a), (b), idx)
#else
#define CYP_SHUF(a, b, idx) __builtin_shuffle((a), (b), (IT){idx})
#endif
#define CYP_LOAD(p) ({ VT v_; memcpy(&v_, (p), sizeof v_); v_; })
#define CYP_STORE(p, v) do { VT s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define CYP_BLEND(a, b, take) ((VT)(((IT)(a) & ~(IT)(take)) | ((IT)(b) & (IT)(take))))
/* The combine rule of every pooling reduction: 0 sum, 1 max, 2 min; for max/min a strictly
 * better value or any NaN takes over (PyTorch's rule), so NaN propagates. */
#define CYP_TAKES(op, v, acc) \
    ((IT)((op) == 1 ? (((v) > (acc)) | ((v) != (v))) : (((v) < (acc)) | ((v) != (v)))))
#define CYP_COMBINE(op, acc, v) ({                                                           \
    VT a_ = (acc), w_ = (v);                                                                  \
    (op) == 0 ? a_ + w_ : CYP_BLEND(a_, w_, CYP_TAKES(op, w_, a_)); })

static inline __attribute__((always_inline)) TGT T CYP(cyp_combine1)(int op, T acc, T v)
{
    if (op == 0)
        return acc + v;
    if (op == 1)
        return (v > acc || v != v) ? v : acc;
    return (v < acc || v != v) ? v : acc;
}

/* cyconv_pool_vreduce's whole vectors for the operation OPC (a constant): i advances to
 * the last whole vector's end; each window's rows in (a, b) order after the first */
#define CYP_VREDUCE_VECTORS(OPC)                                                             \
    do {                                                                                     \
        for (; i + L <= n; i += L) {                                                         \
            VT acc = CYP_LOAD(src + i);                                                      \
            for (ptrdiff_t b = 1; b < nh; b++)                                               \
                acc = CYP_COMBINE(OPC, acc, CYP_LOAD(src + b * sh + i));                     \
            for (ptrdiff_t a = 1; a < nd; a++)                                               \
                for (ptrdiff_t b = 0; b < nh; b++)                                           \
                    acc = CYP_COMBINE(OPC, acc, CYP_LOAD(src + a * sd + b * sh + i));        \
            CYP_STORE(out + i, acc);                                                         \
        }                                                                                    \
    } while (0)

/* out[i] = reduce over the nd x nh input rows src + a*sd + b*sh (a < nd, b < nh, in that
 * order) of row[i], for i < n: the "vertical" half of a separable window reduction. */
TGT static void CYP(cyconv_pool_vreduce)(int op, ptrdiff_t n, const T* src,
                                                   ptrdiff_t nd, ptrdiff_t sd, ptrdiff_t nh,
                                                   ptrdiff_t sh, T* restrict out)
{
    ptrdiff_t i = 0;
    /* whole vectors: a loop per operation (a constant), as in cyconv_pool_hreduce */
    if (op == 0)
        CYP_VREDUCE_VECTORS(0);
    else if (op == 1)
        CYP_VREDUCE_VECTORS(1);
    else
        CYP_VREDUCE_VECTORS(2);
    if (i < n) {
        /* the tail (and whole rows shorter than a vector, e.g. global pooling): one masked
         * vector; the lanes past the row are never stored */
        VT acc = LOADN(src + i, n - i);
        int first = 1;
        for (ptrdiff_t a = 0; a < nd; a++)
            for (ptrdiff_t b = 0; b < nh; b++) {
                if (first) { first = 0; continue; }
                acc = CYP_COMBINE(op, acc, LOADN(src + a * sd + b * sh + i, n - i));
            }
        STOREN(out + i, acc, n - i);
    }
}

/* cyconv_pool_hreduce's stride-2 loop for the operation OPC (a constant), each output
 * vector `acc` finished as FINISH (an expression of acc and j) */
#define CYP_HREDUCE_S2(OPC, FINISH)                                                          \
    do {                                                                                     \
        for (ptrdiff_t j = 0; j < n; j += L) {                                               \
            const T* p = buf + 2 * j;                                                        \
            VT acc = CYP_SHUF(CYP_LOAD(p), CYP_LOAD(p + L), EVEN);                           \
            for (ptrdiff_t t = 1; t < kw; t++) {                                             \
                const T* q = p + t * dw;                                                     \
                acc = CYP_COMBINE(OPC, acc, CYP_SHUF(CYP_LOAD(q), CYP_LOAD(q + L), EVEN));   \
            }                                                                                \
            acc = (FINISH);                                                                  \
            if (j + L <= n)                                                                  \
                CYP_STORE(out + j, acc);                                                     \
            else                                                                             \
                STOREN(out + j, acc, n - j);                                                 \
        }                                                                                    \
    } while (0)

/* The "horizontal" half: out[j] = reduce_{t < kw} buf[j*s + t*dw] for j < n, divided by
 * vfac * div[j] for the average (op 0, div != NULL, readable and nonzero up to the next
 * multiple of L). buf must be readable 2*L elements past the last tap of output n - 1 (the
 * caller pads it), so whole vectors are loaded; the last, partial vector is a masked store. */
TGT static void CYP(cyconv_pool_hreduce)(int op, ptrdiff_t n, ptrdiff_t s,
                                                   ptrdiff_t kw, ptrdiff_t dw,
                                                   const T* restrict buf,
                                                   const T* restrict div, T vfac,
                                                   T* restrict out)
{
    if (s == 2) {
        /* stride 2 (avg 3x3/2, max 2x2/2): a loop per operation, with no operation or
         * stride tests inside, so the loop state stays in registers (the general loop kept
         * its counter on the stack, a store-forwarding chain per vector) */
        if (op == 0 && div != NULL)
            CYP_HREDUCE_S2(0, acc / (CYP_LOAD(div + j) * vfac));
        else if (op == 0)
            CYP_HREDUCE_S2(0, acc);
        else if (op == 1)
            CYP_HREDUCE_S2(1, acc);
        else
            CYP_HREDUCE_S2(2, acc);
        return;
    }
    for (ptrdiff_t j = 0; j < n; j += L) {
        VT acc;
        if (s == 2) {
            const T* p = buf + 2 * j;
            acc = CYP_SHUF(CYP_LOAD(p), CYP_LOAD(p + L), EVEN);
            for (ptrdiff_t t = 1; t < kw; t++) {
                const T* q = p + t * dw;
                acc = CYP_COMBINE(op, acc, CYP_SHUF(CYP_LOAD(q), CYP_LOAD(q + L),
                                                         EVEN));
            }
        } else if (s == 1) {
            acc = CYP_LOAD(buf + j);
            for (ptrdiff_t t = 1; t < kw; t++)
                acc = CYP_COMBINE(op, acc, CYP_LOAD(buf + j + t * dw));
        } else {
            T lanes[L] = {0};
            for (ptrdiff_t l = 0; l < L && j + l < n; l++) {
                const T* p = buf + (j + l) * s;
                T a = p[0];
                for (ptrdiff_t t = 1; t < kw; t++)
                    a = CYP(cyp_combine1)(op, a, p[t * dw]);
                lanes[l] = a;
            }
            acc = CYP_LOAD(lanes);
        }
        if (div != NULL)
            acc = acc / (CYP_LOAD(div + j) * vfac);   /* div is padded with ones */
        if (j + L <= n)
            CYP_STORE(out + j, acc);
        else
            STOREN(out + j, acc, n - j);
    }
}

/* dst[j] (= | +=) gy[j] / (vfac * div[j]) for j < n: one output row's average-pooling
 * gradient shares, summed over the output rows that cover one input row. */
TGT static void CYP(cyconv_pool_shares)(ptrdiff_t n, const T* restrict gy,
                                                  const T* restrict div, T vfac, int first,
                                                  T* restrict dst)
{
    if (first)
        for (ptrdiff_t j = 0; j < n; j++) dst[j] = gy[j] / (div[j] * vfac);
    else
        for (ptrdiff_t j = 0; j < n; j++) dst[j] += gy[j] / (div[j] * vfac);
}

/* One block of 2*L input columns iw0 + i of the average-pooling gradient for stride 2:
 * column iw takes sh[q - u] for the taps t = r + 2u < kw, where iw + p = 2q + r. Lanes of
 * one parity share r, so each half is a sum of plain loads; one interleave puts them back. */
static inline __attribute__((always_inline)) TGT void CYP(cyp_spread2_block)(
    ptrdiff_t iw0, ptrdiff_t p, ptrdiff_t kw, const T* sh, VT* lo, VT* hi)
{
    VT half[2];
    for (int c = 0; c < 2; c++) {
        ptrdiff_t r = (iw0 + c + p) & 1, q = (iw0 + c + p) >> 1;
        VT a = {0};
        for (ptrdiff_t t = r, u = 0; t < kw; t += 2, u++)
            a += CYP_LOAD(sh + q - u);
        half[c] = a;
    }
    *lo = CYP_SHUF(half[0], half[1], ILO);
    *hi = CYP_SHUF(half[0], half[1], IHI);
}

/* gx[iw] = sum over the windows covering input column iw of their shares, for iw < w:
 * gx[iw] = sum_{t < kw, (iw + p - t) % s == 0} sh[(iw + p - t) / s]. sh is zero-padded so
 * every index read (from -kw to w + 2*L + p) is valid. For strides 1 and 2 each gx element
 * is written once, with no zeroing pass and no read-modify-write of gx. */
TGT static void CYP(cyconv_pool_spread)(ptrdiff_t w, ptrdiff_t s, ptrdiff_t p,
                                                  ptrdiff_t kw, const T* restrict sh,
                                                  T* restrict gx)
{
    ptrdiff_t iw = 0;
    if (s == 2) {
        VT lo, hi;
        for (; iw + 2 * L <= w; iw += 2 * L) {
            CYP(cyp_spread2_block)(iw, p, kw, sh, &lo, &hi);
            CYP_STORE(gx + iw, lo);
            CYP_STORE(gx + iw + L, hi);
        }
        if (iw < w) {
            /* the last, partial block (sh is padded, so it is computed whole): a whole
             * vector where it fits, then a masked store */
            CYP(cyp_spread2_block)(iw, p, kw, sh, &lo, &hi);
            if (iw + L <= w) {
                CYP_STORE(gx + iw, lo);
                lo = hi;
                iw += L;
            }
            if (iw < w)
                STOREN(gx + iw, lo, w - iw);
        }
        return;
    }
    if (s == 1) {
        for (; iw + L <= w; iw += L) {
            VT a = {0};
            for (ptrdiff_t t = 0; t < kw; t++)
                a += CYP_LOAD(sh + iw + p - t);
            CYP_STORE(gx + iw, a);
        }
    }
    if (iw < w && s > 2) {
        /* other strides: each window adds its share to its columns (the row is in L1) */
        for (ptrdiff_t i = iw; i < w; i++)
            gx[i] = 0;
        for (ptrdiff_t q = 0, start = -p; start < w; q++, start += s) {
            ptrdiff_t lo = start > iw ? start : iw, hi = start + kw < w ? start + kw : w;
            for (ptrdiff_t i = lo; i < hi; i++)
                gx[i] += sh[q];
        }
        return;
    }
    for (; iw < w; iw++) {
        T a = 0;
        for (ptrdiff_t t = 0; t < kw; t++)
            a += sh[iw + p - t];   /* the tail of stride 1 */
        gx[iw] = a;
    }
}

/* Max (op 1) / min (op 2) pooling gradient where windows of width 2 tile the row (stride 2,
 * no padding, no dilation): for outputs j < n, select the winner among the nr kernel rows
 * src + a*sd + b*sh (a < nd, b < nh) x 2 columns in row-major window order with the forward's
 * rule (first extremum; the last NaN), then write every covered element of those rows of gx
 * once: gy[j] at the winner, 0 elsewhere. n >= L or the whole row fits one vector pair. */
static inline __attribute__((always_inline)) TGT void CYP(cyp_route2_block)(
    int op, ptrdiff_t j, const T* src, ptrdiff_t nd, ptrdiff_t sd, ptrdiff_t nh, ptrdiff_t sh,
    const T* gy, T* gx, ptrdiff_t gsd, ptrdiff_t gsh)
{
    const VT g = CYP_LOAD(gy + j);
    VT best = {0};
    IT at = {0};
    IT tap = {0};
    const IT one = tap + 1;
    int first = 1;
    for (ptrdiff_t a = 0; a < nd; a++)
        for (ptrdiff_t b = 0; b < nh; b++) {
            const T* p = src + a * sd + b * sh + 2 * j;
            VT v0 = CYP_LOAD(p), v1 = CYP_LOAD(p + L);
            VT e = CYP_SHUF(v0, v1, EVEN), o = CYP_SHUF(v0, v1, ODD);
            if (first) {
                best = e;
                first = 0;
            } else {
                IT take = CYP_TAKES(op, e, best);
                best = CYP_BLEND(best, e, take);
                at = (at & ~take) | (tap & take);
            }
            tap += one;
            IT take = CYP_TAKES(op, o, best);
            best = CYP_BLEND(best, o, take);
            at = (at & ~take) | (tap & take);
            tap += one;
        }
    const VT zero = {0};
    tap = at - at;
    for (ptrdiff_t a = 0; a < nd; a++)
        for (ptrdiff_t b = 0; b < nh; b++) {
            VT e = CYP_BLEND(zero, g, (IT)(at == tap));
            tap += one;
            VT o = CYP_BLEND(zero, g, (IT)(at == tap));
            tap += one;
            T* q = gx + a * gsd + b * gsh + 2 * j;
            VT lo = CYP_SHUF(e, o, ILO), hi = CYP_SHUF(e, o, IHI);
            CYP_STORE(q, lo);
            CYP_STORE(q + L, hi);
        }
}

TGT static void CYP(cyconv_pool_route2)(int op, ptrdiff_t n, const T* src,
                                                  ptrdiff_t nd, ptrdiff_t sd, ptrdiff_t nh,
                                                  ptrdiff_t sh, const T* restrict gy,
                                                  T* gx, ptrdiff_t gsd, ptrdiff_t gsh)
{
    ptrdiff_t j = 0;
    for (; j + L <= n; j += L)
        CYP(cyp_route2_block)(op, j, src, nd, sd, nh, sh, gy, gx, gsd, gsh);
    if (j < n) {
        if (n >= L) {
            /* the last block overlaps the previous one: same selection, same values */
            j = n - L;
            CYP(cyp_route2_block)(op, j, src, nd, sd, nh, sh, gy, gx, gsd, gsh);
        } else {
            /* a row shorter than one vector: scalar, same rule and tap order */
            for (; j < n; j++) {
                T best = src[2 * j];
                ptrdiff_t at = 0, tap = 0;
                for (ptrdiff_t a = 0; a < nd; a++)
                    for (ptrdiff_t b = 0; b < nh; b++)
                        for (ptrdiff_t c = 0; c < 2; c++, tap++) {
                            T v = src[a * sd + b * sh + 2 * j + c];
                            if (tap > 0 && ((op == 1 ? v > best : v < best) || v != v)) {
                                best = v;
                                at = tap;
                            }
                        }
                tap = 0;
                for (ptrdiff_t a = 0; a < nd; a++)
                    for (ptrdiff_t b = 0; b < nh; b++)
                        for (ptrdiff_t c = 0; c < 2; c++, tap++)
                            gx[a * gsd + b * gsh + 2 * j + c] = tap == at ? gy[j] : (T)0;
            }
        }
    }
}

#undef CYP_LOAD
#undef CYP_SHUF
#undef CYP_STORE
#undef CYP_BLEND
#undef CYP_TAKES
#undef CYP_COMBINE
#undef CYP_HREDUCE_S2
#undef CYP_VREDUCE_VECTORS
#undef CYP
#undef CYP_CAT
#undef CYP_CAT_
/* the instance's parameters, so _poolsimd.h can define the next instance */
#undef T
#undef VT
#undef IT
#undef L
#undef SFX
#undef STOREN
#undef LOADN
#undef TGT
#undef EVEN
#undef ODD
#undef ILO
#undef IHI
