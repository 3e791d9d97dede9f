"""Winograd F(4x4, 3x3) weight gradient: the adjoint of the forward (``_winograd.pyx``),
dW = G^T [sum over the tiles of (A g A^T) . (B^T d B)] G, stride 1, dilation 1, 3x3, 2-D.

Two drivers of the same transforms (``_winograd.h``, shared through ``_winograd_core.pxd``):
per-chunk partials of the transformed gradient du (each work item adds its tiles' products
on the micro-kernel into its chunk's du) while one du fits the caches, else staged (every
tile of a segment transformed once, then one GEMM per transform element and panel of output
channels over the segment's tiles); then du back to the 3x3 gradient (G^T du G). Each
result element is one sum in an order fixed by the shapes, whatever the thread count.

Compute only: the Python layer (``cyconv/_conv_winograd.py``) sizes the chunks, segments
and scratch.
"""
from cython.parallel cimport prange
from libc.string cimport memset

from cyconv._kernels._core cimport _direct_tile, _ukrb, _ukrn
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._prefetch cimport cyconv_prefetch_write
from cyconv._kernels._plane_sums cimport _plane_sums
from cyconv._kernels._winograd_core cimport (
    Strides, _gradout, _input, cyconv_wino_weight_grad_panel_f32,
    cyconv_wino_weight_grad_panel_f64)

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef inline void _bias_terms(const floating* gp, Py_ssize_t CO, Py_ssize_t gi, Py_ssize_t cog,
                             Py_ssize_t P, Py_ssize_t row0, Py_ssize_t count,
                             Py_ssize_t tiles_h, double* plane_sums) noexcept nogil:
    """plane_sums[n, gi * cog ...] (N, C_out) = group gi's grad_output plane sums of each
    image whose first tile row is one of the tile rows [row0, row0 + count) (counted over
    the batch): every image's once, by the item that starts it."""
    cdef Py_ssize_t n = (row0 + tiles_h - 1) // tiles_h
    while n * tiles_h < row0 + count:
        _plane_sums(gp + (n * CO + gi * cog) * P, cog, P, plane_sums + n * CO + gi * cog)
        n = n + 1


cdef void _weight_item(const floating* x_group, Py_ssize_t x_image, const floating* gy_group,
                       Py_ssize_t gy_image, floating* du, Py_ssize_t cig, Py_ssize_t cog,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t rows,
                       Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t TBs,
                       const Py_ssize_t* offsets, bint narrow, Py_ssize_t OB, Py_ssize_t NP,
                       floating* work) noexcept nogil:
    """Add tile rows row0 .. row0+rows-1 (over the batch) of one group to its transformed
    weight gradient du[e, ci, co] (rows round_up(C_in/groups, NP), columns
    round_up(C_out/groups, OB)): V = B^T d B of the input tiles, Q = A g A^T of the
    grad_output tiles, du[e] += V[e] Q[e]^T on the channel-lane micro-kernel (the output
    channels on its lanes, the input channels broadcast, the tiles the reduction)."""
    cdef Py_ssize_t cigp = (cig + NP - 1) // NP * NP, cogp = (cog + OB - 1) // OB * OB
    cdef Py_ssize_t npan = cogp // OB
    cdef Py_ssize_t ve = cigp * TBs, qe = TBs * OB
    cdef floating* v = work
    cdef floating* q = v + 36 * ve
    cdef floating* scratch = q + npan * 36 * qe
    cdef Py_ssize_t ci, e, panel, c0, used = rows * tiles_w
    # V[e, ci, t] (rows past C_in/groups and tiles past the block: zero)
    cdef Strides xs
    xs.image, xs.channel, xs.row, xs.elem = x_image, H * W, W, 1
    for ci in range(cig):
        _input(x_group + ci * H * W, &xs, 1, H, W, ph, pw, row0, rows, tiles_h, tiles_w,
               scratch, v + ci * TBs, ve, TBs)
        if used < TBs:
            for e in range(36):
                memset(v + e * ve + ci * TBs + used, 0, (TBs - used) * sizeof(floating))
    if cigp > cig:
        for e in range(36):
            memset(v + e * ve + cig * TBs, 0, (cigp - cig) * TBs * sizeof(floating))
    # Q[panel, e, t, lane] (lanes past C_out/groups and tiles past the block: zero)
    for panel in range(npan):
        _gradout(gy_group + panel * OB * OH * OW, gy_image, OH * OW, min(OB, cog - panel * OB),
                 OH, OW, row0, rows, tiles_h, tiles_w, scratch, q + panel * 36 * qe, qe, OB)
        if used < TBs:
            for e in range(36):
                memset(q + (panel * 36 + e) * qe + used * OB, 0,
                       (TBs - used) * OB * sizeof(floating))
    # du[e] += V[e] Q[e]^T: NP input channels broadcast x OB output channels on the lanes
    for e in range(36):
        for panel in range(npan):
            c0 = 0
            while c0 < cigp:
                if narrow:
                    _ukrn(TBs, q + (panel * 36 + e) * qe, v + e * ve + c0 * TBs, offsets, TBs,
                          du + (e * cigp + c0) * cogp + panel * OB, cogp, True)
                else:
                    _ukrb(TBs, q + (panel * 36 + e) * qe, v + e * ve + c0 * TBs, offsets, TBs,
                          du + (e * cigp + c0) * cogp + panel * OB, cogp, True)
                c0 = c0 + NP


def winograd_weight_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] gy,
                         floating[:, ::1] partials, Py_ssize_t groups, Py_ssize_t ph,
                         Py_ssize_t pw, Py_ssize_t rows, Py_ssize_t TBs, bint narrow,
                         const Py_ssize_t[::1] offsets, floating[:, ::1] work,
                         double[:, ::1] plane_sums, bint want_sums, int num_threads):
    """Transformed weight gradients of a 3x3 stride-1 convolution of x (N, C, H, W) with
    grad_output gy (N, C_out, OH, OW), leading padding (ph, pw): partials[c] (c < chunks =
    partials.shape[0]) = the sum over chunk c's work items (a group and a block of ``rows``
    tile rows counted over the batch; items split into the chunks in order, whatever the
    thread count) of du[g, e, ci, co] (rows of round_up(C_in/groups, NP), columns
    round_up(C_out/groups, OB); the ``narrow`` tile variant's NP and OB). The caller sums
    the partials in order and transforms them back (:func:`weight_grad_from_transformed`).

    offsets : (TBs,) 0, 1, ..., TBs - 1 (the tiles, the micro-kernel's reduction).
    work : per-thread scratch: V (36 * round_up(C_in/groups, NP) * TBs), Q (36 *
        round_up(C_out/groups, OB) * TBs), then the transforms' scratch.
    plane_sums : (N, C_out), with ``want_sums``: each grad_output plane's sum (the bias
        gradient's terms), taken by the item that transforms its image's first tile row.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t CO = gy.shape[1], OH = gy.shape[2], OW = gy.shape[3]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef bint single = floating is float
    cdef Py_ssize_t OB, NP
    _direct_tile(single, narrow, &OB, &NP)
    cdef Py_ssize_t cigp = (cig + NP - 1) // NP * NP, cogp = (cog + OB - 1) // OB * OB
    cdef Py_ssize_t tiles_h = (OH + 3) // 4, tiles_w = (OW + 3) // 4
    cdef Py_ssize_t blocks = (N * tiles_h + rows - 1) // rows
    cdef Py_ssize_t items = groups * blocks
    cdef Py_ssize_t chunks = partials.shape[0]
    cdef Py_ssize_t chunk, item, gi, blk, row0, count, tid
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* gp = &gy[0, 0, 0, 0]
    cdef floating* pp = &partials[0, 0]
    cdef Py_ssize_t pstride = partials.shape[1]
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef const Py_ssize_t* op = &offsets[0]
    if N == 0 or OH <= 0 or OW <= 0:
        memset(pp, 0, chunks * pstride * sizeof(floating))
        return
    # each chunk zeroes its own partial inside the parallel loop: a fresh buffer's first
    # touch (page faults) must not run under the GIL, where concurrent callers wait on it
    with nogil:
        for chunk in prange(chunks, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            memset(pp + chunk * pstride, 0, pstride * sizeof(floating))
            for item in range(chunk * items // chunks, (chunk + 1) * items // chunks):
                gi = item // blocks
                blk = item % blocks
                row0 = blk * rows
                count = rows if N * tiles_h - row0 > rows else N * tiles_h - row0
                _weight_item(xp + gi * cig * H * W, C * H * W, gp + gi * cog * OH * OW,
                             CO * OH * OW, pp + chunk * pstride + gi * 36 * cigp * cogp, cig,
                             cog, H, W, OH, OW, ph, pw, row0, count, tiles_h, tiles_w, TBs,
                             op, narrow, OB, NP, wp + tid * wstride)
                if want_sums:
                    _bias_terms(gp, CO, gi, cog, OH * OW, row0, count, tiles_h,
                                &plane_sums[0, 0])


cdef enum:
    MAX_TILE_SUMS = 512  # at least the largest NP * OB of the ISA table (_isa_table.h)


cdef void _chunked_tile(Py_ssize_t T, Py_ssize_t chunk, const floating* q, const floating* v,
                        const Py_ssize_t* offsets, bint narrow, Py_ssize_t NP, Py_ssize_t OB,
                        floating* ctile, floating* dst, Py_ssize_t ldd,
                        bint accumulate) noexcept nogil:
    """dst (NP rows ldd apart, OB lanes) (+)= the stage-2 GEMM over T tiles, its reduction
    cut into chunks of at most ``chunk`` tiles, each chunk's tile (``ctile``, NP x OB in
    working precision) added into double sums, rounded once into dst."""
    cdef double sums[MAX_TILE_SUMS]
    cdef Py_ssize_t t0 = 0, tc, i, p
    memset(sums, 0, NP * OB * sizeof(double))
    while t0 < T:
        tc = chunk if T - t0 > chunk else T - t0
        if narrow:
            _ukrn(tc, q + t0 * OB, v + t0 * NP, offsets, 1, ctile, OB, False)
        else:
            _ukrb(tc, q + t0 * OB, v + t0 * NP, offsets, 1, ctile, OB, False)
        for i in range(NP * OB):
            sums[i] += ctile[i]
        t0 = t0 + tc
    for p in range(NP):
        for i in range(OB):
            if accumulate:
                dst[p * ldd + i] += <floating>sums[p * OB + i]
            else:
                dst[p * ldd + i] = <floating>sums[p * OB + i]


def winograd_weight_grad_staged(const floating[:, :, :, ::1] x,
                                const floating[:, :, :, ::1] gy, floating[::1] du,
                                Py_ssize_t groups, Py_ssize_t ph, Py_ssize_t pw,
                                Py_ssize_t rows, Py_ssize_t segment_rows, bint narrow,
                                const Py_ssize_t[::1] offsets, floating[::1] stage,
                                floating[:, ::1] work, double[:, ::1] plane_sums,
                                bint want_sums, Py_ssize_t chunk_tiles, int num_threads):
    """du (groups, panels of OB output channels, round_up(C_in/groups, NP), 36, OB) = the
    transformed weight gradient of a 3x3 stride-1 convolution of x (N, C, H, W) with
    grad_output gy (N, C_out, OH, OW), leading padding (ph, pw), in two stages per segment
    of ``segment_rows`` tile rows (counted over the batch; fixed by the shapes):

    1. every tile of the segment transformed once into ``stage``: V[g, e, ci // NP, t,
       ci % NP] = B^T d B (a block's NP channels interleaved: the micro-kernel broadcasts
       them from one run) and Q[g, panel, e, t, lane] = A g A^T (blocks of ``rows`` tile
       rows over the threads);
    2. du[g, e] (+)= V[g, e] Q[g, e]^T, one micro-kernel GEMM per (group, element, panel of
       OB output channels) over the threads, its reduction the segment's tiles in order.

    Each du element is one sum in a fixed order whatever the thread count, and no thread
    keeps a partial du of its own (the partials path's cost when du is large).

    chunk_tiles : 0, or the most tiles a GEMM sums in working precision: its reduction is
        then cut into chunks of that many tiles whose tiles are added in double (a float
        reduction over a whole batch's tiles was 1.6-2.4x the normwise bound on planes of
        one constant; README, accuracy contract).
    offsets : (segment_rows * tiles_w,) 0, NP, 2 NP, ... (the tiles, the reduction).
    stage : 36 * groups * (round_up(C_in/groups, NP) + round_up(C_out/groups, OB)) *
        segment_rows * tiles_w elements.
    work : per-thread scratch of the transforms (transform_scratch(rows, tiles_w); at
        least NP * OB with chunk_tiles).
    plane_sums : as :func:`winograd_weight_grad`'s.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t CO = gy.shape[1], OH = gy.shape[2], OW = gy.shape[3]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef bint single = floating is float
    cdef Py_ssize_t OB, NP
    _direct_tile(single, narrow, &OB, &NP)
    cdef Py_ssize_t cigp = (cig + NP - 1) // NP * NP, cogp = (cog + OB - 1) // OB * OB
    cdef Py_ssize_t npan = cogp // OB
    cdef Py_ssize_t tiles_h = (OH + 3) // 4, tiles_w = (OW + 3) // 4
    cdef Py_ssize_t total_rows = N * tiles_h
    cdef Py_ssize_t seg0, seg_rows, T, blocks, item, gi, blk, row0, count, tid, t0, ci
    cdef Py_ssize_t e, panel, c0, rest, at
    cdef Py_ssize_t ve, qe, v_group, q_group
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* gp = &gy[0, 0, 0, 0]
    cdef floating* dp = &du[0]
    cdef floating* sp = &stage[0]
    cdef floating* v
    cdef floating* q
    cdef floating* scratch
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef const Py_ssize_t* op = &offsets[0]
    cdef Strides xs
    xs.image, xs.channel, xs.row, xs.elem = C * H * W, H * W, W, 1
    if N == 0 or OH <= 0 or OW <= 0:
        memset(dp, 0, du.shape[0] * sizeof(floating))
        return
    if chunk_tiles < 0 or (chunk_tiles > 0 and (NP * OB > MAX_TILE_SUMS
                                                or work.shape[1] < NP * OB)):
        raise ValueError(f"winograd_weight_grad_staged: chunk_tiles {chunk_tiles} must be >= "
                         f"0, with NP x OB = {NP * OB} <= {MAX_TILE_SUMS} and work rows of at "
                         f"least that (got {work.shape[1]})")
    with nogil:
        seg0 = 0
        while seg0 < total_rows:
            seg_rows = segment_rows if total_rows - seg0 > segment_rows else total_rows - seg0
            T = seg_rows * tiles_w
            ve = cigp * T
            qe = T * OB
            v_group = 36 * ve
            q_group = npan * 36 * qe
            blocks = (seg_rows + rows - 1) // rows
            # stage 1: the segment's tiles; channel rows past C_in/groups and lanes past
            # C_out/groups stay zero (the GEMMs read whole NP x OB blocks)
            for item in prange(groups * blocks, schedule="static", num_threads=num_threads):
                tid = omp_get_thread_num()
                gi = item // blocks
                blk = item % blocks
                row0 = seg0 + blk * rows
                count = rows if seg0 + seg_rows - row0 > rows else seg0 + seg_rows - row0
                t0 = (row0 - seg0) * tiles_w
                scratch = wp + tid * wstride
                v = sp + gi * v_group
                q = sp + groups * v_group + gi * q_group
                for ci in range(cig):
                    _input(xp + gi * cig * H * W + ci * H * W, &xs, 1, H, W, ph, pw, row0,
                           count, tiles_h, tiles_w, scratch,
                           v + (ci - ci % NP) * T + t0 * NP + ci % NP, ve, 0, NP)
                for ci in range(cig, cigp):
                    for e in range(36):
                        for c0 in range(t0, t0 + count * tiles_w):
                            v[e * ve + (ci - ci % NP) * T + c0 * NP + ci % NP] = 0
                for panel in range(npan):
                    _gradout(gp + (gi * cog + panel * OB) * OH * OW, CO * OH * OW, OH * OW,
                             min(OB, cog - panel * OB), OH, OW, row0, count, tiles_h, tiles_w,
                             scratch, q + panel * 36 * qe + t0 * OB, qe, OB)
                if want_sums:
                    _bias_terms(gp, CO, gi, cog, OH * OW, row0, count, tiles_h,
                                &plane_sums[0, 0])
            # stage 2: du[g, e] (+)= V[g, e] Q[g, e]^T, NP input channels broadcast x OB
            # output channels on the lanes, the reduction over the segment's tiles
            for item in prange(groups * 36 * npan, schedule="static", num_threads=num_threads):
                tid = omp_get_thread_num()
                gi = item // (36 * npan)
                rest = item % (36 * npan)
                e = rest // npan
                panel = rest % npan
                v = sp + gi * v_group + e * ve
                q = sp + groups * v_group + gi * q_group + (panel * 36 + e) * qe
                c0 = 0
                while c0 < cigp:
                    if c0 + NP < cigp:
                        # the next tile's du rows (a line each, 36 OB apart; du is larger
                        # than the caches): owned by the time its stores come, instead of
                        # each store waiting on its read-for-ownership
                        for ci in range(c0 + NP, c0 + 2 * NP):
                            cyconv_prefetch_write(dp + ((gi * npan + panel) * cigp + ci)
                                                  * 36 * OB + e * OB, 0,
                                                  OB * sizeof(floating))
                    at = ((gi * npan + panel) * cigp + c0) * 36 * OB + e * OB
                    if chunk_tiles > 0 and T > chunk_tiles:
                        _chunked_tile(T, chunk_tiles, q, v + c0 * T, op, narrow, NP, OB,
                                      wp + tid * wstride, dp + at, 36 * OB, seg0 > 0)
                    elif narrow:
                        _ukrn(T, q, v + c0 * T, op, 1, dp + at, 36 * OB, seg0 > 0)
                    else:
                        _ukrb(T, q, v + c0 * T, op, 1, dp + at, 36 * OB, seg0 > 0)
                    c0 = c0 + NP
            seg0 = seg0 + seg_rows


# input channels per work item of the transform back (a few per thread in a narrow layer)
cdef Py_ssize_t _BACK_CHANNELS = 32


def weight_grad_from_transformed(const floating[::1] du, const double[:, ::1] g,
                                 floating[:, :, :, ::1] gw, Py_ssize_t groups, bint narrow,
                                 bint panel_major, int num_threads):
    """gw (C_out, C_in/groups, 3, 3) = G^T du G of every (output, input channel) pair of the
    summed transformed gradients du, in double, rounded once. du is (groups, 36,
    round_up(C_in/groups, NP), round_up(C_out/groups, OB)) (the partials' layout), or with
    ``panel_major`` (groups, panels of OB, round_up(C_in/groups, NP), 36, OB) (the staged
    path's: a channel pair's 36 elements within one run)."""
    cdef Py_ssize_t CO = gw.shape[0], cig = gw.shape[1], cog = CO // groups
    cdef bint single = floating is float
    cdef Py_ssize_t OB, NP
    _direct_tile(single, narrow, &OB, &NP)
    cdef Py_ssize_t cigp = (cig + NP - 1) // NP * NP, cogp = (cog + OB - 1) // OB * OB
    cdef Py_ssize_t npb = (cog + OB - 1) // OB
    cdef Py_ssize_t chunks = (cig + _BACK_CHANNELS - 1) // _BACK_CHANNELS
    cdef Py_ssize_t group_stride = 36 * cigp * cogp, panel_stride, e_stride, ci_stride
    if panel_major:
        panel_stride, e_stride, ci_stride = cigp * 36 * OB, OB, 36 * OB
    else:
        panel_stride, e_stride, ci_stride = OB, cigp * cogp, cogp
    cdef Py_ssize_t item, co, ci, count, gi, lanes, base
    cdef const floating* dp = &du[0]
    cdef const double* gp = &g[0, 0]
    cdef floating* wp = &gw[0, 0, 0, 0]
    if CO * cig == 0:
        return
    with nogil:
        # a panel of output channels (its whole runs of du) and a block of input channels
        # per item
        for item in prange(groups * npb * chunks, schedule="static", num_threads=num_threads):
            gi = item // (npb * chunks)
            co = (item // chunks) % npb * OB
            ci = item % chunks * _BACK_CHANNELS
            count = cig - ci if cig - ci < _BACK_CHANNELS else _BACK_CHANNELS
            lanes = cog - co if cog - co < OB else OB
            base = gi * group_stride + (co // OB) * panel_stride + ci * ci_stride
            if floating is float:
                cyconv_wino_weight_grad_panel_f32(lanes, count, dp + base, e_stride, ci_stride,
                                                  gp, wp + (gi * cog + co) * cig * 9 + ci * 9,
                                                  cig * 9)
            else:
                cyconv_wino_weight_grad_panel_f64(lanes, count, dp + base, e_stride, ci_stride,
                                                  gp, wp + (gi * cog + co) * cig * 9 + ci * 9,
                                                  cig * 9)
