"""Pooling kernels (max, min, average): the gradients. The forwards, the packed window and
the scratch sizes are in _pool.pyx, what both share in _pool_core.pxd.

Compute only, on the forwards' 5-D arrays and windows. Work is split over (image, channel)
planes, so every thread owns the planes of grad_x it writes: no atomics, and the same bits
for any thread count.
"""
from cython.parallel cimport prange
from libc.string cimport memset
from libc.stdint cimport int32_t, int64_t

from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._pool cimport PoolWindow, prefetch_bytes
from cyconv._kernels._pool_core cimport (
    MIN_ROW, SEP_MAX, SEP_MIN, Window, _avg_factor, _covering, _extremum_plane, _row_init,
    _row_select, _rows_ahead, _share_length, _share_padding, _vector_count, _wide_window,
    cyconv_pool_route_f32, cyconv_pool_route_f64)
from cyconv._kernels._prefetch cimport cyconv_prefetch, cyconv_prefetch_write


# this module's view of the ISA in use (_isa.pxd), as _pool.pyx's
cyconv_isa_bind(isa_descriptor())


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
    cdef Py_ssize_t od, oh, td, th, tw, tap, sd, sh, idd, ih, m, n = w.OW, ahead, lo, hi
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
        ahead = _rows_ahead(w, sizeof(floating), prefetch_bytes())
        for od in range(w.OD):
            for oh in range(w.OH):
                tap = (od * w.SD * w.H + oh * w.SH) * w.W
                if ahead > 0:
                    # the input rows of output row oh + ahead (the forward's prefetch); in
                    # float64 also the rows of grad_x it writes, whose stores otherwise wait
                    # on their lines (benchmarks/README.md: no gain in float32)
                    lo = (tap + ahead * w.SH * w.W) * <Py_ssize_t>sizeof(floating)
                    hi = (tap + (ahead + 1) * w.SH * w.W) * <Py_ssize_t>sizeof(floating)
                    cyconv_prefetch(xp, lo, hi)
                    if floating is double:
                        cyconv_prefetch_write(gxp, lo, hi)
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
