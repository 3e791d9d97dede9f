"""Convolution kernels that read the zero-padded input in place, row by row.

The GEMM-shaped implicit kernel (stride 1, flat positions of the padded grid), the row
tiles (output channels on the lanes, ``ROWS_WIDE`` / ``ROWS_NARROW``; output pixels on the
lanes, ``ROWS_PIXELS``) and the 8-pixel row-pair kernel (the stride-1 weight gradient on the
same tiles: ``_padded_weight.pyx``). Compute only: the Python layer
(``cyconv/_conv_forward.py``, ``_conv_backward.py``, ``_conv_plan.py``) picks the kernel,
packs the weights for its tile and allocates the scratch.
"""
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from cyconv._kernels._core cimport (Geom, _pad_item, _short_tiles, _ukrb, _ukrn, _ukro,
                                    _ukrs, _unpack_tile)
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._prefetch cimport cyconv_prefetch_write

cdef extern from "_rowops.h" nogil:
    void cyconv_rows_plus_bias_f32(Py_ssize_t rows, Py_ssize_t n, const float* src,
                                   Py_ssize_t src_row, float* dst, Py_ssize_t dst_row,
                                   const float* bias)
    void cyconv_rows_plus_bias_f64(Py_ssize_t rows, Py_ssize_t n, const double* src,
                                   Py_ssize_t src_row, double* dst, Py_ssize_t dst_row,
                                   const double* bias)


# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef inline void _ukr_pixrows(Py_ssize_t K, const floating* A, const floating* B,
                              const Py_ssize_t* boff, int nvec, const Py_ssize_t* voff,
                              floating* Y, Py_ssize_t ldy, const Py_ssize_t* yoff,
                              const Py_ssize_t* vlen, Py_ssize_t nch,
                              const floating* bias) noexcept nogil:
    if floating is float:
        ISA.ukr_pixrows_f32(K, A, B, boff, nvec, voff, Y, ldy, yoff, vlen, nch, bias)
    else:
        ISA.ukr_pixrows_f64(K, A, B, boff, nvec, voff, Y, ldy, yoff, vlen, nch, bias)


cdef inline void _rows_plus_bias(Py_ssize_t rows, Py_ssize_t n, const floating* src,
                                 Py_ssize_t src_row, floating* dst, Py_ssize_t dst_row,
                                 const floating* bias) noexcept nogil:
    if floating is float:
        cyconv_rows_plus_bias_f32(rows, n, src, src_row, dst, dst_row, bias)
    else:
        cyconv_rows_plus_bias_f64(rows, n, src, src_row, dst, dst_row, bias)


cdef void _implicit_item(const floating* x_group, const Py_ssize_t* offsets,
                         const floating* a_group, floating* y_group, Py_ssize_t y_image_stride,
                         const floating* bias_group, Py_ssize_t cout, Py_ssize_t kg,
                         Py_ssize_t n, Py_ssize_t q0, Py_ssize_t count, Py_ssize_t block,
                         const Geom* g, floating* ctile, Py_ssize_t MR, Py_ssize_t NR,
                         Py_ssize_t KC) noexcept nogil:
    """One block of flat positions q of the padded grid for one image and group.

    Stride 1 makes input tap k of output q the element q + offsets[k] of the zero-padded
    input, so the micro-kernel reads the input rows in place - no lowering. Positions in the
    padding columns/rows of the grid are computed and dropped on the way out.
    """
    cdef Py_ssize_t npb = (count + NR - 1) // NR
    cdef Py_ssize_t npa = (cout + MR - 1) // MR
    cdef Py_ssize_t grid_hw = g.H * g.W
    cdef Py_ssize_t P = g.OD * g.OH * g.OW
    cdef Py_ssize_t kc0, kc, j, i, q, q_end, od, oh, ow, run
    cdef floating* dst
    memset(ctile, 0, npa * MR * block * sizeof(floating))
    kc0 = 0
    while kc0 < kg:
        kc = KC if kg - kc0 > KC else kg - kc0
        for j in range(npb):
            for i in range(npa):
                _ukro(kc, a_group + (i * kg + kc0) * MR, x_group + q0 + j * NR, offsets + kc0,
                      ctile + i * MR * block + j * NR, block)
        kc0 = kc0 + KC
    q = q0
    q_end = q0 + count
    while q < q_end:
        od = q // grid_hw
        oh = (q // g.W) % g.H
        ow = q % g.W
        run = g.W - ow if g.W - ow < q_end - q else q_end - q
        if od < g.OD and oh < g.OH and ow < g.OW:
            if ow + run > g.OW:
                run = g.OW - ow
            dst = y_group + n * y_image_stride + (od * g.OH + oh) * g.OW + ow
            _rows_plus_bias(cout, run, ctile + q - q0, block, dst, P, bias_group)
        q = q + (g.W - ow if g.W - ow < q_end - q else q_end - q)


cdef void _fill_edge_tile(floating* buf, const floating* x_group, Py_ssize_t ci0,
                          Py_ssize_t ci1, const Geom* g, Py_ssize_t r, Py_ssize_t c0,
                          Py_ssize_t lb) noexcept nogil:
    """Columns [c0, c0 + lb) of every input row that output row r reads (per channel in
    [ci0, ci1), depth tap and height tap), zero outside the unpadded row, as consecutive rows
    of lb: the layout ``edge_offsets`` address."""
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t od = r // g.OH, oh = r % g.OH
    cdef Py_ssize_t lo = -c0 if c0 < 0 else 0
    cdef Py_ssize_t hi = g.W - c0 if g.W - c0 < lb else lb
    cdef Py_ssize_t ci, kd, kh
    cdef floating* dst
    if hi < lo:
        hi = lo
    for ci in range(ci0, ci1):
        for kd in range(g.KD):
            for kh in range(g.KH):
                dst = buf + ((ci * g.KD + kd) * g.KH + kh) * lb
                memset(dst, 0, lo * sizeof(floating))
                memcpy(dst + lo, x_group + ci * plane + ((od * g.SD + kd * g.DD) * g.H
                                                         + oh * g.SH + kh * g.DH) * g.W + c0 + lo,
                       (hi - lo) * sizeof(floating))
                memset(dst + hi, 0, (lb - hi) * sizeof(floating))


cpdef enum RowKernel:
    ROWS_WIDE = 0      # channels on the lanes, NP pixels broadcast (_ukrb)
    ROWS_NARROW = 1    # the same, 8 pixels (_ukrn)
    ROWS_PIXELS = 2    # pixels on the lanes, written straight into y (_ukr_pixrows)


cdef void _rows_item(const floating* x_group, const Py_ssize_t* offsets,
                     const floating* a_group, floating* y_group, Py_ssize_t y_image_stride,
                     const floating* bias_group, Py_ssize_t cout, Py_ssize_t kg, Py_ssize_t n,
                     Py_ssize_t r0, Py_ssize_t r1, const Geom* g, floating* ctile,
                     Py_ssize_t OB, Py_ssize_t NP, Py_ssize_t KC, RowKernel kernel,
                     const Py_ssize_t* edge_offsets, floating* edge_buf, Py_ssize_t cig,
                     Py_ssize_t pw) noexcept nogil:
    """Output rows [r0, r1) (flat over depth and height) of one image and group.

    Each row is cut into tiles of NP pixels; a tile of OB output channels is one micro-kernel
    call reading the padded input rows in place (pixels SW apart for a strided convolution).
    The channels-on-lanes kernels leave ctile holding the rows as [pixel][channel], reduced
    in chunks of KC; after the last chunk each run of 16 finished pixels is transposed into
    NCHW while it is still in L1 (pixels past the row end are dropped). The pixels-on-lanes
    kernel (stride 1) reduces a whole tile in registers and stores it into y itself.

    With ``edge_offsets`` (channel-lane kernels) the input is not padded at all (only its
    width would be): x_group is the raw input, ``offsets`` already hold the leading width
    padding -pw, and a tile
    whose reads would leave its row (the first and last tiles) reads a copy of just the
    columns it needs instead (``edge_buf``, zero-filled where the padding would be).
    """
    cdef Py_ssize_t npo = (cout + OB - 1) // OB
    cdef Py_ssize_t ldc = npo * OB
    cdef Py_ssize_t tiles = (g.OW + NP - 1) // NP
    # the wide tiles end a row with short ones (one pixel less) where the level has them
    cdef Py_ssize_t NPS = NP - 1
    cdef Py_ssize_t shorts = (_short_tiles(g.OW, NP, ISA.nps) if kernel == ROWS_WIDE
                              and ISA.nps > 0 else 0)
    cdef Py_ssize_t fulls = tiles - shorts
    cdef Py_ssize_t width = fulls * NP + shorts * NPS
    cdef Py_ssize_t ts
    cdef Py_ssize_t P = g.OD * g.OH * g.OW
    cdef bint pixels = kernel == ROWS_PIXELS
    cdef Py_ssize_t kc0, kc, i, r, t, nch, done, end, c0
    cdef const floating* row
    cdef const floating* src_tile
    cdef const Py_ssize_t* offs
    cdef floating* y_rows
    cdef const floating* bias_panel
    # input columns one tile reads: NP pixels SW apart, plus the kernel's dilated width
    cdef Py_ssize_t lb = (NP - 1) * g.SW + (g.KW - 1) * g.DW + 1
    cdef Py_ssize_t taps = g.KD * g.KH * g.KW
    cdef Py_ssize_t lanes = NP // 3, per_row = (g.OW + NP // 3 - 1) // (NP // 3)
    cdef Py_ssize_t voff[3]
    cdef Py_ssize_t yoff[3]
    cdef Py_ssize_t vlen[3]
    cdef Py_ssize_t q, rr, cc
    cdef int nvec, j
    # vectors per block of the pixel-lane kernel: a row's vectors rounded up to whole calls
    # of 3, the block running on into the next row (3 rows when a row is 1 or 2 vectors), so
    # no call but a work item's last has fewer than 3 vectors (AVX2 rows of 28 or 32 pixels,
    # 4 vectors, ran a 3 + 1 split with the 1-vector call latency-bound: 1.25-1.36x slower);
    # about one row's input, not whole blocks of rows (3 rows of 128 pixels with 32 input
    # channels and a 3x3 kernel, 83 KiB of input rows, left L1 and ran 1.14x slower)
    cdef Py_ssize_t block_vectors = 3 * per_row if per_row < 3 else 3 * ((per_row + 2) // 3)
    cdef Py_ssize_t vb0, vb1
    if pixels:
        # block by block, panel by panel: the block's input rows stay in L1 across the
        # panels, a panel's weights (kg x MR) across the block (tile by tile, all panels,
        # streamed the weights from L2: conv1d 3.2 vs 2.9 ms; all rows of a work item per
        # panel streamed its input from L3: 2-D 32 -> 64 3x3 112 wide 1.4x slower); a block
        # is the work item's rows' pieces of a vector each in order, three per call, so rows
        # narrower than three vectors share calls (conv3d's rows of 32)
        vb0 = r0 * per_row
        while vb0 < r1 * per_row:
            vb1 = vb0 + block_vectors if r1 * per_row - vb0 > block_vectors else r1 * per_row
            for i in range(npo):
                q = vb0
                while q < vb1:
                    nvec = 3 if vb1 - q > 3 else <int>(vb1 - q)
                    for j in range(nvec):
                        rr = (q + j) // per_row
                        cc = ((q + j) % per_row) * lanes
                        voff[j] = ((rr // g.OH) * g.SD * g.H + (rr % g.OH) * g.SH) * g.W + cc
                        yoff[j] = rr * g.OW + cc
                        vlen[j] = lanes if g.OW - cc > lanes else g.OW - cc
                    _ukr_pixrows(kg, a_group + i * kg * OB, x_group, offsets, nvec, voff,
                                 y_group + n * y_image_stride + i * OB * P, P, yoff, vlen,
                                 OB if cout - i * OB > OB else cout - i * OB,
                                 bias_group + i * OB if bias_group != NULL else NULL)
                    q = q + nvec
            vb0 = vb1
        return
    # the first reduction chunk stores every tile element (all rows, tiles and channel
    # panels), so ctile needs no zero-fill
    kc0 = 0
    while kc0 < kg:
        kc = kg - kc0 if kg - kc0 <= KC else KC
        for i in range(npo):
            nch = OB if cout - i * OB > OB else cout - i * OB
            bias_panel = bias_group + i * OB if bias_group != NULL else NULL
            for r in range(r0, r1):
                row = x_group + ((r // g.OH) * g.SD * g.H + (r % g.OH) * g.SH) * g.W
                y_rows = y_group + n * y_image_stride + i * OB * P + r * g.OW
                done = 0
                for t in range(tiles):
                    ts = t * NP if t < fulls else fulls * NP + (t - fulls) * NPS
                    src_tile = row + ts * g.SW
                    offs = offsets
                    if edge_offsets != NULL:
                        c0 = ts * g.SW - pw
                        if c0 < 0 or c0 + lb > g.W:
                            # just the channels of this reduction chunk
                            _fill_edge_tile(edge_buf, x_group, kc0 // taps,
                                            (kc0 + kc - 1) // taps + 1, g, r, c0, lb)
                            src_tile = edge_buf
                            offs = edge_offsets
                    if kernel == ROWS_NARROW:
                        _ukrn(kc, a_group + (i * kg + kc0) * OB, src_tile, offs + kc0, g.SW,
                              ctile + ((r - r0) * width + ts) * ldc + i * OB, ldc, kc0 > 0)
                    elif t < fulls:
                        _ukrb(kc, a_group + (i * kg + kc0) * OB, src_tile, offs + kc0, g.SW,
                              ctile + ((r - r0) * width + ts) * ldc + i * OB, ldc, kc0 > 0)
                    else:
                        _ukrs(kc, a_group + (i * kg + kc0) * OB, src_tile, offs + kc0, g.SW,
                              ctile + ((r - r0) * width + ts) * ldc + i * OB, ldc, kc0 > 0)
                    if kc0 + kc < kg:
                        continue
                    # transposing 16-pixel runs as soon as they are final keeps them in L1
                    # and spreads y's stores over the computation (vgg3x3 forward at 2
                    # threads, interleaved medians: 4.30 -> 4.23 ms)
                    end = ts + (NP if t < fulls else NPS)
                    if end >= g.OW:
                        end = g.OW
                    else:
                        end = done + (end - done) // 16 * 16
                    if end > done:
                        _unpack_tile(end - done, nch,
                                     ctile + ((r - r0) * width + done) * ldc + i * OB, ldc,
                                     y_rows + done, P, bias_panel)
                        done = end
                        if end < g.OW:
                            # the next run's lines of y (one per channel, planes apart):
                            # owned by the time it is unpacked (stem7x7 forward 0.91x)
                            for c0 in range(nch):
                                cyconv_prefetch_write(y_rows + c0 * P, end * sizeof(floating),
                                                      (end + 16) * sizeof(floating))
        kc0 = kc0 + kc


def padded_forward(const floating[::1] x_padded, Py_ssize_t image_stride,
                   const Py_ssize_t[::1] offsets, const floating[::1] a_packed,
                   floating[:, :, ::1] y, const floating[::1] bias, bint has_bias,
                   Py_ssize_t groups, Py_ssize_t channels, Geom g, bint row_tiles,
                   int row_kernel, Py_ssize_t block, floating[:, ::1] work, Py_ssize_t KC,
                   int num_threads, const floating[:, :, :, :, ::1] x_raw=None,
                   tuple raw_pads=(0, 0, 0), floating[:, ::1] pad_work=None,
                   const Py_ssize_t[::1] edge_offsets=None, floating[:, ::1] edge_work=None):
    """y (N, C_out, P) = conv(x, w) (+ bias), reading the zero-padded input in place.

    x_padded : flat zero-padded input, image n at n*image_stride, channel planes of the
        padded grid D*H*W in ``g``, with slack at the end for the last tile's reads.
    offsets : (K_g,) flat offset of tap k = ci*T + tap on that grid.
    row_tiles : True - row-tiled direct kernel (any stride; weights packed in panels of OB
        output channels; ``block`` output rows per work item). ``row_kernel``: 0 or 1 the
        channels-on-lanes tiles ``direct_tile_shape(single, narrow=row_kernel)``, 2 the
        pixels-on-lanes tiles ``pixel_rows_tile(single)[:2]`` (stride 1 along the width).
        False - GEMM-shaped implicit kernel (stride 1; weights in panels of MR; ``block``
        flat grid positions per work item, a multiple of NR).
    work : per-thread scratch rows holding one work item's [pixel][channel] or
        [channel][position] tile.
    x_raw, raw_pads, pad_work : when given (one work item per image and group), the input
        is padded per work item instead: the item's channel planes of ``x_raw`` (N, C, D, H,
        W) go onto the grid, at the leading padding ``raw_pads`` (d, h, w), in its thread's
        ``pad_work`` row (C/groups planes plus the slack the last tile reads), where the
        kernel finds them still in L2 - no whole padded copy written to memory and read
        back. x_padded is then unused.
    edge_offsets, edge_work : when given (row tiles only, for an input padded along its width
        alone), x_padded is the unpadded input itself, ``g`` its geometry (W unpadded),
        ``offsets`` its tap offsets shifted by the leading width padding raw_pads[2], and
        only the tiles at a row's ends read copies of their columns, laid out as
        ``edge_offsets`` (C/groups * KD * KH rows of (NP-1)*SW + (KW-1)*DW + 1), in their
        thread's ``edge_work`` row: no padded copy of the input at all. Channel-lane row
        tiles only.
    """
    cdef Py_ssize_t N = y.shape[0], CO = y.shape[1]
    cdef Py_ssize_t cig = channels // groups, cog = CO // groups
    cdef Py_ssize_t kg = offsets.shape[0]
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t units, nblk, tile, NX, npan
    cdef Py_ssize_t item, n, gi, blk, u0, u1, tid
    cdef const floating* xp = &x_padded[0]
    cdef const Py_ssize_t* op = &offsets[0]
    cdef const floating* ap = &a_packed[0]
    cdef floating* yp = &y[0, 0, 0]
    cdef const floating* bp = &bias[0] if has_bias else NULL
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef bint pad_items = x_raw is not None
    cdef const floating* rawp = &x_raw[0, 0, 0, 0, 0] if pad_items else NULL
    cdef floating* padp = &pad_work[0, 0] if pad_items else NULL
    cdef Py_ssize_t pad_stride = pad_work.shape[1] if pad_items else 0
    cdef Py_ssize_t RD = x_raw.shape[2] if pad_items else 0
    cdef Py_ssize_t RH = x_raw.shape[3] if pad_items else 0
    cdef Py_ssize_t RW = x_raw.shape[4] if pad_items else 0
    cdef Py_ssize_t rpd = raw_pads[0], rph = raw_pads[1], rpw = raw_pads[2]
    cdef Py_ssize_t raw_plane = RD * RH * RW
    cdef const floating* xbase
    cdef const Py_ssize_t* eop = &edge_offsets[0] if edge_offsets is not None else NULL
    cdef floating* ewp = &edge_work[0, 0] if edge_offsets is not None else NULL
    cdef Py_ssize_t ew_stride = edge_work.shape[1] if edge_offsets is not None else 0
    if row_kernel not in (ROWS_WIDE, ROWS_NARROW, ROWS_PIXELS) \
            or row_kernel == ROWS_PIXELS and (g.SW != 1 or edge_offsets is not None):
        raise ValueError(f"row_kernel {row_kernel} does not apply (width stride {g.SW}, "
                         f"unpadded input {edge_offsets is not None})")
    if row_tiles and row_kernel == ROWS_PIXELS and ISA.ukr_pixrows_f32 == NULL:
        # (a NULL kernel would crash: the plans never choose it there, see pixel_rows_fit)
        raise ValueError("the pixel-lane row kernels do not run at this ISA level and build")
    if row_tiles and row_kernel == ROWS_PIXELS:
        units = g.OD * g.OH
        tile = ISA.pixrows_channels
        NX = ISA.pixrows_vectors * (ISA.pixrows_lanes_f32 if floating is float
                                    else ISA.pixrows_lanes_f64)
    elif row_tiles and row_kernel == ROWS_NARROW:
        units = g.OD * g.OH
        tile = ISA.obn_f32 if floating is float else ISA.obn_f64
        NX = ISA.npn_f32 if floating is float else ISA.npn_f64
    elif row_tiles:
        units = g.OD * g.OH
        tile = ISA.ob_f32 if floating is float else ISA.ob_f64
        NX = ISA.np_f32 if floating is float else ISA.np_f64
    else:
        units = ((g.OD - 1) * g.H + g.OH - 1) * g.W + g.OW
        tile = ISA.mr_f32 if floating is float else ISA.mr_f64
        NX = ISA.nr_f32 if floating is float else ISA.nr_f64
    nblk = (units + block - 1) // block
    npan = (cog + tile - 1) // tile
    with nogil:
        for item in prange(N * groups * nblk, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            n = item // (groups * nblk)
            gi = (item // nblk) % groups
            blk = item % nblk
            u0 = blk * block
            u1 = u0 + block if units - u0 > block else units
            if pad_items:
                _pad_item(rawp + (n * channels + gi * cig) * raw_plane, cig, RD, RH, RW,
                          padp + tid * pad_stride, pad_stride, &g, rpd, rph, rpw)
                xbase = padp + tid * pad_stride
            else:
                xbase = xp + n * image_stride + gi * cig * plane
            if row_tiles:
                _rows_item(xbase, op,
                           ap + gi * npan * kg * tile, yp + gi * cog * y.shape[2],
                           CO * y.shape[2], bp + gi * cog if bp != NULL else NULL, cog, kg, n,
                           u0, u1, &g, wp + tid * wstride, tile, NX, KC, <RowKernel>row_kernel,
                           eop, ewp + tid * ew_stride if eop != NULL else NULL, cig, rpw)
            else:
                _implicit_item(xbase, op,
                               ap + gi * npan * kg * tile, yp + gi * cog * y.shape[2],
                               CO * y.shape[2], bp + gi * cog if bp != NULL else NULL, cog, kg,
                               n, u0, u1 - u0, block, &g, wp + tid * wstride, tile, NX, KC)


def rowpairs_forward(const float[:, :, :, :, ::1] x_raw, tuple pads,
                     const Py_ssize_t[::1] offsets, const float[::1] a_packed,
                     float[:, :, ::1] y, const float[::1] bias, bint has_bias,
                     Py_ssize_t groups, Geom g, float[:, ::1] pad_work, float[:, ::1] work,
                     Py_ssize_t KC, int num_threads):
    """y (N, C_out, P) = conv(x, w) (+ bias) for stride 1 and 8-pixel output rows (OH a
    multiple of 8, 1-D/2-D) on the row-pair kernel: one (image, group) per work item, which
    pads its planes of ``x_raw`` at the leading ``pads`` onto the grid ``g`` in its
    ``pad_work`` row (planes plus slack), then accumulates each 8-row block of every output
    channel panel (``rowpairs_panel()`` channels, MR: weights packed (groups, panels, K_g,
    MR)) straight into y.
    work : per-thread rows of MR*64 floats (a last, partial channel panel's tile).
    """
    cdef Py_ssize_t N = x_raw.shape[0], C = x_raw.shape[1], CO = y.shape[1], P = y.shape[2]
    cdef Py_ssize_t RD = x_raw.shape[2], RH = x_raw.shape[3], RW = x_raw.shape[4]
    cdef Py_ssize_t raw_plane = RD * RH * RW
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t kg = offsets.shape[0]
    cdef Py_ssize_t MR = ISA.rowpairs_mr
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t blocks = g.OH // 8
    cdef Py_ssize_t rpd = pads[0], rph = pads[1], rpw = pads[2]
    cdef Py_ssize_t pad_stride = pad_work.shape[1]
    cdef Py_ssize_t item, n, gi, tid, co, i, rows, kc0, kc, blk, k
    cdef float beta
    cdef const float* xg
    cdef float* yg
    cdef float* dst
    cdef float* tile
    if ISA.ukr_rowpairs_f32 == NULL:
        raise ValueError("the row-pair kernel does not run at this ISA level and build")
    with nogil:
        for item in prange(N * groups, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            n = item // groups
            gi = item % groups
            _pad_item(&x_raw[0, 0, 0, 0, 0] + (n * C + gi * cig) * raw_plane, cig, RD, RH, RW,
                      &pad_work[tid, 0], pad_stride, &g, rpd, rph, rpw)
            xg = &pad_work[tid, 0]
            yg = &y[n, gi * cog, 0]
            tile = &work[tid, 0]
            for co in range(cog):
                beta = bias[gi * cog + co] if has_bias else 0
                for k in range(P):
                    yg[co * P + k] = beta
            kc0 = 0
            while kc0 < kg:
                kc = KC if kg - kc0 > KC else kg - kc0
                for i in range(npa):
                    rows = MR if cog - i * MR > MR else cog - i * MR
                    for blk in range(blocks):
                        if rows == MR:
                            ISA.ukr_rowpairs_f32(kc, &a_packed[0] + ((gi * npa + i) * kg + kc0) * MR,
                                                 xg + blk * 8 * g.W, &offsets[0] + kc0, g.W,
                                                 yg + i * MR * P + blk * 64, P)
                        else:
                            memset(tile, 0, MR * 64 * sizeof(float))
                            ISA.ukr_rowpairs_f32(kc, &a_packed[0] + ((gi * npa + i) * kg + kc0) * MR,
                                                 xg + blk * 8 * g.W, &offsets[0] + kc0, g.W,
                                                 tile, 64)
                            for co in range(rows):
                                dst = yg + (i * MR + co) * P + blk * 64
                                for k in range(64):
                                    dst[k] += tile[co * 64 + k]
                kc0 = kc0 + KC
