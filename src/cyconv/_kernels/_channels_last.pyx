"""Forward convolution on channels-last memory (N, D, H, W, C), read where it lies.

The channel-lane row tiles (_ukr_bcast_template.h) compute OB output channels x NP row
pixels and store them [pixel][channel] - exactly channels-last output, so their tiles go
straight into y with ldc = C_out. Their input side broadcasts one element per (tap, input
channel, pixel): on channels-last memory tap k = (tap, ci) of a pixel is a fixed offset
away and consecutive pixels C*stride apart, so the input needs no transpose either. An
unpadded input whose rows are at least NP outputs wide is read in place; otherwise each work
item copies the input rows it reads into a zero-padded band in its thread's scratch (L2
sized, never a full-size copy). Compute only: the Python layer (``cyconv/_conv_channels_last.py``)
packs the weights (per tile of OB output channels, k = tap * C/groups + ci), computes the
tap offsets and sizes the bands.
"""
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from cyconv._kernels._core cimport Geom, _direct_tile, _ukrb, _ukrn
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef inline void _tile(bint narrow, Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, Py_ssize_t bs, floating* C,
                       Py_ssize_t ldc) noexcept nogil:
    if narrow:
        _ukrn(K, A, B, boff, bs, C, ldc, False)
    else:
        _ukrb(K, A, B, boff, bs, C, ldc, False)


cdef void _fill_band(const floating* x_image, const Geom* g, Py_ssize_t C, Py_ssize_t od,
                     Py_ssize_t oh0, Py_ssize_t BD, Py_ssize_t BH, Py_ssize_t BW,
                     floating* band) noexcept nogil:
    """The input rows one work item reads, zero-padded: band[bd, bh, bw, c] = x at depth
    od*SD - PD + bd, height oh0*SH - PH + bh, width bw - PW (0 outside the input)."""
    cdef Py_ssize_t bd, bh, idd, ih
    cdef Py_ssize_t row = BW * C
    cdef Py_ssize_t lead = g.PW * C
    cdef Py_ssize_t width = g.W * C
    cdef floating* dst
    for bd in range(BD):
        idd = od * g.SD - g.PD + bd
        for bh in range(BH):
            ih = oh0 * g.SH - g.PH + bh
            dst = band + (bd * BH + bh) * row
            if idd < 0 or idd >= g.D or ih < 0 or ih >= g.H:
                memset(dst, 0, row * sizeof(floating))
                continue
            memset(dst, 0, lead * sizeof(floating))
            memcpy(dst + lead, x_image + (idd * g.H + ih) * width, width * sizeof(floating))
            memset(dst + lead + width, 0, (row - lead - width) * sizeof(floating))


cdef void _rows_item(const floating* src, Py_ssize_t row_stride, const Py_ssize_t* offsets,
                     const floating* a_packed, floating* y_rows, const floating* bias,
                     Py_ssize_t rows, Py_ssize_t q0, Py_ssize_t q1, Py_ssize_t C,
                     Py_ssize_t CO, Py_ssize_t groups, const Geom* g, bint narrow,
                     Py_ssize_t OB, Py_ssize_t NP, floating* tile) noexcept nogil:
    """Pixels [q0, q1) of ``rows`` consecutive output rows of one image: y_rows[r, ow, co]
    for every output channel. Input row r's first element is src + r*SH*row_stride; tap k
    of output pixel ow is offsets[k] + ow*SW*C further (plus the group's first channel)."""
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t K = cig * g.KD * g.KH * g.KW
    cdef Py_ssize_t npa = (cog + OB - 1) // OB
    cdef Py_ssize_t ntiles = (q1 - q0 + NP - 1) // NP
    cdef Py_ssize_t bs = g.SW * C
    cdef Py_ssize_t gi, i, r, j, ow0, first, cols, p, o
    cdef const floating* a_panel
    cdef const floating* b_row
    cdef const floating* bias_tile
    cdef floating* y_row
    cdef floating* dst
    for gi in range(groups):
        for i in range(npa):
            a_panel = a_packed + (gi * npa + i) * K * OB
            cols = OB if cog - i * OB > OB else cog - i * OB
            bias_tile = bias + gi * cog + i * OB if bias != NULL else NULL
            for r in range(rows):
                b_row = src + r * g.SH * row_stride + gi * cig
                y_row = y_rows + r * g.OW * CO + gi * cog + i * OB
                for j in range(ntiles):
                    first = q0 + j * NP
                    # a row's last tile ends at its last pixel (it recomputes some of the
                    # previous tile's pixels) rather than read past the row
                    ow0 = first if first + NP <= g.OW else g.OW - NP
                    if ow0 < 0:
                        ow0 = 0
                    if cols == OB and first + NP <= q1:
                        dst = y_row + ow0 * CO
                        _tile(narrow, K, a_panel, b_row + ow0 * bs, offsets, bs, dst, CO)
                        if bias_tile != NULL:
                            for p in range(NP):
                                for o in range(OB):
                                    dst[p * CO + o] += bias_tile[o]
                        continue
                    _tile(narrow, K, a_panel, b_row + ow0 * bs, offsets, bs, tile, OB)
                    for p in range(first - ow0, NP):
                        if ow0 + p >= q1:
                            break
                        dst = y_row + (ow0 + p) * CO
                        if bias_tile != NULL:
                            for o in range(cols):
                                dst[o] = tile[p * OB + o] + bias_tile[o]
                        else:
                            for o in range(cols):
                                dst[o] = tile[p * OB + o]


def channels_last_forward(const floating[::1] x, Py_ssize_t batch, Py_ssize_t channels,
                          const floating[::1] a_packed, const Py_ssize_t[::1] offsets,
                          floating[::1] y, Py_ssize_t out_channels, const floating[::1] bias,
                          bint has_bias, Py_ssize_t groups, Geom g, bint narrow,
                          Py_ssize_t rows, Py_ssize_t span, tuple band,
                          floating[:, ::1] work, int num_threads):
    """y (N, OD, OH, OW, C_out) = conv(x, w) (+ bias) for x (N, D, H, W, C), both flat
    (N = ``batch`` >= 1, C = ``channels``).

    a_packed : (groups, ceil(C_out/groups / OB), K, OB) weight panels, k = tap * C/groups + ci
        (taps row-major over kd, kh, kw), zero past the last output channel.
    offsets : (K,) element offset of tap k from an output pixel's first input element: on
        the input itself (``band`` = None; needs no padding and OW >= NP) or on the band.
    rows, span : output rows (of one image and output depth) and pixels of each row per work
        item (span: a multiple of NP, or OW).
    band : (BD, BH, BW) - each work item copies its input rows onto a zero-padded band of
        BD x BH x BW pixels at the start of its thread's ``work`` row - or None.
    work : per-thread scratch: the band (if any), then one OB x NP tile.
    """
    cdef Py_ssize_t C = channels, CO = out_channels
    cdef Py_ssize_t N = batch
    cdef Py_ssize_t OB, NP
    cdef bint single = floating is float
    cdef bint in_place = band is None
    cdef Py_ssize_t BD = 0, BH = 0, BW = 0, band_elems = 0
    cdef Py_ssize_t chunks = (g.OW + span - 1) // span
    cdef Py_ssize_t blocks = (g.OH + rows - 1) // rows
    cdef Py_ssize_t items = N * g.OD * blocks * chunks
    cdef Py_ssize_t image = g.D * g.H * g.W * C
    cdef Py_ssize_t out_row = g.OW * CO
    cdef Py_ssize_t item, n, od, blk, oh0, count, tid, row_stride, q0, q1
    cdef const floating* xp = &x[0]
    cdef floating* yp = &y[0]
    cdef const floating* ap = &a_packed[0]
    cdef const Py_ssize_t* op = &offsets[0]
    cdef const floating* bp = &bias[0] if has_bias else NULL
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef const floating* src
    _direct_tile(single, narrow, &OB, &NP)
    if not in_place:
        BD, BH, BW = band
        band_elems = BD * BH * BW * C
    row_stride = BW * C if not in_place else g.W * C
    with nogil:
        for item in prange(items, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            n = item // (g.OD * blocks * chunks)
            od = (item // (blocks * chunks)) % g.OD
            blk = (item // chunks) % blocks
            q0 = (item % chunks) * span
            q1 = q0 + span if g.OW - q0 > span else g.OW
            oh0 = blk * rows
            count = rows if g.OH - oh0 > rows else g.OH - oh0
            if in_place:
                src = xp + n * image + ((od * g.SD) * g.H + oh0 * g.SH) * g.W * C
            else:
                _fill_band(xp + n * image, &g, C, od, oh0, BD, BH, BW, wp + tid * wstride)
                src = wp + tid * wstride
            _rows_item(src, row_stride, op, ap,
                       yp + ((n * g.OD + od) * g.OH + oh0) * out_row, bp, count, q0, q1, C,
                       CO, groups, &g, narrow, OB, NP, wp + tid * wstride + band_elems)
