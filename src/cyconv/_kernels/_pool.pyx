"""Pooling kernels (max, min, average): the forward passes, the packed window and the
scratch sizes; the gradients are in _pool_backward.pyx, what both share in _pool_core.pxd.

Compute only. Arrays are C-contiguous 5-D (N, C, D, H, W) - 1-D and 2-D pooling are views
with singleton leading dims - and ``Window`` holds kernel, stride, leading padding, dilation
and output size in all three dims. Work is split over (image, channel) planes, so every
thread owns the planes it writes: backward passes need no atomics and are deterministic.
"""
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t

from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._pool_core cimport (
    CYCONV_POOL_LANES, ROW_PAD, SEP_MAX, SEP_MIN, SEP_SUM, Window, _avg_factor,
    _extremum_plane, _fill, _rows_ahead, _sep_buffer_length, _share_length, _taps,
    _wide_window)
from cyconv._kernels._prefetch cimport cyconv_prefetch


# this module's view of the ISA in use (_isa.pxd): CYCONV_ISA and select_isa govern pooling too
cyconv_isa_bind(isa_descriptor())

# for pool.py, which sizes the scratch rows
SCRATCH_PAD = ROW_PAD


@cython.auto_pickle(False)
cdef class PoolWindow:
    """A pooling window as the kernels take it, packed once per plan (converting a dict to
    the struct on every call cost a small call a tenth of its time). Built from a dict of
    the Window fields (its struct field ``w`` is declared in _pool.pxd)."""

    def __init__(self, dict window):
        self.w = window


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


# How far ahead (bytes of input) the forward (and the 2-wide tiling max/min backward)
# prefetches the rows the next windows add: the hardware prefetcher's streams restart at every
# 4 KB page. The distance was measured (benchmarks/README.md, "Two threads: row prefetch").
cdef Py_ssize_t _prefetch_bytes = 4096


def set_prefetch_bytes(Py_ssize_t nbytes):
    """Bytes of input ahead that the forward prefetches (0: none; the 2-wide tiling max/min
    backward prefetches its input rows, and in float64 its grad_x rows, as far ahead);
    returns the previous value. For measurements and tests: results do not depend on it."""
    global _prefetch_bytes
    previous = _prefetch_bytes
    _prefetch_bytes = nbytes
    return previous


def isa_level():
    """The ISA level of the separable row kernels this module runs: the level in use
    (_isa.current_isa), read through this module's own view of the descriptor. For tests."""
    return ISA.level


cdef Py_ssize_t prefetch_bytes() noexcept nogil:
    """The setting of set_prefetch_bytes, for _pool_backward's row prefetch."""
    return _prefetch_bytes


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
    cdef Py_ssize_t nxt, ahead = _rows_ahead(w, sizeof(floating), _prefetch_bytes)
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
                cyconv_prefetch(xp, ((sd * w.H + nxt - w.SH) * w.W) * <Py_ssize_t>sizeof(floating),
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
