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

from cyconv._kernels._core cimport _direct_tile, _ukrb, _ukrn, _ukro
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._prefetch cimport cyconv_prefetch_write

cdef extern from "_winograd.h" nogil:
    void cyconv_wino_input_f32(const float* x, Py_ssize_t x_image, Py_ssize_t x_row,
                               Py_ssize_t x_elem, Py_ssize_t x_channel, Py_ssize_t nch,
                               Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                               Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                               Py_ssize_t tw, float* scratch, float* v, Py_ssize_t v_stride,
                               Py_ssize_t v_channel, Py_ssize_t v_tile)
    void cyconv_wino_input_f64(const double* x, Py_ssize_t x_image, Py_ssize_t x_row,
                               Py_ssize_t x_elem, Py_ssize_t x_channel, Py_ssize_t nch,
                               Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                               Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                               Py_ssize_t tw, double* scratch, double* v, Py_ssize_t v_stride,
                               Py_ssize_t v_channel, Py_ssize_t v_tile)
    void cyconv_wino_output_f32(const float* m, Py_ssize_t m_stride, Py_ssize_t m_channel,
                                Py_ssize_t nco, const float* beta, float* scratch, float* y,
                                Py_ssize_t y_image, Py_ssize_t y_row, Py_ssize_t y_elem,
                                Py_ssize_t y_channel, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                                Py_ssize_t tw)
    void cyconv_wino_output_f64(const double* m, Py_ssize_t m_stride, Py_ssize_t m_channel,
                                Py_ssize_t nco, const double* beta, double* scratch, double* y,
                                Py_ssize_t y_image, Py_ssize_t y_row, Py_ssize_t y_elem,
                                Py_ssize_t y_channel, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                                Py_ssize_t tw)
    int CYCONV_WINO_CHANNELS
    Py_ssize_t cyconv_wino_input_scratch(Py_ssize_t rows, Py_ssize_t tw)
    Py_ssize_t cyconv_wino_output_scratch(Py_ssize_t rows, Py_ssize_t tw)
    void cyconv_wino_matrices(double* bt, double* at)
    void cyconv_wino_gradout_f32(const float* gy, Py_ssize_t gy_image, Py_ssize_t gy_channel,
                                 Py_ssize_t nco, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t row0,
                                 Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                                 float* scratch, float* q, Py_ssize_t q_stride, Py_ssize_t ob)
    void cyconv_wino_gradout_f64(const double* gy, Py_ssize_t gy_image, Py_ssize_t gy_channel,
                                 Py_ssize_t nco, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t row0,
                                 Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                                 double* scratch, double* q, Py_ssize_t q_stride,
                                 Py_ssize_t ob)
    Py_ssize_t cyconv_wino_gradout_scratch()
    void cyconv_wino_weight_grad_f32(const float* du, Py_ssize_t du_stride, const double* g,
                                     float* dw)
    void cyconv_wino_weight_grad_f64(const double* du, Py_ssize_t du_stride, const double* g,
                                     double* dw)
    void cyconv_wino_weight_grad_panel_f32(Py_ssize_t lanes, Py_ssize_t count, const float* du,
                                           Py_ssize_t e_stride, Py_ssize_t ci_stride,
                                           const double* g, float* dw, Py_ssize_t lane_stride)
    void cyconv_wino_weight_grad_panel_f64(Py_ssize_t lanes, Py_ssize_t count,
                                           const double* du, Py_ssize_t e_stride,
                                           Py_ssize_t ci_stride, const double* g, double* dw,
                                           Py_ssize_t lane_stride)
    void cyconv_wino_weights_f32(Py_ssize_t lanes, Py_ssize_t width, const float* w,
                                 Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                 Py_ssize_t col_stride, const double* g, float* out,
                                 Py_ssize_t e_stride)
    void cyconv_wino_weights_f64(Py_ssize_t lanes, Py_ssize_t width, const double* w,
                                 Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                 Py_ssize_t col_stride, const double* g, double* out,
                                 Py_ssize_t e_stride)
    void cyconv_wino_weight_panel_f32(Py_ssize_t lanes, Py_ssize_t width, Py_ssize_t count,
                                      const float* w, Py_ssize_t ci_stride,
                                      Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                      Py_ssize_t col_stride, const double* g, float* out,
                                      Py_ssize_t e_stride)
    void cyconv_wino_weight_panel_f64(Py_ssize_t lanes, Py_ssize_t width, Py_ssize_t count,
                                      const double* w, Py_ssize_t ci_stride,
                                      Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                      Py_ssize_t col_stride, const double* g, double* out,
                                      Py_ssize_t e_stride)
    int CYCONV_WINO_LANES


# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


ctypedef struct Strides:
    # elements between images, channel planes, rows and a row's elements: NCHW or
    # channels-last memory
    Py_ssize_t image, channel, row, elem


cdef Strides _strides(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, bint channels_last) noexcept:
    cdef Strides s
    s.image = C * H * W
    if channels_last:
        s.channel, s.row, s.elem = 1, W * C, C
    else:
        s.channel, s.row, s.elem = H * W, W, 1
    return s


cdef inline Py_ssize_t _channel_block(const Strides* s) noexcept nogil:
    """Channels per transform call: a cache line of them where a pixel's channels are
    contiguous (channels-last), one plane at a time in NCHW."""
    return CYCONV_WINO_CHANNELS if s.channel == 1 else 1


cdef inline void _input(const floating* first, const Strides* xs, Py_ssize_t nch,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                        Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                        floating* scratch, floating* v, Py_ssize_t v_stride,
                        Py_ssize_t v_channel, Py_ssize_t v_tile=1) noexcept nogil:
    if floating is float:
        cyconv_wino_input_f32(first, xs.image, xs.row, xs.elem, xs.channel, nch, H, W, ph, pw,
                              row0, rows, tiles_h, tw, scratch, v, v_stride, v_channel, v_tile)
    else:
        cyconv_wino_input_f64(first, xs.image, xs.row, xs.elem, xs.channel, nch, H, W, ph, pw,
                              row0, rows, tiles_h, tw, scratch, v, v_stride, v_channel, v_tile)


cdef inline void _gradout(const floating* gy, Py_ssize_t gy_image, Py_ssize_t gy_channel,
                          Py_ssize_t nco, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t row0,
                          Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                          floating* scratch, floating* q, Py_ssize_t q_stride,
                          Py_ssize_t ob) noexcept nogil:
    if floating is float:
        cyconv_wino_gradout_f32(gy, gy_image, gy_channel, nco, OH, OW, row0, rows, tiles_h, tw,
                                scratch, q, q_stride, ob)
    else:
        cyconv_wino_gradout_f64(gy, gy_image, gy_channel, nco, OH, OW, row0, rows, tiles_h, tw,
                                scratch, q, q_stride, ob)


cdef inline void _output(const floating* m, Py_ssize_t m_stride, Py_ssize_t m_channel,
                         Py_ssize_t nco, const floating* beta, floating* scratch,
                         floating* first, const Strides* ys, Py_ssize_t OH, Py_ssize_t OW,
                         Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                         Py_ssize_t tw) noexcept nogil:
    if floating is float:
        cyconv_wino_output_f32(m, m_stride, m_channel, nco, beta, scratch, first, ys.image,
                               ys.row, ys.elem, ys.channel, OH, OW, row0, rows, tiles_h, tw)
    else:
        cyconv_wino_output_f64(m, m_stride, m_channel, nco, beta, scratch, first, ys.image,
                               ys.row, ys.elem, ys.channel, OH, OW, row0, rows, tiles_h, tw)


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
                         int num_threads):
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


def winograd_weight_grad_staged(const floating[:, :, :, ::1] x,
                                const floating[:, :, :, ::1] gy, floating[::1] du,
                                Py_ssize_t groups, Py_ssize_t ph, Py_ssize_t pw,
                                Py_ssize_t rows, Py_ssize_t segment_rows, bint narrow,
                                const Py_ssize_t[::1] offsets, floating[::1] stage,
                                floating[:, ::1] work, int num_threads):
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

    offsets : (segment_rows * tiles_w,) 0, NP, 2 NP, ... (the tiles, the reduction).
    stage : 36 * groups * (round_up(C_in/groups, NP) + round_up(C_out/groups, OB)) *
        segment_rows * tiles_w elements.
    work : per-thread scratch of the transforms (transform_scratch(rows, tiles_w)).
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
    cdef Py_ssize_t e, panel, c0, rest
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
            # stage 2: du[g, e] (+)= V[g, e] Q[g, e]^T, NP input channels broadcast x OB
            # output channels on the lanes, the reduction over the segment's tiles
            for item in prange(groups * 36 * npan, schedule="static", num_threads=num_threads):
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
                    if narrow:
                        _ukrn(T, q, v + c0 * T, op, 1,
                              dp + ((gi * npan + panel) * cigp + c0) * 36 * OB + e * OB,
                              36 * OB, seg0 > 0)
                    else:
                        _ukrb(T, q, v + c0 * T, op, 1,
                              dp + ((gi * npan + panel) * cigp + c0) * 36 * OB + e * OB,
                              36 * OB, seg0 > 0)
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
