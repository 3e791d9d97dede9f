# What the pooling kernel modules share (_pool.pyx: the forwards, _pool_backward.pyx: the
# gradients): the window struct, the C rows they call, and the inline geometry helpers and
# per-plane max/min selection both passes run. Compute only, as the modules.
from libc.string cimport memset
from libc.math cimport isnan, INFINITY
from libc.stdint cimport int32_t, int64_t

from cyconv._kernels._fused cimport floating


cdef extern from "_poolrows.h" nogil:
    void cyconv_pool_init_f32(Py_ssize_t n, Py_ssize_t s, const float* src, float* acc)
    void cyconv_pool_init_f64(Py_ssize_t n, Py_ssize_t s, const double* src, double* acc)
    void cyconv_pool_argmax_f32(Py_ssize_t n, Py_ssize_t s, const float* src, float* acc,
                                int32_t* best, int32_t tap)
    void cyconv_pool_argmax_f64(Py_ssize_t n, Py_ssize_t s, const double* src, double* acc,
                                int32_t* best, int32_t tap)
    void cyconv_pool_argmin_f32(Py_ssize_t n, Py_ssize_t s, const float* src, float* acc,
                                int32_t* best, int32_t tap)
    void cyconv_pool_argmin_f64(Py_ssize_t n, Py_ssize_t s, const double* src, double* acc,
                                int32_t* best, int32_t tap)
    void cyconv_pool_route_f32(Py_ssize_t n, Py_ssize_t kw, const int32_t* best, int32_t tap0,
                               const float* gy, float* dst)
    void cyconv_pool_route_f64(Py_ssize_t n, Py_ssize_t kw, const int32_t* best, int32_t tap0,
                               const double* gy, double* dst)


cdef extern from "_pool_common.h" nogil:
    int CYCONV_POOL_LANES


ctypedef struct Window:
    Py_ssize_t D, H, W        # input spatial size
    Py_ssize_t KD, KH, KW     # kernel size
    Py_ssize_t SD, SH, SW     # stride
    Py_ssize_t PD, PH, PW     # padding before the first element
    Py_ssize_t QD, QH, QW     # padding after the last element (bounds avg's divisor)
    Py_ssize_t DD, DH, DW     # dilation
    Py_ssize_t OD, OH, OW     # output size


cdef inline void _row_init(Py_ssize_t n, Py_ssize_t s, const floating* src,
                           floating* acc) noexcept nogil:
    if floating is float:
        cyconv_pool_init_f32(n, s, src, acc)
    else:
        cyconv_pool_init_f64(n, s, src, acc)


cdef inline void _row_select(Py_ssize_t n, Py_ssize_t s, const floating* src, floating* acc,
                             int32_t* best, int32_t tap, bint largest) noexcept nogil:
    if floating is float:
        if largest:
            cyconv_pool_argmax_f32(n, s, src, acc, best, tap)
        else:
            cyconv_pool_argmin_f32(n, s, src, acc, best, tap)
    else:
        if largest:
            cyconv_pool_argmax_f64(n, s, src, acc, best, tap)
        else:
            cyconv_pool_argmin_f64(n, s, src, acc, best, tap)


cdef enum:
    # Interior rows shorter than this go through the scalar path: a row-primitive call per
    # tap costs more than it saves on a handful of outputs (e.g. global pooling).
    MIN_ROW = 8


cdef enum:
    # The per-tap selection rows (argmax/argmin) are run to a multiple of this many outputs
    # when the extra reads stay inside the plane: whole vectors instead of a scalar tail; the
    # extra outputs are computed on real data and dropped. Scratch rows are OW + ROW_PAD long.
    # (Measured: a win for the selection rows, a loss for the whole-row reductions.)
    ROW_PAD = 16


cdef inline Py_ssize_t _vector_count(Py_ssize_t n, Py_ssize_t stride, Py_ssize_t reach,
                                     const floating* last_src,
                                     const floating* limit) noexcept nogil:
    """n rounded up to a multiple of ROW_PAD if the farthest read (from ``last_src``, the
    row start of the last tap row, ``reach`` past the last window start) stays below
    ``limit``; else n."""
    cdef Py_ssize_t m = (n + ROW_PAD - 1) // ROW_PAD * ROW_PAD
    if last_src + (m - 1) * stride + reach < limit:
        return m
    return n


cdef inline Py_ssize_t _interior(const Window* w, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Output columns [lo, hi) whose windows lie wholly inside the input along W; these go
    through the row primitives. Returns hi - lo, 0 when too few for the primitives to pay
    (then lo = hi = OW and every column takes the scalar path)."""
    cdef Py_ssize_t last = w.W - 1 + w.PW - (w.KW - 1) * w.DW
    lo[0] = (w.PW + w.SW - 1) // w.SW
    hi[0] = last // w.SW + 1 if last >= 0 else 0
    if hi[0] > w.OW:
        hi[0] = w.OW
    if hi[0] - lo[0] < MIN_ROW:
        lo[0] = w.OW
        hi[0] = w.OW
    return hi[0] - lo[0]


cdef inline void _taps(Py_ssize_t start, Py_ssize_t k, Py_ssize_t dil, Py_ssize_t size,
                       Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Taps t in [lo, hi) with start + t*dil inside [0, size): clipped once per window."""
    cdef Py_ssize_t a = 0, b = k
    if start < 0:
        a = (-start + dil - 1) // dil
    if start + (k - 1) * dil >= size:
        b = (size - 1 - start) // dil + 1 if size - 1 >= start else 0
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b


cdef inline void _extremum_one(const floating* xp, const Window* w, Py_ssize_t sd,
                               Py_ssize_t ad, Py_ssize_t bd, Py_ssize_t sh, Py_ssize_t ah,
                               Py_ssize_t bh, Py_ssize_t ow, bint largest, floating* value,
                               Py_ssize_t* position) noexcept nogil:
    """One window, scalar: a strictly better value or any NaN takes over (PyTorch's rule);
    padded positions are never candidates. A window with no input element (dilated, in the
    padding) gives -inf (min: +inf), as PyTorch, at position -1."""
    cdef Py_ssize_t sw = ow * w.SW - w.PW, aw, bw, td, th, tw, row, pos, best_pos = -1
    cdef floating v, best = -INFINITY if largest else INFINITY
    cdef bint found = False
    _taps(sw, w.KW, w.DW, w.W, &aw, &bw)
    for td in range(ad, bd):
        for th in range(ah, bh):
            row = ((sd + td * w.DD) * w.H + sh + th * w.DH) * w.W + sw
            for tw in range(aw, bw):
                pos = row + tw * w.DW
                v = xp[pos]
                if not found or isnan(v) or (v > best if largest else v < best):
                    best = v
                    best_pos = pos
                    found = True
    value[0] = best
    position[0] = best_pos


cdef inline void _extremum_emit_one(const floating* xp, floating* yp, int64_t* ip,
                                    bint want_index, bint largest, const Window* w,
                                    Py_ssize_t sd, Py_ssize_t ad, Py_ssize_t bd, Py_ssize_t sh,
                                    Py_ssize_t ah, Py_ssize_t bh, Py_ssize_t ow, Py_ssize_t out,
                                    const floating* gyp, floating* gxp) noexcept nogil:
    """Select one edge window and write its value/index, or add its gradient (none from a
    window with no input element)."""
    cdef floating value
    cdef Py_ssize_t pos
    _extremum_one(xp, w, sd, ad, bd, sh, ah, bh, ow, largest, &value, &pos)
    if gxp != NULL:
        if pos >= 0:
            gxp[pos] += gyp[out + ow]
    else:
        yp[out + ow] = value
        if want_index:
            ip[out + ow] = pos


cdef inline void _extremum_plane(const floating* xp, floating* yp, int64_t* ip, bint largest,
                                 const Window* w, floating* acc, int32_t* best,
                                 const floating* gyp, floating* gxp) noexcept nogil:
    """Max (largest) or min pooling of one plane.

    Interior columns go tap by tap through the vectorized row primitives (same tap order,
    so the same selection as the scalar rule); edge columns, and rows too short to gain
    from the row primitives, are done one by one. Forward (gxp == NULL): writes y and the
    flat indices into ip. Backward (gxp != NULL): adds each grad_y to the selected
    input of grad_x without materializing indices.
    """
    cdef Py_ssize_t od, oh, ow, sd, sh, ad, bd, ah, bh, td, th, tw, lo, hi, n, m, out, pos, tap
    cdef Py_ssize_t rn
    cdef const floating* src
    cdef bint first
    cdef Py_ssize_t origin
    cdef bint scatter = gxp != NULL
    if scatter:
        memset(gxp, 0, w.D * w.H * w.W * sizeof(floating))
    n = _interior(w, &lo, &hi)
    # tap offsets are kept in int32 rows: windows spanning 2**31 elements take the scalar path
    if (w.KD - 1) * w.DD * w.H * w.W + (w.KH - 1) * w.DH * w.W + (w.KW - 1) * w.DW >= 2147483647:
        lo = hi = w.OW
        n = 0
    for od in range(w.OD):
        sd = od * w.SD - w.PD
        _taps(sd, w.KD, w.DD, w.D, &ad, &bd)
        for oh in range(w.OH):
            sh = oh * w.SH - w.PH
            _taps(sh, w.KH, w.DH, w.H, &ah, &bh)
            out = (od * w.OH + oh) * w.OW
            # a row whose windows hold no input row (dilated, in the padding) takes the
            # scalar path, which writes their -inf/+inf
            rn = n if bd > ad and bh > ah else 0
            if rn > 0:
                m = _vector_count(n, w.SW, (w.KW - 1) * w.DW,
                                  xp + ((sd + (bd - 1) * w.DD) * w.H + sh + (bh - 1) * w.DH) * w.W
                                  + lo * w.SW - w.PW, xp + w.D * w.H * w.W)
                first = True
                for td in range(ad, bd):
                    for th in range(ah, bh):
                        for tw in range(w.KW):
                            src = xp + ((sd + td * w.DD) * w.H + sh + th * w.DH) * w.W \
                                + lo * w.SW - w.PW + tw * w.DW
                            # the tap is remembered as its offset from the window origin
                            tap = ((td * w.DD) * w.H + th * w.DH) * w.W + tw * w.DW
                            if first:
                                _row_init(m, w.SW, src, acc)
                                for ow in range(m):
                                    best[ow] = <int32_t>tap
                                first = False
                            else:
                                _row_select(m, w.SW, src, acc, best, <int32_t>tap, largest)
            # outputs in order, so gradients that meet in one input add up in the same order
            # as with an index array
            for ow in range(lo if rn > 0 else w.OW):
                _extremum_emit_one(xp, yp, ip, not scatter, largest, w, sd, ad, bd, sh, ah, bh,
                                   ow, out, gyp, gxp)
            origin = (sd * w.H + sh) * w.W - w.PW
            for ow in range(lo, hi if rn > 0 else lo):
                pos = origin + ow * w.SW + best[ow - lo]
                if scatter:
                    gxp[pos] += gyp[out + ow]
                else:
                    yp[out + ow] = acc[ow - lo]
                    ip[out + ow] = pos
            for ow in range(hi if rn > 0 else w.OW, w.OW):
                _extremum_emit_one(xp, yp, ip, not scatter, largest, w, sd, ad, bd, sh, ah, bh,
                                   ow, out, gyp, gxp)


# ---- separable row kernels (_poolsimd.h) -------------------------------------------------
# A window reduction is done in two passes per output row: an elementwise ("vertical")
# reduction of the kernel's input rows into an L1 row buffer, padded with the reduction's
# neutral value, then a strided ("horizontal") reduction of that buffer, whole vectors with
# stride-2 de-interleaving. Padding, ceil_mode overhang and the row ends need no edge code:
# they read the buffer's padding. The average-pooling gradient is the transpose: the shares
# of the output rows covering an input row, summed, then spread along the row; every element
# of grad_x is written once.

cdef enum:
    SEP_SUM = 0
    SEP_MAX = 1
    SEP_MIN = 2


cdef inline Py_ssize_t _sep_buffer_length(const Window* w) noexcept nogil:
    """Row buffer of the forward pass: leading padding, the row, then room for the farthest
    tap of the last output plus a two-vector load (the de-interleaving reads)."""
    cdef Py_ssize_t reach = (w.OW - 1) * w.SW + (w.KW - 1) * w.DW + 1
    if reach < w.PW + w.W:
        reach = w.PW + w.W
    return reach + 2 * CYCONV_POOL_LANES + 1


cdef inline Py_ssize_t _share_padding(const Window* w) noexcept nogil:
    """Zeros before the shares row: taps left of the first output read them."""
    return w.KW + 2


cdef inline Py_ssize_t _share_length(const Window* w) noexcept nogil:
    return (_share_padding(w) + w.OW + w.W + w.PW + w.KW + 4 * CYCONV_POOL_LANES)


cdef inline bint _wide_window(const Window* w) noexcept nogil:
    """Windows (or their padding) so much wider than the row that padded row buffers would
    be mostly padding, e.g. a 2**31-tap window clipped to a few columns: these rows take a
    clipped scalar loop over the real columns, with buffers the size of the row."""
    cdef Py_ssize_t limit = 16 * (w.W + w.OW) + 4096
    return _sep_buffer_length(w) > limit or _share_length(w) > limit


cdef inline Py_ssize_t _real_count(Py_ssize_t start, Py_ssize_t k, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t a, b
    _taps(start, k, 1, size, &a, &b)
    return b - a


cdef inline Py_ssize_t _avg_factor(Py_ssize_t o, Py_ssize_t s, Py_ssize_t p, Py_ssize_t k,
                                   Py_ssize_t size, Py_ssize_t q,
                                   bint count_include_pad) noexcept nogil:
    """One dim's factor of the average's divisor (the divisor is their product): the window
    clipped to the padded input, or its number of real elements."""
    cdef Py_ssize_t start = o * s - p, end
    if not count_include_pad:
        return _real_count(start, k, size)
    end = start + k
    if end > size + q:
        end = size + q
    return end - start


cdef inline void _fill(floating* p, Py_ssize_t n, floating value) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        p[i] = value


cdef inline Py_ssize_t _rows_ahead(const Window* w, Py_ssize_t itemsize,
                                   Py_ssize_t prefetch_bytes) noexcept nogil:
    """Row prefetch distance for windows of one depth slice, where the next rows are
    contiguous: the output row whose new input rows start about ``prefetch_bytes`` (the
    setting of _pool.set_prefetch_bytes) ahead (0: no prefetch). Only for windows that fit
    the padded plane and up to 64 KB of input per output row: clipped 2**31-tap windows and
    2**40 strides would overflow the offsets, and longer rows stream well enough within the
    row."""
    cdef Py_ssize_t step = w.SH * w.W * itemsize
    if (w.KD == 1 and prefetch_bytes > 0 and w.SH <= w.H and w.W <= 65536
            and (w.KH - 1) * w.DH <= w.H + w.PH + w.QH and 0 < step <= 65536):
        return (prefetch_bytes + step - 1) // step
    return 0


cdef inline void _covering(Py_ssize_t i, Py_ssize_t s, Py_ssize_t p, Py_ssize_t k,
                           Py_ssize_t n, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Outputs o in [lo, hi) whose windows [o*s - p, o*s - p + k) contain input index i."""
    cdef Py_ssize_t first_end = i + p - k + 1   # lo = ceil(first_end / s), at least 0
    lo[0] = (first_end + s - 1) // s if first_end > 0 else 0
    hi[0] = (i + p) // s + 1
    if hi[0] > n:
        hi[0] = n
    if hi[0] < lo[0]:
        hi[0] = lo[0]
