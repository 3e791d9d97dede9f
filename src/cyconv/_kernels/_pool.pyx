"""Pooling kernels (max, min, average), forward and backward.

Compute only. Arrays are C-contiguous 5-D (N, C, D, H, W) - 1-D and 2-D pooling are views
with singleton leading dims - and ``Window`` holds kernel, stride, leading padding, dilation
and output size in all three dims. Work is split over (image, channel) planes, so every
thread owns the planes it writes: backward passes need no atomics and are deterministic.
"""
from cython.parallel cimport prange
from libc.string cimport memset
from libc.math cimport isnan
from libc.stdint cimport int64_t

from cyconv._kernels._fused cimport floating


ctypedef struct Window:
    Py_ssize_t D, H, W        # input spatial size
    Py_ssize_t KD, KH, KW     # kernel size
    Py_ssize_t SD, SH, SW     # stride
    Py_ssize_t PD, PH, PW     # padding before the first element
    Py_ssize_t QD, QH, QW     # padding after the last element (bounds avg's divisor)
    Py_ssize_t DD, DH, DW     # dilation
    Py_ssize_t OD, OH, OW     # output size


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


cdef void _extremum_plane(const floating* xp, floating* yp, int64_t* ip, bint want_index,
                          bint largest, const Window* w) noexcept nogil:
    """Max (largest) or min pooling of one plane, PyTorch's selection rule:
    a strictly better value or any NaN takes over; padded positions are never candidates."""
    cdef Py_ssize_t od, oh, ow, sd, sh, sw, ad, bd, ah, bh, aw, bw, td, th, tw, pos, best_pos
    cdef Py_ssize_t row, out
    cdef floating v, best
    cdef bint found
    for od in range(w.OD):
        sd = od * w.SD - w.PD
        _taps(sd, w.KD, w.DD, w.D, &ad, &bd)
        for oh in range(w.OH):
            sh = oh * w.SH - w.PH
            _taps(sh, w.KH, w.DH, w.H, &ah, &bh)
            for ow in range(w.OW):
                sw = ow * w.SW - w.PW
                _taps(sw, w.KW, w.DW, w.W, &aw, &bw)
                found = False
                best = 0
                best_pos = 0
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
                out = (od * w.OH + oh) * w.OW + ow
                yp[out] = best
                if want_index:
                    ip[out] = best_pos


def extremum_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                     int64_t[:, :, :, :, ::1] indices, bint want_index, bint largest,
                     Window w, int num_threads):
    """y = max (largest) or min pooling of x; flat per-plane argmax/argmin into ``indices``
    when ``want_index`` (``indices`` may then be any 5-D int64 array otherwise)."""
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    cdef int64_t* ip = &indices[0, 0, 0, 0, 0]
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _extremum_plane(xp + r * in_plane, yp + r * out_plane,
                            ip + r * out_plane if want_index else ip, want_index, largest, &w)


def extremum_backward(const floating[:, :, :, :, ::1] grad_y,
                      const int64_t[:, :, :, :, ::1] indices,
                      floating[:, :, :, :, ::1] grad_x, int num_threads):
    """grad_x[plane][indices[plane][o]] += grad_y[plane][o], each plane added in order."""
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
                gx[ip[o]] += gy[o]


cdef inline double _divisor(Py_ssize_t sd, Py_ssize_t sh, Py_ssize_t sw, const Window* w,
                            bint count_include_pad, Py_ssize_t nd, Py_ssize_t nh,
                            Py_ssize_t nw) noexcept nogil:
    """PyTorch's avg-pool divisor: the window clipped to the padded input, or the number of
    real elements (nd*nh*nw) without count_include_pad."""
    cdef Py_ssize_t ed, eh, ew
    if not count_include_pad:
        return <double>(nd * nh * nw)
    ed = sd + w.KD
    if ed > w.D + w.QD:
        ed = w.D + w.QD
    eh = sh + w.KH
    if eh > w.H + w.QH:
        eh = w.H + w.QH
    ew = sw + w.KW
    if ew > w.W + w.QW:
        ew = w.W + w.QW
    return <double>((ed - sd) * (eh - sh) * (ew - sw))


cdef void _avg_plane(const floating* xp, floating* yp, const Window* w,
                     bint count_include_pad) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, sd, sh, sw, ad, bd, ah, bh, aw, bw, td, th, tw, row
    cdef floating total
    for od in range(w.OD):
        sd = od * w.SD - w.PD
        _taps(sd, w.KD, 1, w.D, &ad, &bd)
        for oh in range(w.OH):
            sh = oh * w.SH - w.PH
            _taps(sh, w.KH, 1, w.H, &ah, &bh)
            for ow in range(w.OW):
                sw = ow * w.SW - w.PW
                _taps(sw, w.KW, 1, w.W, &aw, &bw)
                total = 0
                for td in range(ad, bd):
                    for th in range(ah, bh):
                        row = ((sd + td) * w.H + sh + th) * w.W + sw
                        for tw in range(aw, bw):
                            total = total + xp[row + tw]
                yp[(od * w.OH + oh) * w.OW + ow] = <floating>(
                    total / _divisor(sd, sh, sw, w, count_include_pad, bd - ad, bh - ah, bw - aw))


def avg_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y, Window w,
                bint count_include_pad, int num_threads):
    """y = average pooling of x (no dilation, as PyTorch)."""
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _avg_plane(xp + r * in_plane, yp + r * out_plane, &w, count_include_pad)


cdef void _avg_backward_plane(const floating* gy, floating* gx, const Window* w,
                              bint count_include_pad) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, sd, sh, sw, ad, bd, ah, bh, aw, bw, td, th, tw, row
    cdef floating share
    memset(gx, 0, w.D * w.H * w.W * sizeof(floating))
    for od in range(w.OD):
        sd = od * w.SD - w.PD
        _taps(sd, w.KD, 1, w.D, &ad, &bd)
        for oh in range(w.OH):
            sh = oh * w.SH - w.PH
            _taps(sh, w.KH, 1, w.H, &ah, &bh)
            for ow in range(w.OW):
                sw = ow * w.SW - w.PW
                _taps(sw, w.KW, 1, w.W, &aw, &bw)
                share = <floating>(gy[(od * w.OH + oh) * w.OW + ow] / _divisor(
                    sd, sh, sw, w, count_include_pad, bd - ad, bh - ah, bw - aw))
                for td in range(ad, bd):
                    for th in range(ah, bh):
                        row = ((sd + td) * w.H + sh + th) * w.W + sw
                        for tw in range(aw, bw):
                            gx[row + tw] += share


def avg_backward(const floating[:, :, :, :, ::1] grad_y, floating[:, :, :, :, ::1] grad_x,
                 Window w, bint count_include_pad, int num_threads):
    """grad_x = gradient of average pooling: each output's share to its real elements."""
    cdef Py_ssize_t planes = grad_x.shape[0] * grad_x.shape[1]
    cdef Py_ssize_t in_plane = w.D * w.H * w.W, out_plane = w.OD * w.OH * w.OW
    cdef Py_ssize_t r
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _avg_backward_plane(gyp + r * out_plane, gxp + r * in_plane, &w, count_include_pad)
