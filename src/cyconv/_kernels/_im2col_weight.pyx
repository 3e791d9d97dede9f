"""The lowered (im2col) weight gradient: grad_w += grad_y @ cols^T, per (image, pixel block)
piece, each reduction chunk's partial summed by the caller in order.

The B panels (NR taps x a piece's positions) are packed straight from x line by line, the A
panels (MR output channels of grad_y) line by line, and multiplied on the register-tiled
micro-kernel (_gemm.h, through the ISA descriptor). Compute only: the Python layer
(``cyconv/_conv_backward.py``) validates and allocates.
"""
from cython.parallel cimport prange

from cyconv._kernels._core cimport (Geom, PieceSpan, _gemm_tile, _next_output_row, _piece_span,
                                    _rows_inside, _tap_of, _ukr, _valid_range)
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport cyconv_isa_bind, isa_descriptor
from cyconv._kernels._plane_sums cimport _plane_sums
from cyconv._kernels._omp cimport omp_get_thread_num

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef extern from "_panel_lines.h" nogil:
    void cyconv_gather_lines_f32(float* dst, Py_ssize_t nr, const float* x,
                                 const Py_ssize_t* off, Py_ssize_t taps, Py_ssize_t p,
                                 Py_ssize_t step, Py_ssize_t n)
    void cyconv_gather_lines_f64(double* dst, Py_ssize_t nr, const double* x,
                                 const Py_ssize_t* off, Py_ssize_t taps, Py_ssize_t p,
                                 Py_ssize_t step, Py_ssize_t n)


cdef enum:
    MAX_NR = 64  # at least the largest NR in the ISA table (_isa_table.h)


cdef void _pack_tap_panel(const floating* x_group, const Geom* g, Py_ssize_t k0,
                          Py_ssize_t kg, Py_ssize_t NR, Py_ssize_t p0, Py_ssize_t count,
                          floating* dst) noexcept nogil:
    """dst[q * NR + t] = cols[k0 + t, p0 + q] (0 in the padding and for taps past kg),
    q < count, t < NR: one B panel of the weight gradient's GEMM, packed straight from x (a
    group's channels, planes apart) for positions p0 .. p0+count-1 of one image. Each panel
    line is NR loads at the taps' offsets from one position, with no bounds tests where
    every tap of the output row is inside the input (the per-tap gather into a row and the
    strided copy into the panel took half of stem7x7's and a third of lenet2's gradient)."""
    cdef Py_ssize_t off[MAX_NR]
    cdef Py_ssize_t off_w[MAX_NR]
    cdef Py_ssize_t lo[MAX_NR]
    cdef Py_ssize_t hi[MAX_NR]
    cdef Py_ssize_t kd_of[MAX_NR]
    cdef Py_ssize_t kh_of[MAX_NR]
    cdef bint live[MAX_NR]
    cdef Py_ssize_t T = g.KD * g.KH * g.KW, plane = g.D * g.H * g.W
    cdef Py_ssize_t taps = kg - k0 if kg - k0 < NR else NR
    cdef Py_ssize_t all_lo = 0, all_hi = g.OW
    cdef PieceSpan span = _piece_span(g, p0, count)
    cdef Py_ssize_t od = p0 // (g.OH * g.OW), oh = p0 // g.OW % g.OH, ow = p0 % g.OW
    cdef Py_ssize_t t, k, kd, kh, kw, q, seg, idd, ih, m0, m1, c, row = 0
    cdef bint rows_live, piece_live = True
    cdef floating* line
    for t in range(taps):
        k = k0 + t
        _tap_of(k % T, g, &kd, &kh, &kw)
        kd_of[t] = kd
        kh_of[t] = kh
        off_w[t] = (k // T) * plane + kw * g.DW - g.PW
        _valid_range(kw * g.DW - g.PW, g.SW, g.W, g.OW, &lo[t], &hi[t])
        all_lo = lo[t] if lo[t] > all_lo else all_lo
        all_hi = hi[t] if hi[t] < all_hi else all_hi
        piece_live = piece_live and _rows_inside(g, &span, kd, kh)
    for q in range(count):
        for t in range(taps, NR):
            dst[q * NR + t] = 0
    if piece_live:
        # every row of the piece inside along D and H: the taps' offsets from a row's start
        # are the same for all rows
        for t in range(taps):
            live[t] = True
            off[t] = ((kd_of[t] * g.DD - g.PD) * g.H + kh_of[t] * g.DH - g.PH) * g.W + off_w[t]
    rows_live = piece_live
    q = 0
    while q < count:
        seg = g.OW - ow if g.OW - ow < count - q else count - q
        if piece_live:
            row = (od * g.SD * g.H + oh * g.SH) * g.W
        else:
            rows_live = True
            for t in range(taps):
                idd = od * g.SD - g.PD + kd_of[t] * g.DD
                ih = oh * g.SH - g.PH + kh_of[t] * g.DH
                live[t] = 0 <= idd < g.D and 0 <= ih < g.H
                rows_live = rows_live and live[t]
                off[t] = (idd * g.H + ih) * g.W + off_w[t]
        # outputs ow .. ow+seg-1 of this row: [m0, m1) needs no test
        m0 = all_lo if all_lo > ow else ow
        m1 = all_hi if all_hi < ow + seg else ow + seg
        if not rows_live or m1 < m0:
            m0 = m1 = ow
        if m1 > m0:
            if floating is float:
                cyconv_gather_lines_f32(dst + (q + m0 - ow) * NR, NR, x_group, off, taps,
                                        row + m0 * g.SW, g.SW, m1 - m0)
            else:
                cyconv_gather_lines_f64(dst + (q + m0 - ow) * NR, NR, x_group, off, taps,
                                        row + m0 * g.SW, g.SW, m1 - m0)
        for c in range(ow, ow + seg):
            if m0 <= c < m1:
                continue
            line = dst + (q + c - ow) * NR
            for t in range(taps):
                line[t] = x_group[off[t] + row + c * g.SW] if live[t] and lo[t] <= c < hi[t] \
                    else 0
        _next_output_row(g, seg, &q, &ow, &oh, &od)


cdef void _backward_weight_piece(const floating* gy_group, const floating* x_group,
                                 floating* part_group, Py_ssize_t cout, Py_ssize_t kg,
                                 Py_ssize_t cout_pad, Py_ssize_t kg_pad, Py_ssize_t p0,
                                 Py_ssize_t count, const Geom* g, floating* apack,
                                 floating* bpack, Py_ssize_t MR, Py_ssize_t NR) noexcept nogil:
    """part (C_out_g, K_g) += grad_y[:, p0:p0+count] @ cols[:, p0:p0+count]^T (one group)."""
    cdef Py_ssize_t P = g.OD * g.OH * g.OW
    cdef Py_ssize_t q, i, j, r, rows
    cdef const floating* src
    cdef floating* line
    # A panels line by line: MR output channels' grad_y at one position per line
    for i in range(cout_pad // MR):
        rows = MR if cout - i * MR > MR else cout - i * MR
        src = gy_group + i * MR * P + p0
        for q in range(count):
            line = apack + (i * count + q) * MR
            for r in range(rows):
                line[r] = src[r * P + q]
            for r in range(rows, MR):
                line[r] = 0
    for j in range(kg_pad // NR):
        _pack_tap_panel(x_group, g, j * NR, kg, NR, p0, count, bpack + j * count * NR)
    for j in range(kg_pad // NR):
        for i in range(cout_pad // MR):
            _ukr(count, apack + i * count * MR, bpack + j * count * NR,
                 part_group + i * MR * kg_pad + j * NR, kg_pad)


def gemm_backward_weight(const floating[:, :, ::1] grad_y, const floating[:, :, :, :, ::1] x,
                         floating[:, :, :, ::1] partial, Py_ssize_t groups, Geom g,
                         Py_ssize_t block, floating[:, ::1] work, double[:, ::1] plane_sums,
                         bint want_sums, int num_threads):
    """Partial weight gradients, one per reduction chunk (summed in order by the caller).

    The (image, pixel block) pieces are split into ``partial.shape[0]`` contiguous chunks - a
    number that does not depend on the thread count - and each chunk is reduced by one
    thread, so the result is bitwise identical for any number of threads.
    partial : (chunks, groups, C_out_g padded to MR, K_g padded to NR), zero-filled.
    work : (num_threads, (C_out_g_pad + K_g_pad) * block) scratch: the A and B panels.
    plane_sums : (N, C_out), with ``want_sums``: each grad_y plane's sum (the bias
        gradient's terms), taken by the piece that starts the image, before its blocks.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], CO = grad_y.shape[1]
    cdef Py_ssize_t P = grad_y.shape[2]
    cdef Py_ssize_t R = partial.shape[0]
    cdef Py_ssize_t cout_pad = partial.shape[2], kg_pad = partial.shape[3]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t kg = cig * T
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t nblk = (P + block - 1) // block
    cdef Py_ssize_t pieces = N * nblk
    cdef Py_ssize_t per_chunk = (pieces + R - 1) // R
    cdef Py_ssize_t MR, NR
    cdef Py_ssize_t r, piece, n, p0, count, gi, tid, piece_end
    cdef const floating* gyp = &grad_y[0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* pp = &partial[0, 0, 0, 0]
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    _gemm_tile(floating is float, &MR, &NR)
    with nogil:
        for r in prange(R, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            piece_end = (r + 1) * per_chunk if (r + 1) * per_chunk < pieces else pieces
            for piece in range(r * per_chunk, piece_end):
                n = piece // nblk
                p0 = (piece % nblk) * block
                count = block if P - p0 > block else P - p0
                if want_sums and p0 == 0:
                    _plane_sums(gyp + n * CO * P, CO, P, &plane_sums[n, 0])
                for gi in range(groups):
                    _backward_weight_piece(gyp + (n * CO + gi * cog) * P,
                                           xp + (n * C + gi * cig) * plane,
                                           pp + (r * groups + gi) * cout_pad * kg_pad,
                                           cog, kg, cout_pad, kg_pad, p0, count, &g,
                                           wp + tid * wstride,
                                           wp + tid * wstride + cout_pad * block, MR, NR)
