"""Adaptive (and global) pooling kernels: average and max, forward and backward.

Compute only. Arrays are C-contiguous 5-D (N, C, D, H, W): 1-D and 2-D pooling run on views
with singleton leading dims, and the API merges a trailing dim whose output size is 1 into
the dim before it (a bin that spans whole rows is one contiguous run), so global pooling is a
plain reduction over each plane, handed to the vector helpers of _adaptive_rows.h 64 planes
at a time. The bin limits come precomputed from
``cyconv._shapes.adaptive_bins``. One thread owns each (image, channel) plane and the
schedule is static, so the backward passes need no atomics and every result is bitwise the
same for any thread count.
"""
from cython.parallel cimport prange
from libc.string cimport memset
from libc.math cimport isnan
from libc.stdint cimport int64_t

from cyconv._kernels._fused cimport floating
from cyconv._kernels._omp cimport omp_get_thread_num


ctypedef struct Bins:
    Py_ssize_t D, H, W                 # input spatial size
    Py_ssize_t OD, OH, OW              # output size
    const Py_ssize_t* d0               # bin od covers depths [d0[od], d1[od])
    const Py_ssize_t* d1
    const Py_ssize_t* h0               # bin oh covers rows [h0[oh], h1[oh])
    const Py_ssize_t* h1
    const Py_ssize_t* w0               # bin ow covers columns [w0[ow], w1[ow])
    const Py_ssize_t* w1


cdef Bins _make_bins(Py_ssize_t* in_shape, Py_ssize_t* out_shape,
                     const Py_ssize_t[::1] limits) noexcept:
    """limits = starts and ends of the depth bins, then of the row bins, then of the column
    bins: (d0, d1, h0, h1, w0, w1) back to back, 2 * (OD + OH + OW) entries."""
    cdef Bins b
    b.D, b.H, b.W = in_shape[2], in_shape[3], in_shape[4]
    b.OD, b.OH, b.OW = out_shape[2], out_shape[3], out_shape[4]
    b.d0 = &limits[0]
    b.d1 = b.d0 + b.OD
    b.h0 = b.d1 + b.OD
    b.h1 = b.h0 + b.OH
    b.w0 = b.h1 + b.OH
    b.w1 = b.w0 + b.OW
    return b


cdef extern from "_adaptive_rows.h" nogil:
    void cyconv_runs_sum_f32(Py_ssize_t count, Py_ssize_t n, const float* p, double* out)
    void cyconv_runs_sum_f64(Py_ssize_t count, Py_ssize_t n, const double* p, double* out)
    void cyconv_runs_argmax_f32(Py_ssize_t count, Py_ssize_t n, const float* p, int64_t* out)
    void cyconv_runs_argmax_f64(Py_ssize_t count, Py_ssize_t n, const double* p, int64_t* out)


cdef enum:
    # Runs at least this long go to the per-ISA vector helpers of _adaptive_rows.h; shorter
    # ones (bins of a few columns) stay inline, where a call would cost more than it saves.
    LONG_RUN = 16
    # Global pooling hands this many planes to one helper call.
    CHUNK = 64


cdef inline void _runs_sum(Py_ssize_t count, Py_ssize_t n, const floating* p,
                           double* out) noexcept nogil:
    if floating is float:
        cyconv_runs_sum_f32(count, n, p, out)
    else:
        cyconv_runs_sum_f64(count, n, p, out)


cdef inline void _runs_argmax(Py_ssize_t count, Py_ssize_t n, const floating* p,
                              int64_t* out) noexcept nogil:
    if floating is float:
        cyconv_runs_argmax_f32(count, n, p, out)
    else:
        cyconv_runs_argmax_f64(count, n, p, out)


cdef inline double _sum(const floating* p, Py_ssize_t n) noexcept nogil:
    """Sum of n contiguous values in double, in a fixed order. Long runs go to the
    per-ISA vector helper; short ones (bins of a few columns) stay inline, in four
    interleaved partial sums (no serial dependency chain)."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t i = 0
    if n >= LONG_RUN:
        _runs_sum(1, n, p, &s0)
        return s0
    while i + 4 <= n:
        s0 += p[i]
        s1 += p[i + 1]
        s2 += p[i + 2]
        s3 += p[i + 3]
        i += 4
    while i < n:
        s0 += p[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


cdef void _avg_plane(const floating* xp, floating* yp, const Bins* b,
                     double* row) noexcept nogil:
    """Average pooling of one plane. A bin spanning one input row is summed straight from
    x; otherwise the rows of the (depth, row) bin are first added into ``row`` (contiguous,
    vectorized), and each column bin is a segment sum of it."""
    cdef Py_ssize_t od, oh, ow, d, h, w, rows, width, out = 0
    cdef const floating* src
    cdef bint first
    for od in range(b.OD):
        for oh in range(b.OH):
            rows = (b.d1[od] - b.d0[od]) * (b.h1[oh] - b.h0[oh])
            if rows == 1:
                src = xp + (b.d0[od] * b.H + b.h0[oh]) * b.W
                for ow in range(b.OW):
                    width = b.w1[ow] - b.w0[ow]
                    yp[out] = <floating>(_sum(src + b.w0[ow], width) / width)
                    out += 1
                continue
            first = True
            for d in range(b.d0[od], b.d1[od]):
                for h in range(b.h0[oh], b.h1[oh]):
                    src = xp + (d * b.H + h) * b.W
                    if first:
                        for w in range(b.W):
                            row[w] = src[w]
                        first = False
                    else:
                        for w in range(b.W):
                            row[w] += src[w]
            for ow in range(b.OW):
                width = b.w1[ow] - b.w0[ow]
                yp[out] = <floating>(_sum(row + b.w0[ow], width) / (rows * width))
                out += 1


cdef void _avg_backward_plane(const floating* gyp, floating* gxp, const Bins* b,
                              double* row) noexcept nogil:
    """Gradient of average pooling for one plane: for each (depth, row) bin, the shares
    (grad_y / bin size) of its column bins are spread over one row, which is then added to
    every input row of the bin. Outputs are visited in order, so overlapping bins add up in
    a fixed order."""
    cdef Py_ssize_t od, oh, ow, d, h, w, rows, width, out = 0
    cdef floating* dst
    cdef double share
    memset(gxp, 0, b.D * b.H * b.W * sizeof(floating))
    for od in range(b.OD):
        for oh in range(b.OH):
            rows = (b.d1[od] - b.d0[od]) * (b.h1[oh] - b.h0[oh])
            memset(row, 0, b.W * sizeof(double))
            for ow in range(b.OW):
                width = b.w1[ow] - b.w0[ow]
                share = gyp[out] / <double>(rows * width)
                for w in range(b.w0[ow], b.w1[ow]):
                    row[w] += share
                out += 1
            for d in range(b.d0[od], b.d1[od]):
                for h in range(b.h0[oh], b.h1[oh]):
                    dst = gxp + (d * b.H + h) * b.W
                    for w in range(b.W):
                        dst[w] = <floating>(dst[w] + row[w])


cdef inline Py_ssize_t _argmax(const floating* xp, const Bins* b, Py_ssize_t od,
                               Py_ssize_t oh, Py_ssize_t ow) noexcept nogil:
    """Flat plane position of the maximum of bin (od, oh, ow): the first in row-major order
    among equals; a NaN always takes over (so the last NaN wins, as in PyTorch). Long row
    runs go to the vector helper, whose run winner follows the same rule, so merging it
    with ``>`` or NaN gives the same position as the element-wise loop."""
    cdef Py_ssize_t d, h, w, start, pos = (b.d0[od] * b.H + b.h0[oh]) * b.W + b.w0[ow]
    cdef Py_ssize_t width = b.w1[ow] - b.w0[ow]
    cdef floating v, best = xp[pos]
    cdef int64_t found
    for d in range(b.d0[od], b.d1[od]):
        for h in range(b.h0[oh], b.h1[oh]):
            start = (d * b.H + h) * b.W
            if width >= LONG_RUN:
                _runs_argmax(1, width, xp + start + b.w0[ow], &found)
                w = b.w0[ow] + found
                v = xp[start + w]
                if v > best or isnan(v):
                    best = v
                    pos = start + w
                continue
            for w in range(b.w0[ow], b.w1[ow]):
                v = xp[start + w]
                if v > best or isnan(v):
                    best = v
                    pos = start + w
    return pos


cdef void _max_plane(const floating* xp, floating* yp, int64_t* ip, bint want_index,
                     const Bins* b) noexcept nogil:
    cdef Py_ssize_t od, oh, ow, pos, out = 0
    for od in range(b.OD):
        for oh in range(b.OH):
            for ow in range(b.OW):
                pos = _argmax(xp, b, od, oh, ow)
                yp[out] = xp[pos]
                if want_index:
                    ip[out] = pos
                out += 1


cdef void _max_backward_plane(const floating* xp, const floating* gyp, const int64_t* ip,
                              bint use_indices, floating* gxp, const Bins* b) noexcept nogil:
    """Each grad_y goes to its bin's maximum (from ``ip`` or re-selected from x), outputs in
    order: overlapping bins add up in the same order as a scatter of the index array."""
    cdef Py_ssize_t od, oh, ow, pos, out = 0
    memset(gxp, 0, b.D * b.H * b.W * sizeof(floating))
    for od in range(b.OD):
        for oh in range(b.OH):
            for ow in range(b.OW):
                pos = ip[out] if use_indices else _argmax(xp, b, od, oh, ow)
                gxp[pos] += gyp[out]
                out += 1


cdef inline Py_ssize_t _chunks(Py_ssize_t planes) noexcept nogil:
    return (planes + CHUNK - 1) // CHUNK


cdef inline Py_ssize_t _chunk_size(Py_ssize_t chunk, Py_ssize_t planes) noexcept nogil:
    return CHUNK if (chunk + 1) * CHUNK <= planes else planes - chunk * CHUNK


cdef inline bint _is_global(const Bins* b) noexcept nogil:
    """One bin spanning the whole plane: after the API's merging of trailing dims, one run."""
    return b.OD == 1 and b.OH == 1 and b.OW == 1 and b.D == 1 and b.H == 1


# Global pooling: ``count`` consecutive planes of n values at once (one helper call for all of
# them instead of the bin loops per plane: with small planes such as 7x7 those dominate).

cdef void _global_avg_chunk(const floating* xp, floating* yp, Py_ssize_t count,
                            Py_ssize_t n) noexcept nogil:
    cdef double sums[CHUNK]
    cdef Py_ssize_t i
    _runs_sum(count, n, xp, sums)
    for i in range(count):
        yp[i] = <floating>(sums[i] / n)


cdef void _global_avg_backward_chunk(const floating* gyp, floating* gxp, Py_ssize_t count,
                                     Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, k
    cdef floating share
    for i in range(count):
        share = <floating>(gyp[i] / <double>n)
        for k in range(n):
            gxp[i * n + k] = share


cdef void _global_max_chunk(const floating* xp, floating* yp, int64_t* ip, bint want_index,
                            Py_ssize_t count, Py_ssize_t n) noexcept nogil:
    cdef int64_t pos[CHUNK]
    cdef Py_ssize_t i
    _runs_argmax(count, n, xp, pos)
    for i in range(count):
        yp[i] = xp[i * n + pos[i]]
        if want_index:
            ip[i] = pos[i]


cdef void _global_max_backward_chunk(const floating* xp, const floating* gyp, const int64_t* ip,
                                     bint use_indices, floating* gxp, Py_ssize_t count,
                                     Py_ssize_t n) noexcept nogil:
    cdef int64_t pos[CHUNK]
    cdef Py_ssize_t i
    memset(gxp, 0, count * n * sizeof(floating))
    if not use_indices:
        _runs_argmax(count, n, xp, pos)
    for i in range(count):
        gxp[i * n + (ip[i] if use_indices else pos[i])] += gyp[i]


def avg_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                const Py_ssize_t[::1] limits, double[:, ::1] rows, int num_threads):
    """y = adaptive average pooling of x. rows: (num_threads, W) scratch."""
    cdef Bins b = _make_bins(&x.shape[0], &y.shape[0], limits)
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1], r
    cdef Py_ssize_t in_plane = b.D * b.H * b.W, out_plane = b.OD * b.OH * b.OW
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    if _is_global(&b):
        with nogil:
            for r in prange(_chunks(planes), schedule="static", num_threads=num_threads):
                _global_avg_chunk(xp + r * CHUNK * in_plane, yp + r * CHUNK,
                                  _chunk_size(r, planes), in_plane)
        return
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _avg_plane(xp + r * in_plane, yp + r * out_plane, &b, &rows[omp_get_thread_num(), 0])


def avg_backward(const floating[:, :, :, :, ::1] grad_y, floating[:, :, :, :, ::1] grad_x,
                 const Py_ssize_t[::1] limits, double[:, ::1] rows, int num_threads):
    """grad_x = gradient of adaptive average pooling. rows: (num_threads, W) scratch."""
    cdef Bins b = _make_bins(&grad_x.shape[0], &grad_y.shape[0], limits)
    cdef Py_ssize_t planes = grad_x.shape[0] * grad_x.shape[1], r
    cdef Py_ssize_t in_plane = b.D * b.H * b.W, out_plane = b.OD * b.OH * b.OW
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    if _is_global(&b):
        with nogil:
            for r in prange(_chunks(planes), schedule="static", num_threads=num_threads):
                _global_avg_backward_chunk(gyp + r * CHUNK, gxp + r * CHUNK * in_plane,
                                           _chunk_size(r, planes), in_plane)
        return
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _avg_backward_plane(gyp + r * out_plane, gxp + r * in_plane, &b,
                                &rows[omp_get_thread_num(), 0])


def max_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                int64_t[:, :, :, :, ::1] indices, bint want_index, const Py_ssize_t[::1] limits,
                int num_threads):
    """y = adaptive max pooling of x; with ``want_index`` also the flat per-plane position of
    each maximum into ``indices`` (otherwise ``indices`` may be any 5-D int64 array)."""
    cdef Bins b = _make_bins(&x.shape[0], &y.shape[0], limits)
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1], r
    cdef Py_ssize_t in_plane = b.D * b.H * b.W, out_plane = b.OD * b.OH * b.OW
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    cdef int64_t* ip = &indices[0, 0, 0, 0, 0]
    if _is_global(&b):
        with nogil:
            for r in prange(_chunks(planes), schedule="static", num_threads=num_threads):
                _global_max_chunk(xp + r * CHUNK * in_plane, yp + r * CHUNK,
                                  ip + r * CHUNK if want_index else ip, want_index,
                                  _chunk_size(r, planes), in_plane)
        return
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _max_plane(xp + r * in_plane, yp + r * out_plane,
                       ip + r * out_plane if want_index else ip, want_index, &b)


def max_backward(const floating[:, :, :, :, ::1] x, const floating[:, :, :, :, ::1] grad_y,
                 const int64_t[:, :, :, :, ::1] indices, bint use_indices,
                 floating[:, :, :, :, ::1] grad_x, const Py_ssize_t[::1] limits,
                 int num_threads):
    """grad_x = gradient of adaptive max pooling, routed through ``indices`` when
    ``use_indices`` (validated by the caller to lie in each plane), else through maxima
    re-selected from x."""
    cdef Bins b = _make_bins(&x.shape[0], &grad_y.shape[0], limits)
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1], r
    cdef Py_ssize_t in_plane = b.D * b.H * b.W, out_plane = b.OD * b.OH * b.OW
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef const int64_t* ip = &indices[0, 0, 0, 0, 0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    if _is_global(&b):
        with nogil:
            for r in prange(_chunks(planes), schedule="static", num_threads=num_threads):
                _global_max_backward_chunk(xp + r * CHUNK * in_plane, gyp + r * CHUNK,
                                           ip + r * CHUNK if use_indices else ip, use_indices,
                                           gxp + r * CHUNK * in_plane, _chunk_size(r, planes),
                                           in_plane)
        return
    with nogil:
        for r in prange(planes, schedule="static", num_threads=num_threads):
            _max_backward_plane(xp + r * in_plane, gyp + r * out_plane,
                                ip + r * out_plane if use_indices else ip, use_indices,
                                gxp + r * in_plane, &b)
