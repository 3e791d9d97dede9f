"""GEMM-family convolution kernels: im2col forward and col2im grad_input (the 1x1 GEMM, which
needs no lowering, is _pointwise.pyx; the lowered weight gradient _im2col_weight.pyx).

Blocks of output pixels are lowered into packed panels of a thread-local buffer and
multiplied by the packed weights with the register-tiled micro-kernel (_gemm.h, through the
ISA descriptor), inside the same OpenMP region (no BLAS: no second thread pool to
oversubscribe the cores, and results that do not depend on the thread count). Compute only:
C-contiguous 5-D arrays (N, C, D, H, W) and a ``Geom`` (_core.pxd); the Python layer
(``cyconv/_conv_forward.py``, ``_conv_backward.py``) validates and allocates.
"""
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from cyconv._kernels._core cimport (Geom, PieceSpan, _cols_inside, _copy_panel_lines, _gemm_tile,
                                    _next_output_row, _piece_span, _rows_inside, _tap_of, _ukr,
                                    _valid_range)
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())

cdef extern from "_col2im_rows.h" nogil:
    void cyconv_col2im_row_f32(Py_ssize_t taps, Py_ssize_t o_lo, Py_ssize_t o_hi,
                               Py_ssize_t i_lo, Py_ssize_t i_hi, const float* rows,
                               Py_ssize_t ldr, float* dst)
    void cyconv_col2im_row_f64(Py_ssize_t taps, Py_ssize_t o_lo, Py_ssize_t o_hi,
                               Py_ssize_t i_lo, Py_ssize_t i_hi, const double* rows,
                               Py_ssize_t ldr, double* dst)


cdef enum:
    MAX_TILE = 384  # at least the largest MR * NR in the ISA table (_isa_table.h)


cdef void _tap_segments(floating* plane, const Geom* g, Py_ssize_t kd, Py_ssize_t kh,
                        Py_ssize_t kw, Py_ssize_t p0, Py_ssize_t count, floating* row,
                        bint gather) noexcept nogil:
    """Move data between ``row`` (flat output positions p0, p0+1, ...) and the input plane
    seen through tap (kd, kh, kw).

    gather: row[q] = the input element (0 where the tap falls into the padding).
    not gather (the adjoint): the input element += row[q].
    Walks the positions one output row at a time, so bounds are clipped per row, not per
    element.
    """
    cdef Py_ssize_t od = p0 // (g.OH * g.OW), oh = (p0 // g.OW) % g.OH, ow = p0 % g.OW
    cdef Py_ssize_t off_w = kw * g.DW - g.PW
    cdef Py_ssize_t q = 0, seg, idd, ih, lo, hi, a, b, t
    cdef bint inside
    cdef floating* src
    _valid_range(off_w, g.SW, g.W, g.OW, &lo, &hi)
    while q < count:
        seg = g.OW - ow
        if seg > count - q:
            seg = count - q
        idd = od * g.SD - g.PD + kd * g.DD
        ih = oh * g.SH - g.PH + kh * g.DH
        a = lo if lo > ow else ow
        b = hi if hi < ow + seg else ow + seg
        inside = not (idd < 0 or idd >= g.D or ih < 0 or ih >= g.H or b <= a)
        src = plane + (idd * g.H + ih) * g.W + off_w
        if gather and not inside:
            memset(row + q, 0, seg * sizeof(floating))
        elif gather:
            if a > ow:
                memset(row + q, 0, (a - ow) * sizeof(floating))
            if g.SW == 1:
                memcpy(row + q + (a - ow), src + a, (b - a) * sizeof(floating))
            elif g.SW == 2:
                # a literal stride lets the compiler de-interleave in registers (no gathers)
                for t in range(a, b):
                    row[q + t - ow] = src[t * 2]
            else:
                for t in range(a, b):
                    row[q + t - ow] = src[t * g.SW]
            if b < ow + seg:
                memset(row + q + (b - ow), 0, (ow + seg - b) * sizeof(floating))
        elif inside and g.SW == 1:
            for t in range(a, b):
                src[t] += row[q + t - ow]
        elif inside:
            for t in range(a, b):
                src[t * g.SW] += row[q + t - ow]
        _next_output_row(g, seg, &q, &ow, &oh, &od)


cdef inline void _gather_taps(const floating* plane, const Geom* g, Py_ssize_t kd,
                              Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t p0, Py_ssize_t count,
                              floating* out) noexcept nogil:
    _tap_segments(<floating*>plane, g, kd, kh, kw, p0, count, out, True)


cdef inline void _scatter_add_taps(floating* plane, const Geom* g, Py_ssize_t kd,
                                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t p0,
                                   Py_ssize_t count, const floating* row) noexcept nogil:
    _tap_segments(plane, g, kd, kh, kw, p0, count, <floating*>row, False)


cdef enum:
    ROW_TAPS = 16  # taps of a kernel row scattered together (their clip ranges on the stack)


cdef inline void _add_strided(floating* dst, Py_ssize_t stride, const floating* src,
                              Py_ssize_t n) noexcept nogil:
    """dst[t * stride] += src[t] for t < n (none for n <= 0)."""
    cdef Py_ssize_t t
    for t in range(n):
        dst[t * stride] += src[t]


cdef void _scatter_add_kernel_row(floating* plane, const Geom* g, Py_ssize_t kd,
                                  Py_ssize_t kh, Py_ssize_t p0, Py_ssize_t count,
                                  const floating* rows, Py_ssize_t ldr) noexcept nogil:
    """_scatter_add_taps for all the taps (kd, kh, 0..KW-1) of a kernel row (rows[kw * ldr
    + q]), for stride 1 and dilation 1 along W: per output row, the row's taps land on one
    input row one element apart, and _col2im_rows.h adds them element by element (each
    element loaded and stored once, its taps in kw order: the per-tap walk's bits).
    """
    cdef Py_ssize_t od = p0 // (g.OH * g.OW), oh = (p0 // g.OW) % g.OH, ow = p0 % g.OW
    cdef Py_ssize_t q = 0, seg, idd, ih
    cdef floating* dst
    while q < count:
        seg = g.OW - ow if g.OW - ow < count - q else count - q
        idd = od * g.SD - g.PD + kd * g.DD
        ih = oh * g.SH - g.PH + kh * g.DH
        if 0 <= idd < g.D and 0 <= ih < g.H:
            # output column o of the segment, tap kw: rows[kw * ldr + q + o - ow] onto
            # input column o + kw - PW, dst[o + kw]; the input row is dst[PW:PW + W]
            dst = plane + (idd * g.H + ih) * g.W - g.PW
            if floating is float:
                cyconv_col2im_row_f32(g.KW, ow, ow + seg, g.PW, g.PW + g.W, rows + q - ow,
                                      ldr, dst)
            else:
                cyconv_col2im_row_f64(g.KW, ow, ow + seg, g.PW, g.PW + g.W, rows + q - ow,
                                      ldr, dst)
        _next_output_row(g, seg, &q, &ow, &oh, &od)


cdef void _scatter_add_tap_pairs(floating* plane, const Geom* g, Py_ssize_t kd, Py_ssize_t kh,
                                 Py_ssize_t p0, Py_ssize_t count, const floating* rows,
                                 Py_ssize_t ldr) noexcept nogil:
    """_scatter_add_taps for all the taps (kd, kh, 0..KW-1) of a kernel row (rows[kw * ldr
    + q]), for stride 2 and dilation 1 along W: taps kw and kw + 1 then land on alternate
    input elements, and each pair is added as one interleaved run (the per-tap strided
    adds ran one element at a time). One walk over the output rows serves the kernel row
    (the clip ranges computed once, ROW_TAPS taps at a time), and each input element still
    receives its taps in kw order, as the per-tap walk added them: the same bits.
    """
    cdef Py_ssize_t lo[ROW_TAPS]
    cdef Py_ssize_t hi[ROW_TAPS]
    cdef Py_ssize_t kw0, kw1, kw, od, oh, ow, q, seg, idd, ih, a0, b0, a1, b1, a, b, t, off
    cdef floating* dst
    cdef floating* d
    cdef const floating* r0
    cdef const floating* r1
    kw0 = 0
    while kw0 < g.KW:
        kw1 = kw0 + ROW_TAPS if g.KW - kw0 > ROW_TAPS else g.KW
        for kw in range(kw0, kw1):
            _valid_range(kw - g.PW, 2, g.W, g.OW, &lo[kw - kw0], &hi[kw - kw0])
        od = p0 // (g.OH * g.OW)
        oh = (p0 // g.OW) % g.OH
        ow = p0 % g.OW
        q = 0
        while q < count:
            seg = g.OW - ow
            if seg > count - q:
                seg = count - q
            idd = od * g.SD - g.PD + kd * g.DD
            ih = oh * g.SH - g.PH + kh * g.DH
            if 0 <= idd < g.D and 0 <= ih < g.H:
                dst = plane + (idd * g.H + ih) * g.W
                for kw in range(kw0, kw1, 2):
                    off = kw - g.PW
                    r0 = rows + kw * ldr + q - ow
                    a0 = lo[kw - kw0] if lo[kw - kw0] > ow else ow
                    b0 = hi[kw - kw0] if hi[kw - kw0] < ow + seg else ow + seg
                    if kw + 1 == kw1:  # an odd tap out
                        if b0 > a0:
                            _add_strided(dst + a0 * 2 + off, 2, r0 + a0, b0 - a0)
                        continue
                    r1 = r0 + ldr
                    a1 = lo[kw + 1 - kw0] if lo[kw + 1 - kw0] > ow else ow
                    b1 = hi[kw + 1 - kw0] if hi[kw + 1 - kw0] < ow + seg else ow + seg
                    # the two taps write alternate elements, so how their runs are split
                    # does not change any element's sum: the shared run interleaved, the
                    # rest of each tap alone
                    a = a0 if a0 > a1 else a1
                    b = b0 if b0 < b1 else b1
                    if b <= a:
                        _add_strided(dst + a0 * 2 + off, 2, r0 + a0, b0 - a0)
                        _add_strided(dst + a1 * 2 + off + 1, 2, r1 + a1, b1 - a1)
                        continue
                    _add_strided(dst + a0 * 2 + off, 2, r0 + a0, a - a0)
                    _add_strided(dst + a1 * 2 + off + 1, 2, r1 + a1, a - a1)
                    d = dst + off
                    for t in range(a, b):
                        d[t * 2] += r0[t]
                        d[t * 2 + 1] += r1[t]
                    _add_strided(dst + b * 2 + off, 2, r0 + b, b0 - b)
                    _add_strided(dst + b * 2 + off + 1, 2, r1 + b, b1 - b)
            _next_output_row(g, seg, &q, &ow, &oh, &od)
        kw0 = kw1


cdef void _store_tile(const floating* tile, Py_ssize_t NR, floating* y_rows,
                      Py_ssize_t image_stride, Py_ssize_t P, Py_ssize_t q0, Py_ssize_t rows,
                      Py_ssize_t cols) noexcept nogil:
    """Add the valid part of a register tile whose columns are global pixels q0, q0+1, ...

    Used for partial tiles: rows past C_out, columns past the last pixel, or columns that
    run across an image boundary.
    """
    cdef Py_ssize_t i, c, n, p, seg, k
    c = 0
    while c < cols:
        n = (q0 + c) // P
        p = (q0 + c) % P
        seg = P - p if P - p < cols - c else cols - c
        for i in range(rows):
            for k in range(seg):
                y_rows[n * image_stride + i * P + p + k] += tile[i * NR + c + k]
        c = c + seg


cdef void _forward_item(const floating* x_group, Py_ssize_t x_image_stride,
                        const floating* a_group, floating* y_group, Py_ssize_t y_image_stride,
                        const floating* bias_group, Py_ssize_t cout, Py_ssize_t kg,
                        Py_ssize_t q0, Py_ssize_t count, const Geom* g,
                        floating* bpack, floating* row, Py_ssize_t MR,
                        Py_ssize_t NR, Py_ssize_t KC) noexcept nogil:
    """y[n, co, p] = bias + W_group @ cols for one block of global output pixels q = n*P + p.

    Blocks run across image boundaries, so small images do not leave the last register tile
    of every image mostly empty. The reduction runs in slices of KC rows; each slice of the
    column block is lowered just before use, so it is still in L2 while every weight panel
    sweeps over it.
    """
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t P = g.OD * g.OH * g.OW
    cdef Py_ssize_t npb = (count + NR - 1) // NR
    cdef Py_ssize_t npa = (cout + MR - 1) // MR
    cdef Py_ssize_t k, j, i, co, p, kc0, kc, kd, kh, kw, rows, cols, q, n, seg, qj
    cdef floating beta
    cdef floating* dst
    cdef floating tile[MAX_TILE]
    memset(row + count, 0, (npb * NR - count) * sizeof(floating))
    q = q0
    while q < q0 + count:
        n = q // P
        p = q % P
        seg = P - p if P - p < q0 + count - q else q0 + count - q
        for co in range(cout):
            dst = y_group + n * y_image_stride + co * P + p
            beta = bias_group[co] if bias_group != NULL else 0
            for k in range(seg):
                dst[k] = beta
        q = q + seg
    kc0 = 0
    while kc0 < kg:
        kc = KC if kg - kc0 > KC else kg - kc0
        for k in range(kc0, kc0 + kc):
            _tap_of(k % T, g, &kd, &kh, &kw)
            q = q0
            while q < q0 + count:
                n = q // P
                p = q % P
                seg = P - p if P - p < q0 + count - q else q0 + count - q
                _gather_taps(x_group + n * x_image_stride + (k // T) * plane, g, kd, kh, kw,
                             p, seg, row + q - q0)
                q = q + seg
            for j in range(npb):
                memcpy(bpack + (j * kc + k - kc0) * NR, row + j * NR, NR * sizeof(floating))
        for j in range(npb):
            qj = q0 + j * NR
            cols = NR if count - j * NR > NR else count - j * NR
            n = qj // P
            p = qj % P
            for i in range(npa):
                rows = MR if cout - i * MR > MR else cout - i * MR
                if rows == MR and cols == NR and p + NR <= P:
                    _ukr(kc, a_group + (i * kg + kc0) * MR, bpack + j * kc * NR,
                         y_group + n * y_image_stride + i * MR * P + p, P)
                else:
                    memset(tile, 0, MR * NR * sizeof(floating))
                    _ukr(kc, a_group + (i * kg + kc0) * MR, bpack + j * kc * NR, tile, NR)
                    _store_tile(tile, NR, y_group + i * MR * P, y_image_stride, P, qj, rows,
                                cols)
        kc0 = kc0 + KC


def gemm_forward(const floating[:, :, :, :, ::1] x, const floating[::1] a_packed,
                 floating[:, :, ::1] y, const floating[::1] bias, bint has_bias,
                 Py_ssize_t groups, Geom g, Py_ssize_t block, floating[:, ::1] work,
                 Py_ssize_t KC, int num_threads):
    """y (N, C_out, P) = conv(x, w) (+ bias) by blocked im2col + GEMM.

    a_packed : weights as (groups, ceil(C_out_g/MR), K_g, MR), rows past C_out_g zero.
    work : (num_threads, min(K_g, KC) * block + block) scratch, one row per thread.
    block : global output pixels (n*P + p) per work item, a multiple of NR.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], CO = y.shape[1], P = y.shape[2]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t kg = cig * T
    cdef Py_ssize_t MR, NR
    cdef Py_ssize_t nblk = (N * P + block - 1) // block
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t npa
    cdef Py_ssize_t item, gi, blk, q0, count, tid
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef const floating* ap = &a_packed[0]
    cdef floating* yp = &y[0, 0, 0]
    cdef const floating* bp = &bias[0] if has_bias else NULL
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    _gemm_tile(floating is float, &MR, &NR)
    npa = (cog + MR - 1) // MR
    with nogil:
        for item in prange(groups * nblk, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            gi = item // nblk
            blk = item % nblk
            q0 = blk * block
            count = block if N * P - q0 > block else N * P - q0
            _forward_item(xp + gi * cig * plane, C * plane, ap + gi * npa * kg * MR,
                          yp + gi * cog * P, CO * P, bp + gi * cog if bp != NULL else NULL,
                          cog, kg, q0, count, &g,
                          wp + tid * wstride, wp + tid * wstride + (kg if kg < KC else KC) * block,
                          MR, NR, KC)


cdef void _pack_rows(const floating* src, Py_ssize_t ld, Py_ssize_t rows, Py_ssize_t count,
                     Py_ssize_t NR, floating* panels) noexcept nogil:
    """panels[j][r][:] = src[r * ld + j * NR:][:NR] for r < rows, j < ceil(count / NR): the
    micro-kernel's B panels ([panel][k][NR]) of ``rows`` rows of ``count`` elements, the
    last panel zero-filled past ``count``."""
    cdef Py_ssize_t nfull = count // NR, tail = count - count // NR * NR
    cdef Py_ssize_t r
    cdef const floating* s
    for r in range(rows):
        s = src + r * ld
        _copy_panel_lines(panels + r * NR, rows * NR, s, nfull, NR)
        if tail:
            memcpy(panels + (nfull * rows + r) * NR, s + nfull * NR, tail * sizeof(floating))
            memset(panels + (nfull * rows + r) * NR + tail, 0, (NR - tail) * sizeof(floating))


cdef bint _scatter_add_interior(floating* plane, const Geom* g, Py_ssize_t kd, Py_ssize_t kh,
                                Py_ssize_t kw, Py_ssize_t p0, Py_ssize_t count,
                                const floating* row) noexcept nogil:
    """_scatter_add_taps where tap (kd, kh, kw) lands inside the input at every position
    p0 .. p0+count-1 (one image's): each output row's run added with no clipping (for small
    images the per-row clip ranges and their divisions cost more than the adds: lenet2's
    col2im spent ~5 cycles per added element); False, nothing added, otherwise."""
    cdef PieceSpan span = _piece_span(g, p0, count)
    cdef Py_ssize_t od = p0 // (g.OH * g.OW), oh = p0 // g.OW % g.OH, ow = p0 % g.OW
    cdef Py_ssize_t q, seg, t
    cdef floating* dst
    if not (_rows_inside(g, &span, kd, kh) and _cols_inside(g, &span, kw)):
        return False
    q = 0
    while q < count:
        seg = g.OW - ow if g.OW - ow < count - q else count - q
        dst = plane + (((od * g.SD - g.PD + kd * g.DD) * g.H + oh * g.SH - g.PH + kh * g.DH)
                       * g.W + kw * g.DW - g.PW)
        if g.SW == 1:
            for t in range(ow, ow + seg):
                dst[t] += row[q + t - ow]
        else:
            for t in range(ow, ow + seg):
                dst[t * g.SW] += row[q + t - ow]
        _next_output_row(g, seg, &q, &ow, &oh, &od)
    return True


cdef void _backward_input_item(const floating* gy_group, const floating* a_block,
                               floating* gx_block, Py_ssize_t cout, Py_ssize_t c_lo,
                               Py_ssize_t c_hi, const Geom* g, Py_ssize_t block,
                               floating* bpack, floating* ctile, Py_ssize_t MR, Py_ssize_t NR,
                               Py_ssize_t KC) noexcept nogil:
    """grad_x for input channels [c_lo, c_hi) of one group of one image.

    For each block of output pixels: gcols = W^T @ grad_y (rows = this channel block's taps),
    then scatter-add gcols onto the input planes. The planes belong to this work item only,
    so the sums happen in a fixed order whatever the thread count.
    """
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t P = g.OD * g.OH * g.OW
    cdef Py_ssize_t r0 = c_lo * T, r1 = c_hi * T
    cdef Py_ssize_t npa = (r1 - r0 + MR - 1) // MR
    cdef Py_ssize_t p0, count, npb, ldc, j, i, kc0, kc, r, kd, kh, kw
    memset(gx_block, 0, (c_hi - c_lo) * plane * sizeof(floating))
    p0 = 0
    while p0 < P:
        count = block if P - p0 > block else P - p0
        npb = (count + NR - 1) // NR
        ldc = npb * NR
        _pack_rows(gy_group + p0, P, cout, count, NR, bpack)
        memset(ctile, 0, npa * MR * ldc * sizeof(floating))
        kc0 = 0
        while kc0 < cout:
            kc = KC if cout - kc0 > KC else cout - kc0
            for j in range(npb):
                for i in range(npa):
                    _ukr(kc, a_block + (i * cout + kc0) * MR, bpack + (j * cout + kc0) * NR,
                         ctile + i * MR * ldc + j * NR, ldc)
            kc0 = kc0 + KC
        if g.DW == 1 and (g.SW == 1 or g.SW == 2):
            # whole kernel rows at a time (r0 and T are multiples of KW)
            r = r0
            while r < r1:
                _tap_of(r % T, g, &kd, &kh, &kw)
                if g.SW == 2:
                    _scatter_add_tap_pairs(gx_block + (r // T - c_lo) * plane, g, kd, kh, p0,
                                           count, ctile + (r - r0) * ldc, ldc)
                else:
                    _scatter_add_kernel_row(gx_block + (r // T - c_lo) * plane, g, kd, kh,
                                            p0, count, ctile + (r - r0) * ldc, ldc)
                r = r + g.KW
        else:
            for r in range(r0, r1):
                _tap_of(r % T, g, &kd, &kh, &kw)
                if not _scatter_add_interior(gx_block + (r // T - c_lo) * plane, g, kd, kh,
                                             kw, p0, count, ctile + (r - r0) * ldc):
                    _scatter_add_taps(gx_block + (r // T - c_lo) * plane, g, kd, kh, kw, p0,
                                      count, ctile + (r - r0) * ldc)
        p0 = p0 + block


def gemm_backward_input(const floating[:, :, ::1] grad_y, const floating[::1] a_packed,
                        floating[:, :, :, :, ::1] grad_x, Py_ssize_t groups, Geom g,
                        Py_ssize_t block, Py_ssize_t channel_block, floating[:, ::1] work,
                        Py_ssize_t KC, int num_threads):
    """grad_x (N, C_in, D, H, W) = conv^T(grad_y (N, C_out, P), w).

    a_packed : W^T per group as (groups, ceil(K_g/MR), C_out_g, MR), rows past K_g zero.
    Work items are (image, group, block of ``channel_block`` input channels); a multiple of
    MR channels, so the channel_block*T rows of a block start on a panel boundary. Larger
    blocks pack each grad_y block fewer times.
    work : (num_threads, C_out_g*block + channel_block*T*block) scratch.
    """
    cdef Py_ssize_t N = grad_x.shape[0], C = grad_x.shape[1], CO = grad_y.shape[1]
    cdef Py_ssize_t P = grad_y.shape[2]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t kg = cig * T
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t MR, NR, npk, ncb
    cdef Py_ssize_t item, n, gi, cb, c_lo, c_hi, tid
    cdef const floating* gyp = &grad_y[0, 0, 0]
    cdef const floating* ap = &a_packed[0]
    cdef floating* gxp = &grad_x[0, 0, 0, 0, 0]
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef Py_ssize_t ctile_size
    _gemm_tile(floating is float, &MR, &NR)
    npk = (kg + MR - 1) // MR
    ncb = (cig + channel_block - 1) // channel_block
    ctile_size = channel_block * T * block
    if block % NR or channel_block % MR or wstride < cog * block + ctile_size:
        raise ValueError(f"gemm_backward_input: block {block} must be a multiple of {NR}, "
                         f"channel_block {channel_block} of {MR}, and the work rows "
                         f"({wstride}) at least {cog * block + ctile_size} long")
    with nogil:
        for item in prange(N * groups * ncb, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            n = item // (groups * ncb)
            gi = (item // ncb) % groups
            cb = item % ncb
            c_lo = cb * channel_block
            c_hi = c_lo + channel_block if cig - c_lo > channel_block else cig
            _backward_input_item(gyp + (n * CO + gi * cog) * P,
                                 ap + (gi * npk + c_lo * T // MR) * cog * MR,
                                 gxp + (n * C + gi * cig + c_lo) * plane,
                                 cog, c_lo, c_hi, &g, block,
                                 wp + tid * wstride,
                                 wp + tid * wstride + cog * block, MR, NR, KC)
