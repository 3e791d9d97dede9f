"""Direct convolution kernels (no lowering): plane-wise, for depthwise convolutions and
few channels per group, and the bias gradient.

One (image, channel) plane per work item; each kernel tap is a vectorized row primitive
over the plane (_rowops.h), and depthwise planes (one input channel per group) run the fused
plane kernels of the ISA descriptor (_depthwise.h). Compute only: the Python layer
(``cyconv/_conv_forward.py``, ``_conv_backward.py``) validates and allocates.
"""
from cython.parallel cimport prange
from libc.string cimport memset

from cyconv._kernels._core cimport Geom, _valid_range
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._plane_sums cimport _plane_sum
from cyconv._kernels._omp cimport omp_get_thread_num

cdef extern from "_depthwise_rows.h" nogil:
    Py_ssize_t cyconv_dw_row_length(Py_ssize_t OW, Py_ssize_t KW, Py_ssize_t dw, Py_ssize_t L)

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef inline void _dw_forward(Py_ssize_t OH, Py_ssize_t OW, const floating* xpad, Py_ssize_t lw,
                             Py_ssize_t sh, const floating* w, Py_ssize_t KH, Py_ssize_t KW,
                             Py_ssize_t dh, Py_ssize_t dw, floating beta,
                             floating* y) noexcept nogil:
    if floating is float:
        ISA.dw_forward_f32(OH, OW, xpad, lw, sh, w, KH, KW, dh, dw, beta, y)
    else:
        ISA.dw_forward_f64(OH, OW, xpad, lw, sh, w, KH, KW, dh, dw, beta, y)


cdef inline void _dw_weight(Py_ssize_t OH, Py_ssize_t OW, const floating* gy,
                            const floating* xpad, Py_ssize_t lw, Py_ssize_t sh, Py_ssize_t KH,
                            Py_ssize_t KW, Py_ssize_t dh, Py_ssize_t dw,
                            double* dacc) noexcept nogil:
    if floating is float:
        ISA.dw_weight_f32(OH, OW, gy, xpad, lw, sh, KH, KW, dh, dw, dacc)
    else:
        ISA.dw_weight_f64(OH, OW, gy, xpad, lw, sh, KH, KW, dh, dw, dacc)


cdef extern from "_rowops.h" nogil:
    void cyconv_axpy_rows_f32(Py_ssize_t rows, Py_ssize_t n, float a, const float* x,
                              Py_ssize_t x_row, Py_ssize_t incx, float* y, Py_ssize_t y_row)
    void cyconv_axpy_rows_f64(Py_ssize_t rows, Py_ssize_t n, double a, const double* x,
                              Py_ssize_t x_row, Py_ssize_t incx, double* y, Py_ssize_t y_row)
    void cyconv_axpy_rows_to_f32(Py_ssize_t rows, Py_ssize_t n, float a, float* x,
                                 Py_ssize_t x_row, Py_ssize_t incx, const float* y,
                                 Py_ssize_t y_row)
    void cyconv_axpy_rows_to_f64(Py_ssize_t rows, Py_ssize_t n, double a, double* x,
                                 Py_ssize_t x_row, Py_ssize_t incx, const double* y,
                                 Py_ssize_t y_row)
    void cyconv_dot_rows_f32(Py_ssize_t rows, Py_ssize_t n, const float* x, Py_ssize_t x_row,
                             Py_ssize_t incx, const float* y, Py_ssize_t y_row, float* acc)
    void cyconv_dot_rows_f64(Py_ssize_t rows, Py_ssize_t n, const double* x, Py_ssize_t x_row,
                             Py_ssize_t incx, const double* y, Py_ssize_t y_row, double* acc)
    enum: CYCONV_DOT_LANES


cdef enum TapOp:
    TAP_FORWARD = 0          # out += w * input-through-tap
    TAP_BACKWARD_INPUT = 1   # input-through-tap += w * grad_out
    TAP_DOT = 2              # acc += grad_out * input-through-tap


cdef void _direct_tap(TapOp op, floating* out_plane, floating* in_plane, floating wv,
                      floating* acc, const Geom* g, Py_ssize_t kd, Py_ssize_t kh,
                      Py_ssize_t kw) noexcept nogil:
    """Apply one kernel tap (kd, kh, kw) between an output-sized plane and an input plane.

    The valid output rows and columns are clipped once, so each depth slice is a single call
    of a vectorized row primitive over all its rows.
    """
    cdef Py_ssize_t od, idd, lo, hi, oh_lo, oh_hi
    cdef Py_ssize_t off_w = kw * g.DW - g.PW
    cdef Py_ssize_t off_h = kh * g.DH - g.PH
    cdef floating* orow
    cdef floating* irow
    _valid_range(off_w, g.SW, g.W, g.OW, &lo, &hi)
    _valid_range(off_h, g.SH, g.H, g.OH, &oh_lo, &oh_hi)
    if lo >= hi or oh_lo >= oh_hi:
        return
    for od in range(g.OD):
        idd = od * g.SD - g.PD + kd * g.DD
        if idd < 0 or idd >= g.D:
            continue
        orow = out_plane + (od * g.OH + oh_lo) * g.OW + lo
        irow = in_plane + (idd * g.H + oh_lo * g.SH + off_h) * g.W + off_w + lo * g.SW
        if floating is float:
            if op == TAP_FORWARD:
                cyconv_axpy_rows_f32(oh_hi - oh_lo, hi - lo, wv, irow, g.SH * g.W, g.SW,
                                     orow, g.OW)
            elif op == TAP_BACKWARD_INPUT:
                cyconv_axpy_rows_to_f32(oh_hi - oh_lo, hi - lo, wv, irow, g.SH * g.W, g.SW,
                                        orow, g.OW)
            else:
                cyconv_dot_rows_f32(oh_hi - oh_lo, hi - lo, irow, g.SH * g.W, g.SW,
                                    orow, g.OW, acc)
        else:
            if op == TAP_FORWARD:
                cyconv_axpy_rows_f64(oh_hi - oh_lo, hi - lo, wv, irow, g.SH * g.W, g.SW,
                                     orow, g.OW)
            elif op == TAP_BACKWARD_INPUT:
                cyconv_axpy_rows_to_f64(oh_hi - oh_lo, hi - lo, wv, irow, g.SH * g.W, g.SW,
                                        orow, g.OW)
            else:
                cyconv_dot_rows_f64(oh_hi - oh_lo, hi - lo, irow, g.SH * g.W, g.SW,
                                    orow, g.OW, acc)


cdef inline bint _depthwise_planes(Py_ssize_t CIG, const Geom* g) noexcept nogil:
    """One input channel per group, one output plane reading the one input plane (1-D/2-D,
    or 3-D with depth 1, kernel depth 1 and no depth padding), unit stride along the row:
    the fused plane kernels of _depthwise.h apply (any output channels per group, height
    stride, dilation, padding). Depth padding gives more output planes, which they would
    not write."""
    return (CIG == 1 and g.D == 1 and g.KD == 1 and g.PD == 0 and g.OD == 1
            and g.SW == 1)


def depthwise_work(bint single, Geom g, Py_ssize_t in_channels_per_group):
    """(working-precision elements, doubles) of scratch per thread for the depthwise plane
    kernels: the zero-padded input plane, and the weight gradient's double lanes; (1, 1)
    when the direct kernels will not take the depthwise planes (_depthwise_planes)."""
    if not _depthwise_planes(in_channels_per_group, &g):
        return 1, 1
    cdef Py_ssize_t L = ISA.dw_lanes_f32 if single else ISA.dw_lanes_f64
    cdef Py_ssize_t lw = cyconv_dw_row_length(g.OW, g.KW, g.DW, L)
    cdef Py_ssize_t rows = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1
    return rows * lw, g.KH * g.KW * L


cdef inline void _pad_plane(const floating* x, const Geom* g, Py_ssize_t rows, Py_ssize_t lw,
                            floating* xpad) noexcept nogil:
    """The rows x lw window of the zero-padded input plane the depthwise kernels read."""
    if floating is float:
        ISA.dw_pad_f32(x, g.H, g.W, g.PH, g.PW, rows, lw, xpad)
    else:
        ISA.dw_pad_f64(x, g.H, g.W, g.PH, g.PW, rows, lw, xpad)


def direct_forward(const floating[:, :, :, :, ::1] x, const floating[:, :, :, :, ::1] w,
                   floating[:, :, :, :, ::1] y, const floating[::1] bias, bint has_bias,
                   Py_ssize_t groups, Geom g, floating[:, ::1] work, int num_threads):
    """y = conv(x, w) (+ bias), one (image, output channel) plane per work item.

    work : per-thread scratch of ``depthwise_work`` elements (used by the depthwise planes).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], CO = w.shape[0], CIG = w.shape[1]
    cdef Py_ssize_t COG = CO // groups
    cdef Py_ssize_t in_plane = g.D * g.H * g.W
    cdef Py_ssize_t out_plane = g.OD * g.OH * g.OW
    cdef Py_ssize_t r, n, co, ci, c, kd, kh, kw, p, tid
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef const floating* wp = &w[0, 0, 0, 0, 0]
    cdef floating* dst
    cdef floating* xpad
    cdef floating beta
    cdef bint fused = _depthwise_planes(CIG, &g)
    cdef Py_ssize_t L = ISA.dw_lanes_f32 if floating is float else ISA.dw_lanes_f64
    cdef Py_ssize_t lw = cyconv_dw_row_length(g.OW, g.KW, g.DW, L)
    cdef Py_ssize_t rows = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    with nogil:
        for r in prange(N * CO, schedule="static", num_threads=num_threads):
            n = r // CO
            co = r % CO
            dst = yp + r * out_plane
            beta = bias[co] if has_bias else 0
            if fused:
                tid = omp_get_thread_num()
                xpad = &work[tid, 0]
                c = (co // COG) * CIG
                _pad_plane(xp + (n * C + c) * in_plane, &g, rows, lw, xpad)
                _dw_forward(g.OH, g.OW, xpad, lw, g.SH, wp + co * T, g.KH, g.KW, g.DH, g.DW,
                            beta, dst)
                continue
            for p in range(out_plane):
                dst[p] = beta
            for ci in range(CIG):
                c = (co // COG) * CIG + ci
                for kd in range(g.KD):
                    for kh in range(g.KH):
                        for kw in range(g.KW):
                            _direct_tap(TAP_FORWARD, dst,
                                        <floating*>(xp + (n * C + c) * in_plane),
                                        w[co, ci, kd, kh, kw], NULL, &g, kd, kh, kw)


def direct_backward_input(const floating[:, :, :, :, ::1] grad_y,
                          const floating[:, :, :, :, ::1] w,
                          floating[:, :, :, :, ::1] grad_x, Py_ssize_t groups, Geom g,
                          int num_threads):
    """grad_x = conv^T(grad_y, w), one (image, input channel) plane per work item."""
    cdef Py_ssize_t N = grad_x.shape[0], C = grad_x.shape[1], CO = w.shape[0], CIG = w.shape[1]
    cdef Py_ssize_t COG = CO // groups
    cdef Py_ssize_t in_plane = g.D * g.H * g.W
    cdef Py_ssize_t out_plane = g.OD * g.OH * g.OW
    cdef Py_ssize_t r, n, c, ci, j, co, kd, kh, kw
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef floating* dst
    with nogil:
        for r in prange(N * C, schedule="static", num_threads=num_threads):
            n = r // C
            c = r % C
            ci = c % CIG
            dst = gxp + r * in_plane
            memset(dst, 0, in_plane * sizeof(floating))
            for j in range(COG):
                co = (c // CIG) * COG + j
                for kd in range(g.KD):
                    for kh in range(g.KH):
                        for kw in range(g.KW):
                            _direct_tap(TAP_BACKWARD_INPUT,
                                        <floating*>(gyp + (n * CO + co) * out_plane), dst,
                                        w[co, ci, kd, kh, kw], NULL, &g, kd, kh, kw)


cdef void _direct_weight_item(const floating* gy_first, Py_ssize_t gy_image,
                              const floating* x_first, Py_ssize_t x_image, Py_ssize_t N,
                              const Geom* g, floating* grad_w_taps) noexcept nogil:
    """grad_w for one (output channel, input channel) pair, every tap.

    Per image the products go into CYCONV_DOT_LANES partial sums in the working precision
    (vectorized); these are reduced in double per image, so float32 weight gradients over
    large batches stay within the accuracy contract.
    """
    cdef floating acc[CYCONV_DOT_LANES]
    cdef double total
    cdef Py_ssize_t kd, kh, kw, n, lane, t = 0
    for kd in range(g.KD):
        for kh in range(g.KH):
            for kw in range(g.KW):
                total = 0
                for n in range(N):
                    memset(acc, 0, CYCONV_DOT_LANES * sizeof(floating))
                    _direct_tap(TAP_DOT, <floating*>(gy_first + n * gy_image),
                                <floating*>(x_first + n * x_image), 0, acc, g, kd, kh, kw)
                    for lane in range(CYCONV_DOT_LANES):
                        total += acc[lane]
                grad_w_taps[t] = <floating>total
                t = t + 1


cdef void _depthwise_weight_item(const floating* gy_first, Py_ssize_t gy_image,
                                 const floating* x_first, Py_ssize_t x_image, Py_ssize_t N,
                                 const Geom* g, floating* work, double* dacc,
                                 floating* grad_w_taps) noexcept nogil:
    """grad_w for one output channel of a depthwise convolution, every tap: all taps in one
    pass over each image's grad_y plane (rows summed in working-precision lanes, then added
    to double lanes; the lanes reduced in a fixed order at the end)."""
    cdef Py_ssize_t L = ISA.dw_lanes_f32 if floating is float else ISA.dw_lanes_f64
    cdef Py_ssize_t lw = cyconv_dw_row_length(g.OW, g.KW, g.DW, L)
    cdef Py_ssize_t rows = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1
    cdef Py_ssize_t T = g.KH * g.KW
    cdef floating* xpad = work
    cdef Py_ssize_t n, t, lane
    cdef double total
    memset(dacc, 0, T * L * sizeof(double))
    for n in range(N):
        _pad_plane(x_first + n * x_image, g, rows, lw, xpad)
        _dw_weight(g.OH, g.OW, gy_first + n * gy_image, xpad, lw, g.SH, g.KH, g.KW, g.DH,
                   g.DW, dacc)
    for t in range(T):
        total = 0
        for lane in range(L):
            total += dacc[t * L + lane]
        grad_w_taps[t] = <floating>total


def direct_backward_weight(const floating[:, :, :, :, ::1] grad_y,
                           const floating[:, :, :, :, ::1] x,
                           floating[:, :, :, :, ::1] grad_w, Py_ssize_t groups, Geom g,
                           floating[:, ::1] work, double[:, ::1] dwork, int num_threads):
    """grad_w[co, ci, tap] = sum over images and outputs; one (co, ci) pair per work item.

    Each weight is reduced by one thread in a fixed order: bitwise identical for any thread
    count. work, dwork : per-thread scratch of ``depthwise_work`` elements.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], CO = grad_w.shape[0], CIG = grad_w.shape[1]
    cdef Py_ssize_t COG = CO // groups
    cdef Py_ssize_t in_plane = g.D * g.H * g.W
    cdef Py_ssize_t out_plane = g.OD * g.OH * g.OW
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t r, co, ci, c, tid
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* gwp = &grad_w[0, 0, 0, 0, 0]
    cdef bint fused = _depthwise_planes(CIG, &g)
    with nogil:
        for r in prange(CO * CIG, schedule="static", num_threads=num_threads):
            co = r // CIG
            ci = r % CIG
            c = (co // COG) * CIG + ci
            if fused:
                tid = omp_get_thread_num()
                _depthwise_weight_item(gyp + co * out_plane, CO * out_plane, xp + c * in_plane,
                                       C * in_plane, N, &g, &work[tid, 0], &dwork[tid, 0],
                                       gwp + r * T)
            else:
                _direct_weight_item(gyp + co * out_plane, CO * out_plane, xp + c * in_plane,
                                    C * in_plane, N, &g, gwp + r * T)


def depthwise_backward_work(bint single, Geom g, Geom gt):
    """(working-precision elements, doubles) of per-thread scratch for depthwise_backward:
    the padded input and grad_y planes of the weight gradient (geometry ``g``) and the
    padded grad_y plane of grad_input's forward convolution (geometry ``gt``)."""
    elements, doubles = depthwise_work(single, g, 1)
    transposed, _ = depthwise_work(single, gt, 1)
    return elements + transposed, doubles


def depthwise_backward(const floating[:, :, :, :, ::1] grad_y,
                       const floating[:, :, :, :, ::1] x, const floating[:, ::1] w_flipped,
                       floating[:, :, :, :, ::1] grad_x, floating[:, ::1] grad_w,
                       floating[::1] grad_b, bint want_input, bint want_weight,
                       bint want_bias, Geom g, Geom gt, floating[:, ::1] work,
                       double[:, ::1] dwork, double[:, ::1] partial, int num_threads):
    """All gradients of a stride-1 depthwise convolution (C_in = C_out = groups, 1-D/2-D) in
    one pass over grad_y, one (image, channel) plane per work item in memory order.

    grad_x[n, c] is the depthwise forward convolution of grad_y[n, c] with the flipped taps
    ``w_flipped[c]`` on the geometry ``gt`` (padding dilation*(k-1) - padding). Each item
    leaves its plane's weight-tap sums and grad_y sum in ``partial`` (N*C rows of taps + 1
    doubles); grad_w[c] (taps flattened) and grad_b[c] then add the images' rows in image
    order - fixed, whatever the thread count, and grad_b exactly as :func:`bias_grad`.
    Arrays not wanted may be any placeholder of the right rank.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t in_plane = g.H * g.W, out_plane = g.OH * g.OW
    cdef Py_ssize_t T = g.KH * g.KW
    cdef Py_ssize_t L = ISA.dw_lanes_f32 if floating is float else ISA.dw_lanes_f64
    cdef Py_ssize_t lw = cyconv_dw_row_length(g.OW, g.KW, g.DW, L)
    cdef Py_ssize_t rows = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1
    cdef Py_ssize_t lw_t = cyconv_dw_row_length(gt.OW, gt.KW, gt.DW, L)
    cdef Py_ssize_t rows_t = (gt.OH - 1) * gt.SH + (gt.KH - 1) * gt.DH + 1
    cdef Py_ssize_t r, c, n, t, lane, tid
    cdef double total
    cdef const floating* gyp = &grad_y[0, 0, 0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    cdef const floating* gy_plane
    cdef floating* xpad
    cdef floating* gy_padded_t
    cdef double* dacc
    with nogil:
        for r in prange(N * C, schedule="static", num_threads=num_threads):
            c = r % C
            tid = omp_get_thread_num()
            xpad = &work[tid, 0]
            gy_padded_t = xpad + rows * lw
            dacc = &dwork[tid, 0]
            gy_plane = gyp + r * out_plane
            if want_input:
                _pad_plane(gy_plane, &gt, rows_t, lw_t, gy_padded_t)
                _dw_forward(gt.OH, gt.OW, gy_padded_t, lw_t, 1, &w_flipped[c, 0], gt.KH,
                            gt.KW, gt.DH, gt.DW, 0, gxp + r * in_plane)
            if want_weight:
                memset(dacc, 0, T * L * sizeof(double))
                _pad_plane(xp + r * in_plane, &g, rows, lw, xpad)
                _dw_weight(g.OH, g.OW, gy_plane, xpad, lw, g.SH, g.KH, g.KW, g.DH, g.DW, dacc)
                for t in range(T):
                    total = 0
                    for lane in range(L):
                        total = total + dacc[t * L + lane]
                    partial[r, t] = total
            if want_bias:
                partial[r, T] = _plane_sum(gy_plane, out_plane)
        for c in prange(C, schedule="static", num_threads=num_threads):
            if want_weight:
                for t in range(T):
                    total = 0
                    for n in range(N):
                        total = total + partial[n * C + c, t]
                    grad_w[c, t] = <floating>total
            if want_bias:
                total = 0
                for n in range(N):
                    total = total + partial[n * C + c, T]
                grad_b[c] = <floating>total


def bias_grad(const floating[:, :, ::1] grad_y, floating[::1] grad_bias, int num_threads):
    """grad_bias[co] = sum of grad_y[:, co, :]; each plane summed by ``_plane_sum`` and the
    planes accumulated in double in image order, one channel per work item (fixed order, any
    thread count)."""
    cdef Py_ssize_t N = grad_y.shape[0], CO = grad_y.shape[1], P = grad_y.shape[2]
    cdef Py_ssize_t co, n
    cdef double total
    cdef const floating* gyp = &grad_y[0, 0, 0]
    with nogil:
        for co in prange(CO, schedule="static", num_threads=num_threads):
            total = 0
            for n in range(N):
                total = total + _plane_sum(gyp + (n * CO + co) * P, P)
            grad_bias[co] = <floating>total


def bias_grad_from_plane_sums(const double[:, ::1] plane_sums, floating[::1] grad_bias):
    """grad_bias[co] = the sum over images of plane_sums[n, co] (N, C_out), accumulated in
    image order as :func:`bias_grad` does: the same bits when each plane sum is
    ``_plane_sum`` of the plane (taken by a weight-gradient pass that reads it anyway)."""
    cdef Py_ssize_t N = plane_sums.shape[0], CO = plane_sums.shape[1], co, n
    cdef double total
    with nogil:
        for co in range(CO):
            total = 0
            for n in range(N):
                total = total + plane_sums[n, co]
            grad_bias[co] = <floating>total
