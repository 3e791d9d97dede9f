"""Winograd F(4x4, 3x3) forward convolution: stride 1, 3x3 kernels, 2-D (a dilated one as
one undilated convolution per phase of the output, read and written in place).

Lavin & Gray's minimal filtering: every 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A
for its 6x6 input patch d, so a tile costs 36 products per (input, output channel) pair
instead of 144. Per work item (a group and a block of tile rows counted over the batch),
three stages in the thread's scratch:

1. input transform, V[e, ci, t] (e = 6*xi + nu, t the tile), per input channel: its rows
   split into the four phases of the width, then B^T d B a vector of tiles at a time
   (_winograd.h, where B^T and A^T of the interpolation points are code; the points set the
   float32 error);
2. 36 GEMMs M[e] (C_out/groups x tiles) = U[e] (C_out/groups x C_in/groups, the transformed
   weights G w G^T packed in micro-kernel panels) @ V[e], on the register-tiled micro-kernel
   reading V's rows in place (as the 1x1 pointwise GEMM does);
3. output transform, A^T M A + bias a vector of tiles at a time, written into the output
   rows, clipped to them.

Compute only: the Python layer (``cyconv/_conv_winograd.py``) transforms and packs the
weights, sizes the blocks and the scratch.
"""
from cython.parallel cimport prange
from libc.string cimport memset

from cyconv._kernels._core cimport _ukro
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._winograd_core cimport (
    CYCONV_WINO_LANES, Strides, _channel_block, _input, _output, _strides,
    cyconv_wino_gradout_scratch, cyconv_wino_input_scratch, cyconv_wino_matrices,
    cyconv_wino_output_scratch, cyconv_wino_weight_panel_f32, cyconv_wino_weight_panel_f64)

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef void _item(const floating* x_group, const Strides* xs, const floating* u_group,
                floating* y_group, const Strides* ys, const floating* bias_group,
                Py_ssize_t cig, Py_ssize_t cog, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                Py_ssize_t OW, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t rows,
                Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t TBs, Py_ssize_t p0,
                Py_ssize_t p1, const Py_ssize_t* offsets, floating* work, Py_ssize_t MR,
                Py_ssize_t NR, Py_ssize_t KC) noexcept nogil:
    """Tile rows row0 .. row0+rows-1 of one group, counted over the whole batch (image
    row // tiles_h, tile row row % tiles_h): small images share a work item, so the GEMMs
    stay wide; the output channels of weight panels p0 .. p1-1. x_group, y_group: image 0's
    first plane of the group; xs, ys: the strides of their memory (NCHW or channels-last)."""
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t ve = cig * TBs, me = npa * MR * TBs
    cdef floating* v = work
    cdef floating* m = v + 36 * ve
    cdef floating* scratch = m + 36 * me
    cdef Py_ssize_t ci, co, e, i, j, kc0, kc, n_block, used = rows * tiles_w
    cdef Py_ssize_t co_end = p1 * MR if p1 * MR < cog else cog
    cdef Py_ssize_t block_in = _channel_block(xs), block_out = _channel_block(ys)
    # 1. input transform (tiles past this block's rows are zero: the GEMM reads whole panels)
    ci = 0
    while ci < cig:
        n_block = block_in if cig - ci > block_in else cig - ci
        _input(x_group + ci * xs.channel, xs, n_block, H, W, ph, pw, row0, rows, tiles_h,
               tiles_w, scratch, v + ci * TBs, ve, TBs)
        ci = ci + n_block
    if used < TBs:
        for ci in range(cig):
            for e in range(36):
                memset(v + e * ve + ci * TBs + used, 0, (TBs - used) * sizeof(floating))
    # 2. one GEMM per transform element, K (C_in/groups) in slices of KC
    for e in range(36):
        memset(m + e * me + p0 * MR * TBs, 0, (p1 - p0) * MR * TBs * sizeof(floating))
        kc0 = 0
        while kc0 < cig:
            kc = KC if cig - kc0 > KC else cig - kc0
            for i in range(p0, p1):
                for j in range(TBs // NR):
                    _ukro(kc, u_group + ((i * 36 + e) * cig + kc0) * MR,
                          v + e * ve + kc0 * TBs + j * NR, offsets, m + e * me + i * MR * TBs
                          + j * NR, TBs)
            kc0 = kc0 + KC
    # 3. output transform
    co = p0 * MR
    while co < co_end:
        n_block = block_out if co_end - co > block_out else co_end - co
        _output(m + co * TBs, me, TBs, n_block, bias_group + co if bias_group != NULL else NULL,
                scratch, y_group + co * ys.channel, ys, OH, OW, row0, rows, tiles_h, tiles_w)
        co = co + n_block


def winograd_forward(const floating[::1] x, tuple x_shape, bint x_last,
                     const floating[::1] u_packed, floating[::1] y, tuple y_shape, bint y_last,
                     const floating[::1] bias, bint has_bias, Py_ssize_t groups,
                     Py_ssize_t dh, Py_ssize_t dw, const Py_ssize_t[:, ::1] phases,
                     Py_ssize_t rows, Py_ssize_t TBs, Py_ssize_t co_split,
                     const Py_ssize_t[::1] offsets, floating[:, ::1] work, Py_ssize_t KC,
                     int num_threads):
    """y (N, C_out, OH, OW) = conv3x3(x (N, C, H, W)) (+ bias), stride 1, dilation (dh, dw),
    as one undilated convolution per row of ``phases``. x and y are flat, of the shapes
    ``x_shape`` and ``y_shape`` (N, C, H, W), each in NCHW or (``x_last``, ``y_last``)
    channels-last memory: the transforms read and write rows with element strides, so
    channels-last input needs no copy, and a phase is read and written where it lies.

    phases : (P, 10) rows (h0, w0, ph, pw, Hp, Wp, oh0, ow0, OHp, OWp): the phase's input
        x[..., h0::dh, w0::dw] (Hp x Wp) convolved with leading padding (ph, pw) (trailing
        padding implied by OHp, OWp) is y[..., oh0::dh, ow0::dw] (OHp x OWp); dilation 1:
        one row (0, 0, ph, pw, H, W, 0, 0, OH, OW). The first row's output is the largest.

    u_packed : (groups, ceil(C_out/groups / MR), 36, C_in/groups, MR) transformed weights
        U[e] = (G w G^T)[e], in micro-kernel panels, zero past the last output channel.
    rows : tile rows per work item (work items: group, block of tile rows counted over the
        batch, and one of ``co_split`` blocks of the weight panels - which repeat the block's
        input transform, so they are only for splitting few blocks over the threads).
    TBs : tiles per item rounded up to a multiple of NR (the GEMMs' width).
    offsets : (KC,) k * TBs, the in-place row offsets of the GEMMs' B.
    work : per-thread scratch: V (36 * C_in/groups * TBs), M (36 * round_up(C_out/groups,
        MR) * TBs), then the transforms' scratch (the larger of _winograd.h's input and output
        scratch: see ``_conv_winograd.transform_scratch``).
    """
    cdef Py_ssize_t N = x_shape[0], C = x_shape[1], H = x_shape[2], W = x_shape[3]
    cdef Py_ssize_t CO = y_shape[1], OH = y_shape[2], OW = y_shape[3]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Strides xs = _strides(C, H, W, x_last)
    cdef Strides ys = _strides(CO, OH, OW, y_last)
    cdef Strides xps = xs, yps = ys  # a phase's rows and elements
    cdef Py_ssize_t MR = ISA.mr_f32 if floating is float else ISA.mr_f64
    cdef Py_ssize_t NR = ISA.nr_f32 if floating is float else ISA.nr_f64
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t P = phases.shape[0]
    # every phase in the first one's tiles (its tile rows past OHp are not written)
    cdef Py_ssize_t tiles_h = (phases[0, 8] + 3) // 4, tiles_w = (phases[0, 9] + 3) // 4
    cdef Py_ssize_t blocks = (N * tiles_h + rows - 1) // rows
    cdef Py_ssize_t per_split = (npa + co_split - 1) // co_split
    cdef Py_ssize_t item, phase, gi, blk, row0, count, tid, p0, p1
    cdef const Py_ssize_t* f
    cdef const floating* xp = &x[0]
    cdef const floating* up = &u_packed[0]
    cdef floating* yp = &y[0]
    cdef const floating* bp = &bias[0] if has_bias else NULL
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef const Py_ssize_t* op = &offsets[0]
    if phases.shape[1] != 10:
        raise ValueError(f"phases: rows of 10 values expected, got {phases.shape[1]}")
    if N == 0 or OH <= 0 or OW <= 0 or P == 0:
        return
    xps.row, xps.elem = xs.row * dh, xs.elem * dw
    yps.row, yps.elem = ys.row * dh, ys.elem * dw
    with nogil:
        for item in prange(P * groups * blocks * co_split, schedule="static",
                           num_threads=num_threads):
            tid = omp_get_thread_num()
            # the phases of a block one after the other: they share its rows' cache lines
            phase = item % P
            gi = item // (P * blocks * co_split)
            blk = (item // (P * co_split)) % blocks
            p0 = ((item // P) % co_split) * per_split
            p1 = p0 + per_split if npa - p0 > per_split else npa
            row0 = blk * rows
            count = rows if N * tiles_h - row0 > rows else N * tiles_h - row0
            f = &phases[phase, 0]
            _item(xp + gi * cig * xs.channel + f[0] * xs.row + f[1] * xs.elem, &xps,
                  up + gi * 36 * npa * cig * MR,
                  yp + gi * cog * ys.channel + f[6] * ys.row + f[7] * ys.elem, &yps,
                  bp + gi * cog if bp != NULL else NULL, cig, cog, f[4], f[5], f[8], f[9],
                  f[2], f[3], row0, count, tiles_h, tiles_w, TBs, p0, p1, op,
                  wp + tid * wstride, MR, NR, KC)


def transform_scratch(Py_ssize_t rows, Py_ssize_t tiles_w):
    """Elements of the transforms' per-thread scratch for work items of ``rows`` tile rows
    of ``tiles_w`` tiles (the largest of the input, output and grad-output transforms'
    needs)."""
    return max(cyconv_wino_input_scratch(rows, tiles_w),
               cyconv_wino_output_scratch(rows, tiles_w), cyconv_wino_gradout_scratch())


def transform_matrices():
    """(B^T (6, 6), A^T (4, 6)) as the transforms compute them (float64 arrays)."""
    import numpy as np
    bt = np.zeros((6, 6))
    at = np.zeros((4, 6))
    cdef double[:, ::1] btv = bt
    cdef double[:, ::1] atv = at
    cyconv_wino_matrices(&btv[0, 0], &atv[0, 0])
    return bt, at


def transform_weights(const floating[:, :, :, :, :] w, const double[:, ::1] g,
                      floating[::1] u_packed, Py_ssize_t MR, int num_threads):
    """u_packed (groups, ceil(C_out/groups / MR), 36, C_in/groups, MR) = (G w G^T)[e] of
    every (output, input channel) pair of w (groups, C_out/groups, C_in/groups, 3, 3), any
    strides (a swapped or flipped view is read in place), in double, rounded once; zero past
    the last output channel of each group. MR <= CYCONV_WINO_LANES."""
    cdef Py_ssize_t G = w.shape[0], cog = w.shape[1], cig = w.shape[2]
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t e_stride = cig * MR
    cdef Py_ssize_t item, gi, co, lanes
    cdef Py_ssize_t s_co = w.strides[1] // <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t s_ci = w.strides[2] // <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t s_row = w.strides[3] // <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t s_col = w.strides[4] // <Py_ssize_t>sizeof(floating)
    cdef floating* out = &u_packed[0]
    cdef const double* gp = &g[0, 0]
    cdef const floating* wp
    if MR > CYCONV_WINO_LANES:
        raise ValueError(f"panels of {MR} output channels exceed {CYCONV_WINO_LANES}")
    if G * cog * cig == 0:
        return
    with nogil:
        for item in prange(G * npa, schedule="static", num_threads=num_threads):
            gi = item // npa
            co = (item % npa) * MR
            lanes = cog - co
            if lanes > MR:
                lanes = MR
            wp = &w[gi, co, 0, 0, 0]
            if floating is float:
                cyconv_wino_weight_panel_f32(lanes, MR, cig, wp, s_ci, s_co, s_row, s_col, gp,
                                             out + item * 36 * e_stride, e_stride)
            else:
                cyconv_wino_weight_panel_f64(lanes, MR, cig, wp, s_ci, s_co, s_row, s_col, gp,
                                             out + item * 36 * e_stride, e_stride)
