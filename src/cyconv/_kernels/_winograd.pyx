"""Winograd F(4x4, 3x3) forward convolution: stride 1, dilation 1, 3x3 kernels, 2-D.

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

cdef extern from "_winograd.h" nogil:
    void cyconv_wino_input_f32(const float* x, Py_ssize_t x_image, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t rows,
                               Py_ssize_t tiles_h, Py_ssize_t tw, float* scratch, float* v,
                               Py_ssize_t v_stride)
    void cyconv_wino_input_f64(const double* x, Py_ssize_t x_image, Py_ssize_t H,
                               Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0,
                               Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                               double* scratch, double* v, Py_ssize_t v_stride)
    void cyconv_wino_output_f32(const float* m, Py_ssize_t m_stride, float beta,
                                float* scratch, float* y, Py_ssize_t y_image, Py_ssize_t OH,
                                Py_ssize_t OW, Py_ssize_t row0, Py_ssize_t rows,
                                Py_ssize_t tiles_h, Py_ssize_t tw)
    void cyconv_wino_output_f64(const double* m, Py_ssize_t m_stride, double beta,
                                double* scratch, double* y, Py_ssize_t y_image, Py_ssize_t OH,
                                Py_ssize_t OW, Py_ssize_t row0, Py_ssize_t rows,
                                Py_ssize_t tiles_h, Py_ssize_t tw)
    void cyconv_wino_matrices(double* bt, double* at)
    void cyconv_wino_weights_f32(Py_ssize_t lanes, const float* w, Py_ssize_t w_stride,
                                 const double* g, float* out, Py_ssize_t e_stride)
    void cyconv_wino_weights_f64(Py_ssize_t lanes, const double* w, Py_ssize_t w_stride,
                                 const double* g, double* out, Py_ssize_t e_stride)
    int CYCONV_WINO_LANES


# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef inline void _input(const floating* x, Py_ssize_t x_image, Py_ssize_t H, Py_ssize_t W,
                        Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t rows,
                        Py_ssize_t tiles_h, Py_ssize_t tw, floating* scratch, floating* v,
                        Py_ssize_t v_stride) noexcept nogil:
    if floating is float:
        cyconv_wino_input_f32(x, x_image, H, W, ph, pw, row0, rows, tiles_h, tw, scratch, v,
                              v_stride)
    else:
        cyconv_wino_input_f64(x, x_image, H, W, ph, pw, row0, rows, tiles_h, tw, scratch, v,
                              v_stride)


cdef inline void _output(const floating* m, Py_ssize_t m_stride, floating beta,
                         floating* scratch, floating* y, Py_ssize_t y_image, Py_ssize_t OH,
                         Py_ssize_t OW, Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                         Py_ssize_t tw) noexcept nogil:
    if floating is float:
        cyconv_wino_output_f32(m, m_stride, beta, scratch, y, y_image, OH, OW, row0, rows,
                               tiles_h, tw)
    else:
        cyconv_wino_output_f64(m, m_stride, beta, scratch, y, y_image, OH, OW, row0, rows,
                               tiles_h, tw)


cdef void _item(const floating* x_group, Py_ssize_t x_image, const floating* u_group,
                floating* y_group, Py_ssize_t y_image, const floating* bias_group,
                Py_ssize_t cig, Py_ssize_t cog, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                Py_ssize_t OW, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t rows,
                Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t TBs, Py_ssize_t p0,
                Py_ssize_t p1, const Py_ssize_t* offsets, floating* work, Py_ssize_t MR,
                Py_ssize_t NR, Py_ssize_t KC) noexcept nogil:
    """Tile rows row0 .. row0+rows-1 of one group, counted over the whole batch (image
    row // tiles_h, tile row row % tiles_h): small images share a work item, so the GEMMs
    stay wide; the output channels of weight panels p0 .. p1-1. x_group, y_group: image 0's
    first plane of the group; x_image, y_image: the images' strides."""
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t ve = cig * TBs, me = npa * MR * TBs
    cdef floating* v = work
    cdef floating* m = v + 36 * ve
    cdef floating* scratch = m + 36 * me
    cdef Py_ssize_t ci, co, e, i, j, kc0, kc, used = rows * tiles_w
    cdef Py_ssize_t co_end = p1 * MR if p1 * MR < cog else cog
    cdef floating beta
    # 1. input transform (tiles past this block's rows are zero: the GEMM reads whole panels)
    for ci in range(cig):
        _input(x_group + ci * H * W, x_image, H, W, ph, pw, row0, rows, tiles_h, tiles_w,
               scratch, v + ci * TBs, ve)
        if used < TBs:
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
    for co in range(p0 * MR, co_end):
        beta = bias_group[co] if bias_group != NULL else 0
        _output(m + co * TBs, me, beta, scratch, y_group + co * OH * OW, y_image, OH, OW,
                row0, rows, tiles_h, tiles_w)


def winograd_forward(const floating[:, :, :, ::1] x, const floating[::1] u_packed,
                     floating[:, :, :, ::1] y, const floating[::1] bias, bint has_bias,
                     Py_ssize_t groups, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t rows,
                     Py_ssize_t TBs, Py_ssize_t co_split, const Py_ssize_t[::1] offsets,
                     floating[:, ::1] work, Py_ssize_t KC, int num_threads):
    """y (N, C_out, OH, OW) = conv3x3(x (N, C, H, W)) (+ bias), stride 1, dilation 1,
    leading padding (ph, pw) (trailing padding implied by OH, OW).

    u_packed : (groups, ceil(C_out/groups / MR), 36, C_in/groups, MR) transformed weights
        U[e] = (G w G^T)[e], in micro-kernel panels, zero past the last output channel.
    rows : tile rows per work item (work items: group, block of tile rows counted over the
        batch, and one of ``co_split`` blocks of the weight panels - which repeat the block's
        input transform, so they are only for splitting few blocks over the threads).
    TBs : tiles per item rounded up to a multiple of NR (the GEMMs' width).
    offsets : (KC,) k * TBs, the in-place row offsets of the GEMMs' B.
    work : per-thread scratch: V (36 * C_in/groups * TBs), M (36 * round_up(C_out/groups,
        MR) * TBs), then the transforms' scratch (the larger of _winograd.h's input and output
        scratch).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t CO = y.shape[1], OH = y.shape[2], OW = y.shape[3]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t MR = ISA.mr_f32 if floating is float else ISA.mr_f64
    cdef Py_ssize_t NR = ISA.nr_f32 if floating is float else ISA.nr_f64
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t tiles_h = (OH + 3) // 4, tiles_w = (OW + 3) // 4
    cdef Py_ssize_t blocks = (N * tiles_h + rows - 1) // rows
    cdef Py_ssize_t per_split = (npa + co_split - 1) // co_split
    cdef Py_ssize_t item, gi, blk, row0, count, tid, p0, p1
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* up = &u_packed[0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef const floating* bp = &bias[0] if has_bias else NULL
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    cdef const Py_ssize_t* op = &offsets[0]
    if N == 0 or OH <= 0 or OW <= 0:
        return
    with nogil:
        for item in prange(groups * blocks * co_split, schedule="static",
                           num_threads=num_threads):
            tid = omp_get_thread_num()
            gi = item // (blocks * co_split)
            blk = (item // co_split) % blocks
            p0 = (item % co_split) * per_split
            p1 = p0 + per_split if npa - p0 > per_split else npa
            row0 = blk * rows
            count = rows if N * tiles_h - row0 > rows else N * tiles_h - row0
            _item(xp + gi * cig * H * W, C * H * W, up + gi * 36 * npa * cig * MR,
                  yp + gi * cog * OH * OW, CO * OH * OW,
                  bp + gi * cog if bp != NULL else NULL, cig, cog, H, W, OH, OW, ph, pw, row0,
                  count, tiles_h, tiles_w, TBs, p0, p1, op, wp + tid * wstride, MR, NR, KC)


def transform_matrices():
    """(B^T (6, 6), A^T (4, 6)) as the transforms compute them (float64 arrays)."""
    import numpy as np
    bt = np.zeros((6, 6))
    at = np.zeros((4, 6))
    cdef double[:, ::1] btv = bt
    cdef double[:, ::1] atv = at
    cyconv_wino_matrices(&btv[0, 0], &atv[0, 0])
    return bt, at


def transform_weights(const floating[:, :, :, ::1] w, const double[:, ::1] g,
                      floating[::1] u_packed, Py_ssize_t groups, Py_ssize_t MR,
                      int num_threads):
    """u_packed (groups, ceil(C_out/groups / MR), 36, C_in/groups, MR) = (G w G^T)[e] of
    every (output, input channel) pair of w (C_out, C_in/groups, 3, 3), in double, rounded
    once; zero past the last output channel of each group. MR <= CYCONV_WINO_LANES."""
    cdef Py_ssize_t CO = w.shape[0], cig = w.shape[1], cog = CO // groups
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t e_stride = cig * MR
    cdef Py_ssize_t item, co, ci, lanes
    cdef floating* out = &u_packed[0]
    cdef const floating* wp = &w[0, 0, 0, 0]
    cdef const double* gp = &g[0, 0]
    if MR > CYCONV_WINO_LANES:
        raise ValueError(f"panels of {MR} output channels exceed {CYCONV_WINO_LANES}")
    memset(out, 0, u_packed.shape[0] * sizeof(floating))
    with nogil:
        for item in prange(groups * npa, schedule="static", num_threads=num_threads):
            co = (item // npa) * cog + (item % npa) * MR
            lanes = cog - (item % npa) * MR
            if lanes > MR:
                lanes = MR
            for ci in range(cig):
                if floating is float:
                    cyconv_wino_weights_f32(lanes, wp + (co * cig + ci) * 9, cig * 9, gp,
                                            out + item * 36 * e_stride + ci * MR, e_stride)
                else:
                    cyconv_wino_weights_f64(lanes, wp + (co * cig + ci) * 9, cig * 9, gp,
                                            out + item * 36 * e_stride + ci * MR, e_stride)
