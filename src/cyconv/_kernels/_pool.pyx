"""Pooling kernels (max, min, average), forward and backward.

Compute only. Arrays are C-contiguous 5-D (N, C, D, H, W) - 1-D and 2-D pooling are views
with singleton leading dims - and ``Window`` holds kernel, stride, leading padding, dilation
and output size in all three dims. Work is split over (image, channel) planes, so every
thread owns the planes it writes: backward passes need no atomics and are deterministic.
"""
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cython.parallel cimport prange
from libc.string cimport memset
from libc.math cimport isnan, INFINITY
from libc.stdint cimport int32_t, int64_t

from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num


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
    void cyconv_pool_prefetch(const void* base, Py_ssize_t start, Py_ssize_t end)


# this module's view of the ISA in use (_isa.pxd): CYCONV_ISA and select_isa govern pooling too
cyconv_isa_bind(isa_descriptor())


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

# for pool.py, which sizes the scratch rows
SCRATCH_PAD = ROW_PAD


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


ctypedef struct Window:
    Py_ssize_t D, H, W        # input spatial size
    Py_ssize_t KD, KH, KW     # kernel size
    Py_ssize_t SD, SH, SW     # stride
    Py_ssize_t PD, PH, PW     # padding before the first element
    Py_ssize_t QD, QH, QW     # padding after the last element (bounds avg's divisor)
    Py_ssize_t DD, DH, DW     # dilation
    Py_ssize_t OD, OH, OW     # output size


@cython.auto_pickle(False)
cdef class PoolWindow:
    """A pooling window as the kernels take it, packed once per plan (converting a dict to
    the struct on every call cost a small call a tenth of its time). Built from a dict of
    the Window fields."""

    cdef Window w

    def __init__(self, dict window):
        self.w = window


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


cdef void _extremum_one(const floating* xp, const Window* w, Py_ssize_t sd, Py_ssize_t ad,
                        Py_ssize_t bd, Py_ssize_t sh, Py_ssize_t ah, Py_ssize_t bh,
                        Py_ssize_t ow, bint largest, floating* value,
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


cdef void _extremum_plane(const floating* xp, floating* yp, int64_t* ip, bint largest,
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


def extremum_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                     int64_t[:, :, :, :, ::1] indices, bint want_index, bint largest,
                     PoolWindow window, floating[:, ::1] work, int32_t[:, ::1] taps, int num_threads):
    """y = max (largest) or min pooling of x; flat per-plane argmax/argmin into ``indices``
    when ``want_index`` (``indices`` may then be any 5-D int64 array otherwise).

    work, taps : (num_threads, OW + ROW_PAD) scratch rows; work at least
        forward_scratch_length(w) long without ``want_index``.
    """
    cdef Window w = window.w
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    cdef int64_t* ip = &indices[0, 0, 0, 0, 0]
    cdef floating[:, ::1] acc = work
    cdef int32_t[:, ::1] best = taps
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            if want_index:
                _extremum_plane(xp + r * in_plane, yp + r * out_plane, ip + r * out_plane,
                                largest, &w, &acc[omp_get_thread_num(), 0],
                                &best[omp_get_thread_num(), 0], NULL, NULL)
            else:
                _separable_plane(xp + r * in_plane, yp + r * out_plane, &w,
                                 SEP_MAX if largest else SEP_MIN, False,
                                 &acc[omp_get_thread_num(), 0])


cdef bint _windows_tile(const Window* w) noexcept nogil:
    """Windows that tile the input: stride == kernel, no padding, no dilation, no overhang,
    and rows long enough for the row primitives."""
    return (w.SD == w.KD and w.SH == w.KH and w.SW == w.KW and w.DD == 1 and w.DH == 1
            and w.DW == 1 and w.PD == 0 and w.PH == 0 and w.PW == 0
            and w.OD * w.SD <= w.D and w.OH * w.SH <= w.H and w.OW * w.SW <= w.W
            and w.OW >= MIN_ROW and w.KD * w.KH * w.KW > 1)


cdef void _extremum_backward_tiled(const floating* xp, const floating* gyp, floating* gxp,
                                   bint largest, const Window* w, floating* acc,
                                   int32_t* best) noexcept nogil:
    """Max/min backward for windows that tile the input: select each window's winner (same
    rule and tap order as the forward), then write every covered input element once."""
    cdef Py_ssize_t od, oh, td, th, tw, tap, sd, sh, idd, ih, m, n = w.OW, ahead
    cdef Py_ssize_t covered_w = w.OW * w.SW
    cdef const floating* src
    cdef floating* dst
    cdef bint first
    for idd in range(w.D):
        if idd >= w.OD * w.SD:
            memset(gxp + idd * w.H * w.W, 0, w.H * w.W * sizeof(floating))
            continue
        for ih in range(w.OH * w.SH, w.H):
            memset(gxp + (idd * w.H + ih) * w.W, 0, w.W * sizeof(floating))
        if covered_w < w.W:
            for ih in range(w.OH * w.SH):
                memset(gxp + (idd * w.H + ih) * w.W + covered_w, 0,
                       (w.W - covered_w) * sizeof(floating))
    if w.KW == 2:
        # 2-wide windows: select and route in registers, stride-2 de-interleaved (_poolsimd.h)
        ahead = _rows_ahead(w, sizeof(floating))
        for od in range(w.OD):
            for oh in range(w.OH):
                tap = (od * w.SD * w.H + oh * w.SH) * w.W
                if ahead > 0:
                    # the input rows of output row oh + ahead (the forward's prefetch)
                    cyconv_pool_prefetch(xp, (tap + ahead * w.SH * w.W) * <Py_ssize_t>sizeof(floating),
                                         (tap + (ahead + 1) * w.SH * w.W) * <Py_ssize_t>sizeof(floating))
                if floating is float:
                    ISA.pool_route2_f32(SEP_MAX if largest else SEP_MIN, n, xp + tap, w.KD,
                                        w.H * w.W, w.KH, w.W,
                                        gyp + (od * w.OH + oh) * w.OW, gxp + tap,
                                        w.H * w.W, w.W)
                else:
                    ISA.pool_route2_f64(SEP_MAX if largest else SEP_MIN, n, xp + tap, w.KD,
                                        w.H * w.W, w.KH, w.W,
                                        gyp + (od * w.OH + oh) * w.OW, gxp + tap,
                                        w.H * w.W, w.W)
        return
    for od in range(w.OD):
        sd = od * w.SD
        for oh in range(w.OH):
            sh = oh * w.SH
            m = _vector_count(n, w.SW, w.KW - 1,
                              xp + ((sd + w.KD - 1) * w.H + sh + w.KH - 1) * w.W,
                              xp + w.D * w.H * w.W)
            first = True
            for td in range(w.KD):
                for th in range(w.KH):
                    for tw in range(w.KW):
                        src = xp + ((sd + td) * w.H + sh + th) * w.W + tw
                        tap = (td * w.H + th) * w.W + tw
                        if first:
                            _row_init(m, w.SW, src, acc)
                            for ow in range(m):
                                best[ow] = <int32_t>tap
                            first = False
                        else:
                            _row_select(m, w.SW, src, acc, best, <int32_t>tap, largest)
            for td in range(w.KD):
                for th in range(w.KH):
                    dst = gxp + ((sd + td) * w.H + sh + th) * w.W
                    if floating is float:
                        cyconv_pool_route_f32(n, w.KW, best, <int32_t>((td * w.H + th) * w.W),
                                              gyp + (od * w.OH + oh) * w.OW, dst)
                    else:
                        cyconv_pool_route_f64(n, w.KW, best, <int32_t>((td * w.H + th) * w.W),
                                              gyp + (od * w.OH + oh) * w.OW, dst)


def extremum_backward_recompute(const floating[:, :, :, :, ::1] x,
                                const floating[:, :, :, :, ::1] grad_y,
                                floating[:, :, :, :, ::1] grad_x, bint largest, PoolWindow window,
                                floating[:, ::1] work, int32_t[:, ::1] taps, int num_threads):
    """Gradient of max (largest) / min pooling, re-selecting each window's winner from x on
    the fly (no index array is written or read). One thread per (image, channel) plane."""
    cdef Window w = window.w
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    cdef floating[:, ::1] acc = work
    cdef int32_t[:, ::1] best = taps
    cdef bint tiled = _windows_tile(&w) and (w.KD * w.H * w.W < 2147483647)
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            if tiled:
                _extremum_backward_tiled(xp + r * in_plane, gyp + r * out_plane,
                                         gxp + r * in_plane, largest, &w,
                                         &acc[omp_get_thread_num(), 0],
                                         &best[omp_get_thread_num(), 0])
            else:
                _extremum_plane(xp + r * in_plane, NULL, NULL, largest, &w,
                                &acc[omp_get_thread_num(), 0], &best[omp_get_thread_num(), 0],
                                gyp + r * out_plane, gxp + r * in_plane)


def extremum_backward(const floating[:, :, :, :, ::1] grad_y,
                      const int64_t[:, :, :, :, ::1] indices,
                      floating[:, :, :, :, ::1] grad_x, int num_threads):
    """grad_x[plane][indices[plane][o]] += grad_y[plane][o], each plane added in order; an
    index of -1 (a window with no input element) routes nothing."""
    cdef Py_ssize_t planes = grad_x.shape[0] * grad_x.shape[1]
    cdef Py_ssize_t in_plane = grad_x.shape[2] * grad_x.shape[3] * grad_x.shape[4]
    cdef Py_ssize_t out_plane = grad_y.shape[2] * grad_y.shape[3] * grad_y.shape[4]
    cdef Py_ssize_t r, o
    cdef floating* gx
    cdef const floating* gy
    cdef const int64_t* ip
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            gx = &grad_x[0, 0, 0, 0, 0] + r * in_plane
            gy = &grad_y[0, 0, 0, 0, 0] + r * out_plane
            ip = &indices[0, 0, 0, 0, 0] + r * out_plane
            memset(gx, 0, in_plane * sizeof(floating))
            for o in range(out_plane):
                if ip[o] >= 0:
                    gx[ip[o]] += gy[o]


def avg_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                PoolWindow window, bint count_include_pad, Py_ssize_t work_stride,
                int num_threads):
    """y = average pooling of x (no dilation, as PyTorch).

    work_stride : elements between the threads' scratch rows (at least
        forward_scratch_length(w)); the rows are allocated here, as a small call's scratch
        array cost as much as its pooling.
    """
    cdef Window w = window.w
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    cdef floating* acc = <floating*>PyMem_Malloc(num_threads * work_stride * sizeof(floating))
    if acc == NULL:
        raise MemoryError(f"avg_forward: no memory for {num_threads} scratch rows of "
                          f"{work_stride} elements")
    try:
        with nogil:
            for r in prange(planes, schedule="static", num_threads=num_threads):
                _separable_plane(xp + r * in_plane, yp + r * out_plane, &w, SEP_SUM,
                                 count_include_pad, acc + omp_get_thread_num() * work_stride)
    finally:
        PyMem_Free(acc)


def avg_backward(const floating[:, :, :, :, ::1] grad_y, floating[:, :, :, :, ::1] grad_x,
                 PoolWindow window, bint count_include_pad, floating[:, ::1] work, int num_threads):
    """grad_x = gradient of average pooling.

    work : (num_threads, avg_backward_scratch_length(w)) scratch, zero-filled.
    """
    cdef Window w = window.w
    cdef Py_ssize_t planes = grad_x.shape[0] * grad_x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    cdef floating[:, ::1] share = work
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _avg_backward_separable(gyp + r * out_plane, gxp + r * in_plane, &w,
                                    count_include_pad, &share[omp_get_thread_num(), 0])


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


def forward_scratch_length(PoolWindow window):
    """Scratch elements per thread for avg_forward and values-only extremum_forward."""
    cdef Window w = window.w
    if _wide_window(&w):
        return w.W + 2 * w.OW
    return _sep_buffer_length(&w) + w.OW + CYCONV_POOL_LANES


def avg_backward_scratch_length(PoolWindow window):
    """Scratch elements per thread for avg_backward."""
    cdef Window w = window.w
    if _wide_window(&w):
        return 2 * w.OW
    return _share_length(&w) + w.OW


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


cdef void _fill(floating* p, Py_ssize_t n, floating value) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        p[i] = value


cdef void _clipped_row(int op, const floating* row, const floating* div, floating vfac,
                       const Window* w, floating* out) noexcept nogil:
    """The horizontal reduction of one row for _wide_window: real taps only (padding never
    changes a sum and is never selected)."""
    cdef Py_ssize_t ow, a, b, t, start
    cdef floating acc, v
    for ow in range(w.OW):
        start = ow * w.SW - w.PW
        _taps(start, w.KW, w.DW, w.W, &a, &b)
        acc = 0 if op == SEP_SUM else (-INFINITY if op == SEP_MAX else INFINITY)
        for t in range(a, b):
            v = row[start + t * w.DW]
            if op == SEP_SUM:
                acc = acc + v
            elif (v > acc if op == SEP_MAX else v < acc) or v != v:
                acc = v
        out[ow] = acc / (vfac * div[ow]) if op == SEP_SUM else acc


# How far ahead (bytes of input) the forward prefetches the rows the next windows add. The
# hardware prefetcher alone left the input loads of the vertical pass stalling on memory
# (80% of its samples on one load in `perf annotate`): its streams restart at every 4 KB
# page. A/B on (8, 64, 112, 112) float32, one process, medians of 21, 1 / 2 threads
# (OMP_WAIT_POLICY=passive), avg 3x3/2 pad 1 fwd, in output rows ahead (one is 896 bytes):
# none 1.81 / 2.63 ms, 1 row 1.36 / 1.71, 2 rows 1.27-1.51 / 1.36-1.55, 4 rows
# 1.26-1.36 / 1.20-1.54, 8 rows 1.33 / 1.69.
cdef Py_ssize_t _prefetch_bytes = 4096


def set_prefetch_bytes(Py_ssize_t nbytes):
    """Bytes of input ahead that the forward prefetches (0: none); returns the previous
    value. For measurements and tests: results do not depend on it."""
    global _prefetch_bytes
    previous = _prefetch_bytes
    _prefetch_bytes = nbytes
    return previous


def isa_level():
    """The ISA level of the separable row kernels this module runs: the level in use
    (_isa.current_isa), read through this module's own view of the descriptor. For tests."""
    return ISA.level


cdef Py_ssize_t _rows_ahead(const Window* w, Py_ssize_t itemsize) noexcept nogil:
    """Row prefetch distance for windows of one depth slice, where the next rows are
    contiguous: the output row whose new input rows start about _prefetch_bytes ahead (0: no
    prefetch). Only for windows that fit the padded plane and up to 64 KB of input per output
    row: clipped 2**31-tap windows and 2**40 strides would overflow the offsets, and longer
    rows stream well enough within the row."""
    cdef Py_ssize_t step = w.SH * w.W * itemsize
    if (w.KD == 1 and _prefetch_bytes > 0 and w.SH <= w.H and w.W <= 65536
            and (w.KH - 1) * w.DH <= w.H + w.PH + w.QH and 0 < step <= 65536):
        return (_prefetch_bytes + step - 1) // step
    return 0


cdef void _separable_plane(const floating* xp, floating* yp, const Window* w, int op,
                           bint count_include_pad, floating* scratch) noexcept nogil:
    """Max (SEP_MAX), min (SEP_MIN) or average (SEP_SUM) pooling values of one plane."""
    cdef Py_ssize_t od, oh, ow, sd, sh, ad, bd, ah, bh
    cdef bint wide = _wide_window(w)
    cdef Py_ssize_t lead = 0 if wide else w.PW
    cdef Py_ssize_t blen = w.W if wide else _sep_buffer_length(w)
    cdef floating* buf = scratch
    cdef floating* div = scratch + blen
    cdef floating neutral = 0, vfac = 1
    cdef Py_ssize_t nxt, ahead = _rows_ahead(w, sizeof(floating))
    if op == SEP_MAX:
        neutral = -INFINITY
    elif op == SEP_MIN:
        neutral = INFINITY
    _fill(buf, lead, neutral)
    _fill(buf + lead + w.W, blen - lead - w.W, neutral)
    if op == SEP_SUM:
        for ow in range(w.OW):
            div[ow] = <floating>_avg_factor(ow, w.SW, w.PW, w.KW, w.W, w.QW, count_include_pad)
        if not wide:
            # whole-vector loads past the row's end divide by one
            _fill(div + w.OW, CYCONV_POOL_LANES, <floating>1)
    for od in range(w.OD):
        sd = od * w.SD - w.PD
        _taps(sd, w.KD, w.DD, w.D, &ad, &bd)
        for oh in range(w.OH):
            sh = oh * w.SH - w.PH
            _taps(sh, w.KH, w.DH, w.H, &ah, &bh)
            if ahead > 0:
                # the rows that output row oh + ahead adds to its window (ends past the plane
                # reach into the next plane, which static scheduling gives the same thread)
                nxt = (oh + ahead) * w.SH - w.PH + (w.KH - 1) * w.DH + 1
                cyconv_pool_prefetch(xp, ((sd * w.H + nxt - w.SH) * w.W) * <Py_ssize_t>sizeof(floating),
                                     ((sd * w.H + nxt) * w.W) * <Py_ssize_t>sizeof(floating))
            if bd > ad and bh > ah:
                if floating is float:
                    ISA.pool_vreduce_f32(op, w.W, xp + ((sd + ad * w.DD) * w.H + sh
                                                        + ah * w.DH) * w.W,
                                         bd - ad, w.DD * w.H * w.W, bh - ah, w.DH * w.W,
                                         buf + lead)
                else:
                    ISA.pool_vreduce_f64(op, w.W, xp + ((sd + ad * w.DD) * w.H + sh
                                                        + ah * w.DH) * w.W,
                                         bd - ad, w.DD * w.H * w.W, bh - ah, w.DH * w.W,
                                         buf + lead)
            else:
                _fill(buf + lead, w.W, neutral)
            if op == SEP_SUM:
                vfac = <floating>(
                    _avg_factor(od, w.SD, w.PD, w.KD, w.D, w.QD, count_include_pad)
                    * _avg_factor(oh, w.SH, w.PH, w.KH, w.H, w.QH, count_include_pad))
            if wide:
                _clipped_row(op, buf, div, vfac, w, yp + (od * w.OH + oh) * w.OW)
            elif floating is float:
                ISA.pool_hreduce_f32(op, w.OW, w.SW, w.KW, w.DW, buf,
                                     div if op == SEP_SUM else NULL, vfac,
                                     yp + (od * w.OH + oh) * w.OW)
            else:
                ISA.pool_hreduce_f64(op, w.OW, w.SW, w.KW, w.DW, buf,
                                     div if op == SEP_SUM else NULL, vfac,
                                     yp + (od * w.OH + oh) * w.OW)


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


cdef void _avg_backward_separable(const floating* gy, floating* gx, const Window* w,
                                  bint count_include_pad, floating* scratch) noexcept nogil:
    """Average-pooling gradient of one plane, one input row at a time: the shares (gradient /
    divisor) of the output rows covering it, summed, then spread along the row."""
    cdef Py_ssize_t idd, ih, od, oh, ow, dlo, dhi, hlo, hhi
    cdef bint wide = _wide_window(w)
    cdef Py_ssize_t slen = w.OW if wide else _share_length(w)
    cdef floating* shares = scratch if wide else scratch + _share_padding(w)
    cdef floating* div = scratch + slen
    cdef Py_ssize_t iw, wlo, whi
    cdef floating total
    cdef floating vfac
    cdef bint first
    # scratch arrives zeroed (avg_backward's contract) and only shares[0:OW] is ever
    # written, so the padding around the shares stays zero for every plane
    for ow in range(w.OW):
        div[ow] = <floating>_avg_factor(ow, w.SW, w.PW, w.KW, w.W, w.QW, count_include_pad)
    for idd in range(w.D):
        _covering(idd, w.SD, w.PD, w.KD, w.OD, &dlo, &dhi)
        for ih in range(w.H):
            _covering(ih, w.SH, w.PH, w.KH, w.OH, &hlo, &hhi)
            if dhi == dlo or hhi == hlo:
                memset(gx + (idd * w.H + ih) * w.W, 0, w.W * sizeof(floating))
                continue
            first = True
            for od in range(dlo, dhi):
                for oh in range(hlo, hhi):
                    vfac = <floating>(
                        _avg_factor(od, w.SD, w.PD, w.KD, w.D, w.QD, count_include_pad)
                        * _avg_factor(oh, w.SH, w.PH, w.KH, w.H, w.QH, count_include_pad))
                    if floating is float:
                        ISA.pool_shares_f32(w.OW, gy + (od * w.OH + oh) * w.OW, div, vfac,
                                            first, shares)
                    else:
                        ISA.pool_shares_f64(w.OW, gy + (od * w.OH + oh) * w.OW, div, vfac,
                                            first, shares)
                    first = False
            if wide:
                # each input column sums the shares of the outputs covering it
                for iw in range(w.W):
                    _covering(iw, w.SW, w.PW, w.KW, w.OW, &wlo, &whi)
                    total = 0
                    for ow in range(wlo, whi):
                        total = total + shares[ow]
                    gx[(idd * w.H + ih) * w.W + iw] = total
            elif floating is float:
                ISA.pool_spread_f32(w.W, w.SW, w.PW, w.KW, shares,
                                    gx + (idd * w.H + ih) * w.W)
            else:
                ISA.pool_spread_f64(w.W, w.SW, w.PW, w.KW, shares,
                                    gx + (idd * w.H + ih) * w.W)
