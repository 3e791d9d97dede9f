"""Convolution kernels: im2col/col2im lowering and a direct (plane-wise) convolution.

Compute only. Every function takes C-contiguous 5-D arrays (N, C, D, H, W) - 1-D and 2-D
convolutions are views with singleton depth/height - and a ``Geom`` describing the
kernel, stride, leading padding, dilation and output size in all three dims. The Python
layer (``cyconv/conv.py``) validates, allocates and never lets these run on bad shapes.
"""
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from cyconv._kernels._fused cimport floating
from cyconv._kernels._omp cimport omp_get_thread_num


ctypedef struct Geom:
    # input spatial size
    Py_ssize_t D, H, W
    # kernel size
    Py_ssize_t KD, KH, KW
    Py_ssize_t SD, SH, SW     # stride
    Py_ssize_t PD, PH, PW     # padding before the first element (trailing padding is implied)
    Py_ssize_t DD, DH, DW     # dilation
    Py_ssize_t OD, OH, OW     # output spatial size


cdef inline Py_ssize_t _ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # b > 0; exact for negative a as well
    if a >= 0:
        return (a + b - 1) // b
    return -((-a) // b)


cdef inline void _valid_range(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                              Py_ssize_t n_out, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Output positions o in [lo, hi) whose input index o*stride + offset lies in [0, size).

    Clipping once per row keeps bounds tests out of the innermost loops.
    """
    cdef Py_ssize_t a = _ceil_div(-offset, stride)
    cdef Py_ssize_t b = _ceil_div(size - offset, stride)
    if a < 0:
        a = 0
    if b > n_out:
        b = n_out
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b


# ----------------------------------------------------------------------------------------
# im2col + GEMM: blocks of output pixels are lowered into packed panels of a thread-local
# buffer and multiplied by the packed weights with the register-tiled micro-kernel of
# _gemm.h, inside the same OpenMP region (no BLAS: no second thread pool to oversubscribe
# the cores, and results that do not depend on the thread count).
# ----------------------------------------------------------------------------------------

cdef extern from "_gemm.h" nogil:
    ctypedef void (*cyconv_ukr_f32_t)(Py_ssize_t, const float*, const float*, float*,
                                      Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukr_f64_t)(Py_ssize_t, const double*, const double*, double*,
                                      Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukro_f32_t)(Py_ssize_t, const float*, const float*, const Py_ssize_t*,
                                       float*, Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukro_f64_t)(Py_ssize_t, const double*, const double*,
                                       const Py_ssize_t*, double*, Py_ssize_t) noexcept nogil
    cyconv_ukr_f32_t cyconv_ukr_f32
    cyconv_ukr_f64_t cyconv_ukr_f64
    cyconv_ukro_f32_t cyconv_ukro_f32
    cyconv_ukro_f64_t cyconv_ukro_f64
    ctypedef void (*cyconv_ukrb_f32_t)(Py_ssize_t, const float*, const float*, const Py_ssize_t*,
                                       Py_ssize_t, float*, Py_ssize_t, int) noexcept nogil
    ctypedef void (*cyconv_ukrb_f64_t)(Py_ssize_t, const double*, const double*,
                                       const Py_ssize_t*, Py_ssize_t, double*,
                                       Py_ssize_t, int) noexcept nogil
    cyconv_ukrb_f32_t cyconv_ukrb_f32
    cyconv_ukrb_f64_t cyconv_ukrb_f64
    cyconv_ukrb_f32_t cyconv_ukrn_f32
    cyconv_ukrb_f64_t cyconv_ukrn_f64
    int cyconv_obn_f32, cyconv_npn_f32, cyconv_obn_f64, cyconv_npn_f64
    int cyconv_ob_f32, cyconv_np_f32, cyconv_ob_f64, cyconv_np_f64
    int cyconv_mr_f32, cyconv_nr_f32, cyconv_mr_f64, cyconv_nr_f64, cyconv_isa
    int cyconv_select_isa(int isa)
    int cyconv_cpu_isa()
    void cyconv_unpack_tile_f32(Py_ssize_t npix, Py_ssize_t nch, const float* src,
                                Py_ssize_t ldsrc, float* dst, Py_ssize_t lddst,
                                const float* bias)
    void cyconv_unpack_tile_f64(Py_ssize_t npix, Py_ssize_t nch, const double* src,
                                Py_ssize_t ldsrc, double* dst, Py_ssize_t lddst,
                                const double* bias)

cdef extern from "_ukr_rowpairs.h" nogil:
    void cyconv_ukr_rowpairs_f32(Py_ssize_t K, const float* A, const float* B,
                                 const Py_ssize_t* boff, Py_ssize_t W, float* C, Py_ssize_t ldc)
    int cyconv_rowpairs_available()
    enum: CYCONV_ROWPAIRS_MR

cdef extern from "_ukr_pixel_rows.h" nogil:
    void cyconv_ukr_pixrows_f32(Py_ssize_t K, const float* A, const float* B,
                                const Py_ssize_t* boff, int nvec, const Py_ssize_t* voff,
                                float* Y, Py_ssize_t ldy, const Py_ssize_t* yoff,
                                const Py_ssize_t* vlen, Py_ssize_t nch, const float* bias)
    void cyconv_ukr_pixrows_f64(Py_ssize_t K, const double* A, const double* B,
                                const Py_ssize_t* boff, int nvec, const Py_ssize_t* voff,
                                double* Y, Py_ssize_t ldy, const Py_ssize_t* yoff,
                                const Py_ssize_t* vlen, Py_ssize_t nch, const double* bias)
    int cyconv_pixrows_available()

cdef extern from "_rowops.h" nogil:
    void cyconv_rows_plus_bias_f32(Py_ssize_t rows, Py_ssize_t n, const float* src,
                                   Py_ssize_t src_row, float* dst, Py_ssize_t dst_row,
                                   const float* bias)
    void cyconv_rows_plus_bias_f64(Py_ssize_t rows, Py_ssize_t n, const double* src,
                                   Py_ssize_t src_row, double* dst, Py_ssize_t dst_row,
                                   const double* bias)

cdef extern from "_depthwise.h" nogil:
    void cyconv_dw_forward_f32(Py_ssize_t OH, Py_ssize_t OW, const float* xpad, Py_ssize_t lw,
                               Py_ssize_t sh, const float* w, Py_ssize_t KH, Py_ssize_t KW,
                               Py_ssize_t dh, Py_ssize_t dw, float beta, float* y)
    void cyconv_dw_forward_f64(Py_ssize_t OH, Py_ssize_t OW, const double* xpad,
                               Py_ssize_t lw, Py_ssize_t sh, const double* w, Py_ssize_t KH,
                               Py_ssize_t KW, Py_ssize_t dh, Py_ssize_t dw, double beta,
                               double* y)
    void cyconv_dw_weight_f32(Py_ssize_t OH, Py_ssize_t OW, const float* gy,
                              const float* xpad, Py_ssize_t lw, Py_ssize_t sh, Py_ssize_t KH,
                              Py_ssize_t KW, Py_ssize_t dh, Py_ssize_t dw, double* dacc)
    void cyconv_dw_weight_f64(Py_ssize_t OH, Py_ssize_t OW, const double* gy,
                              const double* xpad, Py_ssize_t lw, Py_ssize_t sh, Py_ssize_t KH,
                              Py_ssize_t KW, Py_ssize_t dh, Py_ssize_t dw, double* dacc)
    void cyconv_dw_pad_f32(const float* x, Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph,
                           Py_ssize_t pw, Py_ssize_t rows, Py_ssize_t lw, float* xpad)
    void cyconv_dw_pad_f64(const double* x, Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph,
                           Py_ssize_t pw, Py_ssize_t rows, Py_ssize_t lw, double* xpad)
    void cyconv_dw_select()
    int cyconv_dw_lanes_f32, cyconv_dw_lanes_f64
    Py_ssize_t cyconv_dw_row_length(Py_ssize_t OW, Py_ssize_t KW, Py_ssize_t dw, Py_ssize_t L)

cdef enum:
    MAX_TILE = 384  # largest MR * NR of any micro-kernel (8 x 48)

ISA_NAMES = ("generic", "avx2", "avx512")


def select_isa(int isa=-1):
    """Use the micro-kernels of ``isa`` (0 generic, 1 AVX2, 2 AVX-512; -1 = best available).

    A request above what the CPU supports falls back to the best supported. Returns the ISA
    now in use.
    """
    chosen = cyconv_select_isa(isa)
    cyconv_dw_select()
    return chosen


def cpu_isa():
    """The best micro-kernel ISA this CPU supports (0 generic, 1 AVX2, 2 AVX-512)."""
    return cyconv_cpu_isa()


def current_isa():
    return cyconv_isa


def direct_tile_shape(bint single, bint narrow=False):
    """(output channels, row pixels) of the direct micro-kernel, float32 (single) or float64;
    ``narrow`` for the variant made for rows of multiples of 8 pixels."""
    if narrow:
        return (cyconv_obn_f32, cyconv_npn_f32) if single else (cyconv_obn_f64, cyconv_npn_f64)
    if single:
        return cyconv_ob_f32, cyconv_np_f32
    return cyconv_ob_f64, cyconv_np_f64


def tile_shape(bint single):
    """(MR, NR) of the micro-kernel in use for float32 (single) or float64."""
    if single:
        return cyconv_mr_f32, cyconv_nr_f32
    return cyconv_mr_f64, cyconv_nr_f64


cdef inline void _ukr(Py_ssize_t K, const floating* A, const floating* B, floating* C,
                      Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        cyconv_ukr_f32(K, A, B, C, ldc)
    else:
        cyconv_ukr_f64(K, A, B, C, ldc)


cdef inline void _ukro(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, floating* C, Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        cyconv_ukro_f32(K, A, B, boff, C, ldc)
    else:
        cyconv_ukro_f64(K, A, B, boff, C, ldc)


cdef inline void _ukrb(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, Py_ssize_t bs, floating* C,
                       Py_ssize_t ldc, bint accumulate=True) noexcept nogil:
    if floating is float:
        cyconv_ukrb_f32(K, A, B, boff, bs, C, ldc, accumulate)
    else:
        cyconv_ukrb_f64(K, A, B, boff, bs, C, ldc, accumulate)


cdef inline void _ukrn(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, Py_ssize_t bs, floating* C,
                       Py_ssize_t ldc, bint accumulate=True) noexcept nogil:
    if floating is float:
        cyconv_ukrn_f32(K, A, B, boff, bs, C, ldc, accumulate)
    else:
        cyconv_ukrn_f64(K, A, B, boff, bs, C, ldc, accumulate)


cdef inline void _ukr_pixrows(Py_ssize_t K, const floating* A, const floating* B,
                              const Py_ssize_t* boff, int nvec, const Py_ssize_t* voff,
                              floating* Y, Py_ssize_t ldy, const Py_ssize_t* yoff,
                              const Py_ssize_t* vlen, Py_ssize_t nch,
                              const floating* bias) noexcept nogil:
    if floating is float:
        cyconv_ukr_pixrows_f32(K, A, B, boff, nvec, voff, Y, ldy, yoff, vlen, nch, bias)
    else:
        cyconv_ukr_pixrows_f64(K, A, B, boff, nvec, voff, Y, ldy, yoff, vlen, nch, bias)


def pixel_rows_available():
    """Whether the pixel-lane row kernels (_ukr_pixel_rows.h) run on this CPU and build."""
    return bool(cyconv_pixrows_available())


def pixel_rows_tile(bint single):
    """(output channels, pixels, pixels per vector) of one pixel-lane row kernel call: 8
    channels x 3 vectors (a row's last tile may be shorter, by whole vectors)."""
    lanes = 16 if single else 8
    return 8, 3 * lanes, lanes


cdef inline void _unpack_tile(Py_ssize_t npix, Py_ssize_t nch, const floating* src,
                              Py_ssize_t ldsrc, floating* dst, Py_ssize_t lddst,
                              const floating* bias) noexcept nogil:
    """dst[c*lddst + p] = src[p*ldsrc + c] + bias[c] (see _tile_unpack.h)."""
    if floating is float:
        cyconv_unpack_tile_f32(npix, nch, src, ldsrc, dst, lddst, bias)
    else:
        cyconv_unpack_tile_f64(npix, nch, src, ldsrc, dst, lddst, bias)


cdef inline void _rows_plus_bias(Py_ssize_t rows, Py_ssize_t n, const floating* src,
                                 Py_ssize_t src_row, floating* dst, Py_ssize_t dst_row,
                                 const floating* bias) noexcept nogil:
    if floating is float:
        cyconv_rows_plus_bias_f32(rows, n, src, src_row, dst, dst_row, bias)
    else:
        cyconv_rows_plus_bias_f64(rows, n, src, src_row, dst, dst_row, bias)


cdef inline void _dw_forward(Py_ssize_t OH, Py_ssize_t OW, const floating* xpad, Py_ssize_t lw,
                             Py_ssize_t sh, const floating* w, Py_ssize_t KH, Py_ssize_t KW,
                             Py_ssize_t dh, Py_ssize_t dw, floating beta,
                             floating* y) noexcept nogil:
    if floating is float:
        cyconv_dw_forward_f32(OH, OW, xpad, lw, sh, w, KH, KW, dh, dw, beta, y)
    else:
        cyconv_dw_forward_f64(OH, OW, xpad, lw, sh, w, KH, KW, dh, dw, beta, y)


cdef inline void _dw_weight(Py_ssize_t OH, Py_ssize_t OW, const floating* gy,
                            const floating* xpad, Py_ssize_t lw, Py_ssize_t sh, Py_ssize_t KH,
                            Py_ssize_t KW, Py_ssize_t dh, Py_ssize_t dw,
                            double* dacc) noexcept nogil:
    if floating is float:
        cyconv_dw_weight_f32(OH, OW, gy, xpad, lw, sh, KH, KW, dh, dw, dacc)
    else:
        cyconv_dw_weight_f64(OH, OW, gy, xpad, lw, sh, KH, KW, dh, dw, dacc)


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
        q = q + seg
        ow = 0
        oh = oh + 1
        if oh == g.OH:
            oh = 0
            od = od + 1


cdef inline void _gather_taps(const floating* plane, const Geom* g, Py_ssize_t kd,
                              Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t p0, Py_ssize_t count,
                              floating* out) noexcept nogil:
    _tap_segments(<floating*>plane, g, kd, kh, kw, p0, count, out, True)


cdef inline void _scatter_add_taps(floating* plane, const Geom* g, Py_ssize_t kd,
                                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t p0,
                                   Py_ssize_t count, const floating* row) noexcept nogil:
    _tap_segments(plane, g, kd, kh, kw, p0, count, <floating*>row, False)


cdef inline void _tap_of(Py_ssize_t tap, const Geom* g, Py_ssize_t* kd, Py_ssize_t* kh,
                         Py_ssize_t* kw) noexcept nogil:
    kd[0] = tap // (g.KH * g.KW)
    kh[0] = (tap // g.KW) % g.KH
    kw[0] = tap % g.KW


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
    if floating is float:
        MR = cyconv_mr_f32
        NR = cyconv_nr_f32
    else:
        MR = cyconv_mr_f64
        NR = cyconv_nr_f64
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
    cdef Py_ssize_t width = tiles * NP
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
    cdef Py_ssize_t q, q_end, rr, cc
    cdef int nvec, j
    # rows per block of the pixel-lane kernel: 3 when a row is 1 or 2 vectors (whole calls of
    # 3 pieces), else 1 (a wider row's last call may have fewer pieces: 3 rows of 128 pixels
    # with 32 input channels and a 3x3 kernel, 83 KiB of input rows, left L1 and ran 1.14x
    # slower than row by row)
    cdef Py_ssize_t block_rows = 3 if per_row < 3 else 1
    cdef Py_ssize_t rb
    if pixels:
        # row block by row block, panel by panel: the block's input rows stay in L1 across
        # the panels, a panel's weights (kg x 8) across the block (tile by tile, all panels,
        # streamed the weights from L2: conv1d 3.2 vs 2.9 ms; all rows of a work item per
        # panel streamed its input from L3: 2-D 32 -> 64 3x3 112 wide 1.4x slower); within a
        # block, the rows' pieces of a vector each, three per call, so rows narrower than
        # three vectors share calls (conv3d's rows of 32)
        rb = r0
        while rb < r1:
            q_end = ((r1 - rb if r1 - rb < block_rows else block_rows)) * per_row
            for i in range(npo):
                q = 0
                while q < q_end:
                    nvec = 3 if q_end - q > 3 else <int>(q_end - q)
                    for j in range(nvec):
                        rr = rb + (q + j) // per_row
                        cc = ((q + j) % per_row) * lanes
                        voff[j] = ((rr // g.OH) * g.SD * g.H + (rr % g.OH) * g.SH) * g.W + cc
                        yoff[j] = rr * g.OW + cc
                        vlen[j] = lanes if g.OW - cc > lanes else g.OW - cc
                    _ukr_pixrows(kg, a_group + i * kg * OB, x_group, offsets, nvec, voff,
                                 y_group + n * y_image_stride + i * OB * P, P, yoff, vlen,
                                 OB if cout - i * OB > OB else cout - i * OB,
                                 bias_group + i * OB if bias_group != NULL else NULL)
                    q = q + nvec
            rb = rb + block_rows
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
                    src_tile = row + t * NP * g.SW
                    offs = offsets
                    if edge_offsets != NULL:
                        c0 = t * NP * g.SW - pw
                        if c0 < 0 or c0 + lb > g.W:
                            # just the channels of this reduction chunk
                            _fill_edge_tile(edge_buf, x_group, kc0 // taps,
                                            (kc0 + kc - 1) // taps + 1, g, r, c0, lb)
                            src_tile = edge_buf
                            offs = edge_offsets
                    if kernel == ROWS_NARROW:
                        _ukrn(kc, a_group + (i * kg + kc0) * OB, src_tile, offs + kc0, g.SW,
                              ctile + ((r - r0) * width + t * NP) * ldc + i * OB, ldc, kc0 > 0)
                    else:
                        _ukrb(kc, a_group + (i * kg + kc0) * OB, src_tile, offs + kc0, g.SW,
                              ctile + ((r - r0) * width + t * NP) * ldc + i * OB, ldc, kc0 > 0)
                    if kc0 + kc < kg:
                        continue
                    # transposing 16-pixel runs as soon as they are final keeps them in L1
                    # and spreads y's stores over the computation (vgg3x3 forward at 2
                    # threads, interleaved medians: 4.30 -> 4.23 ms)
                    end = (t + 1) * NP
                    if end >= g.OW:
                        end = g.OW
                    else:
                        end = done + (end - done) // 16 * 16
                    if end > done:
                        _unpack_tile(end - done, nch,
                                     ctile + ((r - r0) * width + done) * ldc + i * OB, ldc,
                                     y_rows + done, P, bias_panel)
                        done = end
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
    if row_tiles and row_kernel == ROWS_PIXELS:
        units = g.OD * g.OH
        tile, NX, _ = pixel_rows_tile(floating is float)
    elif row_tiles and row_kernel == ROWS_NARROW:
        units = g.OD * g.OH
        tile = cyconv_obn_f32 if floating is float else cyconv_obn_f64
        NX = cyconv_npn_f32 if floating is float else cyconv_npn_f64
    elif row_tiles:
        units = g.OD * g.OH
        tile = cyconv_ob_f32 if floating is float else cyconv_ob_f64
        NX = cyconv_np_f32 if floating is float else cyconv_np_f64
    else:
        units = ((g.OD - 1) * g.H + g.OH - 1) * g.W + g.OW
        tile = cyconv_mr_f32 if floating is float else cyconv_mr_f64
        NX = cyconv_nr_f32 if floating is float else cyconv_nr_f64
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


cdef void _pointwise_item(const floating* x_group, Py_ssize_t P, const Py_ssize_t* offsets,
                          const floating* a_group, floating* y_group,
                          const floating* bias_group, Py_ssize_t cout, Py_ssize_t kg,
                          Py_ssize_t q0, Py_ssize_t count, floating* bpack, Py_ssize_t MR,
                          Py_ssize_t NR, Py_ssize_t KC) noexcept nogil:
    """y[co, q0:q0+count] = bias + W_group @ x_group[:, q0:q0+count] of one image and group.

    A 1x1, stride-1, unpadded convolution is a plain GEMM on NCHW: row k of the GEMM's B is
    input channel k's plane, read in place (offsets[k] = k*P) and written straight into y's
    rows (ldc = P) - no lowering, no padded copy, no transpose. Only a last panel narrower
    than NR is packed (zero-filled) into ``bpack``, because reading NR pixels in place would
    run past the last plane, and accumulated through ``bpack``'s tile.
    """
    cdef Py_ssize_t nfull = count // NR
    cdef Py_ssize_t tail = count - nfull * NR
    cdef Py_ssize_t npa = (cout + MR - 1) // MR
    cdef Py_ssize_t kc0, kc, j, i, co, k, rows, q
    cdef floating beta
    cdef floating* dst
    cdef floating* tile = bpack + kg * NR
    for co in range(cout):
        beta = bias_group[co] if bias_group != NULL else 0
        dst = y_group + co * P + q0
        for k in range(count):
            dst[k] = beta
    if tail:
        q = q0 + nfull * NR
        for k in range(kg):
            memcpy(bpack + k * NR, x_group + offsets[k] + q, tail * sizeof(floating))
            memset(bpack + k * NR + tail, 0, (NR - tail) * sizeof(floating))
    kc0 = 0
    while kc0 < kg:
        kc = KC if kg - kc0 > KC else kg - kc0
        for j in range(nfull):
            q = q0 + j * NR
            for i in range(npa):
                rows = MR if cout - i * MR > MR else cout - i * MR
                if rows == MR:
                    _ukro(kc, a_group + (i * kg + kc0) * MR, x_group + q, offsets + kc0,
                          y_group + i * MR * P + q, P)
                else:
                    memset(tile, 0, MR * NR * sizeof(floating))
                    _ukro(kc, a_group + (i * kg + kc0) * MR, x_group + q, offsets + kc0,
                          tile, NR)
                    for co in range(rows):
                        dst = y_group + (i * MR + co) * P + q
                        for k in range(NR):
                            dst[k] += tile[co * NR + k]
        if tail:
            q = q0 + nfull * NR
            for i in range(npa):
                rows = MR if cout - i * MR > MR else cout - i * MR
                memset(tile, 0, MR * NR * sizeof(floating))
                _ukr(kc, a_group + (i * kg + kc0) * MR, bpack + kc0 * NR, tile, NR)
                for co in range(rows):
                    dst = y_group + (i * MR + co) * P + q
                    for k in range(tail):
                        dst[k] += tile[co * NR + k]
        kc0 = kc0 + KC


def pointwise_forward(const floating[:, :, ::1] x, const Py_ssize_t[::1] offsets,
                      const floating[::1] a_packed, floating[:, :, ::1] y,
                      const floating[::1] bias, bint has_bias, Py_ssize_t groups,
                      Py_ssize_t block, floating[:, ::1] work, Py_ssize_t KC, int num_threads):
    """y (N, C_out, P) = W @ x (N, C_in, P) per group (+ bias): a 1x1 convolution with stride
    1 and no padding, on any number of spatial dims flattened to P.

    offsets : (C_in/groups,) k*P, the in-place row offsets of the GEMM's B.
    a_packed : weights in panels of MR output channels, (groups, panels, C_in/groups, MR).
    block : pixels per work item (a multiple of NR); work items are (image, group, block).
    work : per-thread rows of (C_in/groups + MR) * NR elements (the packed last panel and
        a register tile).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2], CO = y.shape[1]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t MR = cyconv_mr_f32 if floating is float else cyconv_mr_f64
    cdef Py_ssize_t NR = cyconv_nr_f32 if floating is float else cyconv_nr_f64
    cdef Py_ssize_t nblk = (P + block - 1) // block
    cdef Py_ssize_t npa = (cog + MR - 1) // MR
    cdef Py_ssize_t item, n, gi, blk, q0, tid
    cdef const floating* xp = &x[0, 0, 0]
    cdef const Py_ssize_t* op = &offsets[0]
    cdef const floating* ap = &a_packed[0]
    cdef floating* yp = &y[0, 0, 0]
    cdef const floating* bp = &bias[0] if has_bias else NULL
    cdef floating* wp = &work[0, 0]
    cdef Py_ssize_t wstride = work.shape[1]
    with nogil:
        for item in prange(N * groups * nblk, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            n = item // (groups * nblk)
            gi = (item // nblk) % groups
            blk = item % nblk
            q0 = blk * block
            _pointwise_item(xp + (n * C + gi * cig) * P, P, op, ap + gi * npa * cig * MR,
                            yp + (n * CO + gi * cog) * P,
                            bp + gi * cog if bp != NULL else NULL, cog, cig, q0,
                            block if P - q0 > block else P - q0, wp + tid * wstride, MR, NR,
                            KC)


cdef void _padded_weight_item(const floating* x_first, Py_ssize_t image_stride,
                              const floating* gy_first, Py_ssize_t gy_image, Py_ssize_t N,
                              Py_ssize_t Q, Py_ssize_t plane, const Py_ssize_t* shifts,
                              Py_ssize_t taps, const Py_ssize_t* ident, Py_ssize_t OB,
                              Py_ssize_t NP, Py_ssize_t KC, bint narrow, floating* ctiles,
                              double* accs) noexcept nogil:
    """grad_w for NP input channels x OB output channels at ``taps`` taps (stride 1).

    The direct micro-kernel runs with the roles turned: output channels along the lanes come
    from grad_y packed [position][channel] on the padded grid (zeros off the outputs), the NP
    broadcast values are the same tap of NP consecutive input channels (one plane apart), and
    the reduction runs over the grid positions. Each KC-position chunk of grad_y is used by
    every tap of the block while it is in L1 (grad_y streamed once per item, not once per
    tap: the weight gradient was memory-bound on 1-D/3-D rows). Per image the float tiles are
    added into double accumulators, so long reductions stay within the accuracy contract;
    each weight is reduced over (image, chunk) in the same order whatever the tap blocking.
    """
    cdef Py_ssize_t n, q0, kc, lane, t, tile = NP * OB
    cdef const floating* gy_chunk
    cdef const floating* x_chunk
    memset(accs, 0, taps * tile * sizeof(double))
    for n in range(N):
        memset(ctiles, 0, taps * tile * sizeof(floating))
        q0 = 0
        while q0 < Q:
            kc = KC if Q - q0 > KC else Q - q0
            gy_chunk = gy_first + n * gy_image + q0 * OB
            x_chunk = x_first + n * image_stride + q0
            for t in range(taps):
                if narrow:
                    _ukrn(kc, gy_chunk, x_chunk + shifts[t], ident, plane, ctiles + t * tile, OB)
                else:
                    _ukrb(kc, gy_chunk, x_chunk + shifts[t], ident, plane, ctiles + t * tile, OB)
            q0 = q0 + KC
        for lane in range(taps * tile):
            accs[lane] += ctiles[lane]


def padded_weight_grad(const floating[::1] x_padded, Py_ssize_t image_stride,
                       const floating[::1] gy_grid, Py_ssize_t Q, const Py_ssize_t[::1] shifts,
                       const Py_ssize_t[::1] ident, floating[:, :, ::1] grad_w,
                       Py_ssize_t groups, Py_ssize_t batch, Py_ssize_t plane,
                       Py_ssize_t tap_block, floating[:, ::1] tiles, double[:, ::1] accs,
                       Py_ssize_t KC, bint narrow, int num_threads):
    """grad_w (C_out, C_in/groups, T) for a stride-1 convolution, without lowering.

    x_padded : as for :func:`padded_forward`, with NP extra planes of slack at the end.
    gy_grid : grad_y on the padded grid, (N, groups, ceil(C_out_g/OB), Q, OB), zeros off the
        output positions and past C_out_g.
    shifts : (T,) flat offset of each tap on the grid; ident : arange(KC).
    tap_block : taps per work item (any value gives the same bits; it only sets the
        parallelism and the scratch size).
    tiles, accs : (num_threads, tap_block*NP*OB) scratch (working precision and double).
    narrow : use the narrow direct micro-kernel (its OB x NP tile; see direct_tile_shape).
    Work items are (group, panel of OB output channels, block of NP input channels, block of
    taps); each weight is reduced by one item in a fixed order, so any thread count gives the
    same bits.
    """
    cdef Py_ssize_t CO = grad_w.shape[0], cig = grad_w.shape[1], T = grad_w.shape[2]
    cdef Py_ssize_t cog = CO // groups
    cdef Py_ssize_t OB, NP, npan, ncb, ntb, items, taps
    cdef Py_ssize_t item, gi, tb, cb, pan, tid, p, o, ci, co, t
    cdef const floating* xp = &x_padded[0]
    cdef const floating* gp = &gy_grid[0]
    cdef const Py_ssize_t* sp = &shifts[0]
    cdef const Py_ssize_t* ip = &ident[0]
    cdef double* acc
    if floating is float:
        OB = cyconv_obn_f32 if narrow else cyconv_ob_f32
        NP = cyconv_npn_f32 if narrow else cyconv_np_f32
    else:
        OB = cyconv_obn_f64 if narrow else cyconv_ob_f64
        NP = cyconv_npn_f64 if narrow else cyconv_np_f64
    npan = (cog + OB - 1) // OB
    ncb = (cig + NP - 1) // NP
    ntb = (T + tap_block - 1) // tap_block
    items = groups * npan * ncb * ntb
    with nogil:
        for item in prange(items, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            gi = item // (npan * ncb * ntb)
            pan = (item // (ncb * ntb)) % npan
            cb = (item // ntb) % ncb
            tb = item % ntb
            taps = tap_block if T - tb * tap_block > tap_block else T - tb * tap_block
            _padded_weight_item(xp + (gi * cig + cb * NP) * plane, image_stride,
                                gp + ((gi * npan + pan) * Q) * OB, groups * npan * Q * OB,
                                batch, Q, plane, sp + tb * tap_block, taps, ip, OB, NP, KC,
                                narrow, &tiles[tid, 0], &accs[tid, 0])
            for t in range(taps):
                acc = &accs[tid, t * NP * OB]
                for p in range(NP):
                    ci = cb * NP + p
                    if ci >= cig:
                        break
                    for o in range(OB):
                        co = pan * OB + o
                        if co >= cog:
                            break
                        grad_w[gi * cog + co, ci, tb * tap_block + t] = <floating>acc[p * OB + o]


cdef void _backward_input_item(const floating* gy_group, const floating* a_block,
                               floating* gx_block, Py_ssize_t cout, Py_ssize_t c_lo,
                               Py_ssize_t c_hi, const Geom* g, Py_ssize_t block,
                               floating* bpack, floating* ctile, floating* row,
                               Py_ssize_t MR, Py_ssize_t NR, Py_ssize_t KC) noexcept nogil:
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
    cdef Py_ssize_t p0, count, npb, ldc, co, j, i, kc0, kc, r, kd, kh, kw
    memset(gx_block, 0, (c_hi - c_lo) * plane * sizeof(floating))
    p0 = 0
    while p0 < P:
        count = block if P - p0 > block else P - p0
        npb = (count + NR - 1) // NR
        ldc = npb * NR
        memset(row + count, 0, (ldc - count) * sizeof(floating))
        for co in range(cout):
            memcpy(row, gy_group + co * P + p0, count * sizeof(floating))
            for j in range(npb):
                memcpy(bpack + (j * cout + co) * NR, row + j * NR, NR * sizeof(floating))
        memset(ctile, 0, npa * MR * ldc * sizeof(floating))
        kc0 = 0
        while kc0 < cout:
            kc = KC if cout - kc0 > KC else cout - kc0
            for j in range(npb):
                for i in range(npa):
                    _ukr(kc, a_block + (i * cout + kc0) * MR, bpack + (j * cout + kc0) * NR,
                         ctile + i * MR * ldc + j * NR, ldc)
            kc0 = kc0 + KC
        for r in range(r0, r1):
            _tap_of(r % T, g, &kd, &kh, &kw)
            _scatter_add_taps(gx_block + (r // T - c_lo) * plane, g, kd, kh, kw, p0, count,
                              ctile + (r - r0) * ldc)
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
    work : (num_threads, C_out_g*block + channel_block*T*block + block) scratch.
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
    if floating is float:
        MR = cyconv_mr_f32
        NR = cyconv_nr_f32
    else:
        MR = cyconv_mr_f64
        NR = cyconv_nr_f64
    npk = (kg + MR - 1) // MR
    ncb = (cig + channel_block - 1) // channel_block
    ctile_size = channel_block * T * block
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
                                 wp + tid * wstride + cog * block,
                                 wp + tid * wstride + cog * block + ctile_size,
                                 MR, NR, KC)


cdef void _backward_weight_piece(const floating* gy_group, const floating* x_group,
                                 floating* part_group, Py_ssize_t cout, Py_ssize_t kg,
                                 Py_ssize_t cout_pad, Py_ssize_t kg_pad, Py_ssize_t p0,
                                 Py_ssize_t count, const Geom* g, floating* apack,
                                 floating* bpack, floating* row, Py_ssize_t MR,
                                 Py_ssize_t NR) noexcept nogil:
    """part (C_out_g, K_g) += grad_y[:, p0:p0+count] @ cols[:, p0:p0+count]^T (one group)."""
    cdef Py_ssize_t T = g.KD * g.KH * g.KW
    cdef Py_ssize_t plane = g.D * g.H * g.W
    cdef Py_ssize_t P = g.OD * g.OH * g.OW
    cdef Py_ssize_t co, q, k, i, j, kd, kh, kw
    cdef const floating* src
    cdef floating* dst
    if cout_pad != cout:
        memset(apack + (cout_pad - MR) * count, 0, MR * count * sizeof(floating))
    for co in range(cout):
        src = gy_group + co * P + p0
        dst = apack + (co // MR) * count * MR + co % MR
        for q in range(count):
            dst[q * MR] = src[q]
    if kg_pad != kg:
        memset(bpack + (kg_pad - NR) * count, 0, NR * count * sizeof(floating))
    for k in range(kg):
        _tap_of(k % T, g, &kd, &kh, &kw)
        _gather_taps(x_group + (k // T) * plane, g, kd, kh, kw, p0, count, row)
        dst = bpack + (k // NR) * count * NR + k % NR
        for q in range(count):
            dst[q * NR] = row[q]
    for j in range(kg_pad // NR):
        for i in range(cout_pad // MR):
            _ukr(count, apack + i * count * MR, bpack + j * count * NR,
                 part_group + i * MR * kg_pad + j * NR, kg_pad)


def gemm_backward_weight(const floating[:, :, ::1] grad_y, const floating[:, :, :, :, ::1] x,
                         floating[:, :, :, ::1] partial, Py_ssize_t groups, Geom g,
                         Py_ssize_t block, floating[:, ::1] work, int num_threads):
    """Partial weight gradients, one per reduction chunk (summed in order by the caller).

    The (image, pixel block) pieces are split into ``partial.shape[0]`` contiguous chunks - a
    number that does not depend on the thread count - and each chunk is reduced by one
    thread, so the result is bitwise identical for any number of threads.
    partial : (chunks, groups, C_out_g padded to MR, K_g padded to NR), zero-filled.
    work : (num_threads, (C_out_g_pad + K_g_pad + 1) * block) scratch.
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
    if floating is float:
        MR = cyconv_mr_f32
        NR = cyconv_nr_f32
    else:
        MR = cyconv_mr_f64
        NR = cyconv_nr_f64
    with nogil:
        for r in prange(R, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            piece_end = (r + 1) * per_chunk if (r + 1) * per_chunk < pieces else pieces
            for piece in range(r * per_chunk, piece_end):
                n = piece // nblk
                p0 = (piece % nblk) * block
                count = block if P - p0 > block else P - p0
                for gi in range(groups):
                    _backward_weight_piece(gyp + (n * CO + gi * cog) * P,
                                           xp + (n * C + gi * cig) * plane,
                                           pp + (r * groups + gi) * cout_pad * kg_pad,
                                           cog, kg, cout_pad, kg_pad, p0, count, &g,
                                           wp + tid * wstride,
                                           wp + tid * wstride + cout_pad * block,
                                           wp + tid * wstride + (cout_pad + kg_pad) * block,
                                           MR, NR)


import os as _os
cyconv_select_isa(int(_os.environ.get("CYCONV_ISA", "-1")))
cyconv_dw_select()

# ----------------------------------------------------------------------------------------
# direct convolution (no lowering): plane-wise, for depthwise / few channels per group
# ----------------------------------------------------------------------------------------

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
    double cyconv_sum_f32(Py_ssize_t n, const float* x)
    double cyconv_sum_f64(Py_ssize_t n, const double* x)
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
    cdef Py_ssize_t L = cyconv_dw_lanes_f32 if single else cyconv_dw_lanes_f64
    cdef Py_ssize_t lw = cyconv_dw_row_length(g.OW, g.KW, g.DW, L)
    cdef Py_ssize_t rows = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1
    return rows * lw, g.KH * g.KW * L


cdef inline void _pad_plane(const floating* x, const Geom* g, Py_ssize_t rows, Py_ssize_t lw,
                            floating* xpad) noexcept nogil:
    """The rows x lw window of the zero-padded input plane the depthwise kernels read."""
    if floating is float:
        cyconv_dw_pad_f32(x, g.H, g.W, g.PH, g.PW, rows, lw, xpad)
    else:
        cyconv_dw_pad_f64(x, g.H, g.W, g.PH, g.PW, rows, lw, xpad)


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
    cdef Py_ssize_t L = cyconv_dw_lanes_f32 if floating is float else cyconv_dw_lanes_f64
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
    cdef Py_ssize_t L = cyconv_dw_lanes_f32 if floating is float else cyconv_dw_lanes_f64
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
    cdef Py_ssize_t L = cyconv_dw_lanes_f32 if floating is float else cyconv_dw_lanes_f64
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
                if floating is float:
                    partial[r, T] = cyconv_sum_f32(out_plane, gy_plane)
                else:
                    partial[r, T] = cyconv_sum_f64(out_plane, gy_plane)
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
    """grad_bias[co] = sum of grad_y[:, co, :]; planes summed with 16 partial sums each and
    accumulated in double, one channel per work item (fixed order, any thread count)."""
    cdef Py_ssize_t N = grad_y.shape[0], CO = grad_y.shape[1], P = grad_y.shape[2]
    cdef Py_ssize_t co, n
    cdef double total
    cdef const floating* gyp = &grad_y[0, 0, 0]
    with nogil:
        for co in prange(CO, schedule="static", num_threads=num_threads):
            total = 0
            for n in range(N):
                if floating is float:
                    total = total + cyconv_sum_f32(P, gyp + (n * CO + co) * P)
                else:
                    total = total + cyconv_sum_f64(P, gyp + (n * CO + co) * P)
            grad_bias[co] = <floating>total


# ----------------------------------------------------------------------------------------
# zero-padded copy of the input for the implicit / row-tiled kernels
# ----------------------------------------------------------------------------------------

cdef void _pad_plane_grid(const floating* src, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                          floating* dst, Py_ssize_t GD, Py_ssize_t GH, Py_ssize_t GW,
                          Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    """The D x H x W plane ``src`` placed at (pd, ph, pw) on the zero GD x GH x GW grid."""
    cdef Py_ssize_t d, h
    cdef size_t item = sizeof(floating)
    for d in range(GD):
        for h in range(GH):
            if d < pd or d >= pd + D or h < ph or h >= ph + H or W == 0:
                memset(dst + (d * GH + h) * GW, 0, GW * item)
            else:
                memset(dst + (d * GH + h) * GW, 0, pw * item)
                memcpy(dst + (d * GH + h) * GW + pw, src + ((d - pd) * H + h - ph) * W,
                       W * item)
                memset(dst + (d * GH + h) * GW + pw + W, 0, (GW - pw - W) * item)


cdef void _pad_item(const floating* raw_planes, Py_ssize_t planes, Py_ssize_t RD,
                    Py_ssize_t RH, Py_ssize_t RW, floating* buf, Py_ssize_t buf_len,
                    const Geom* g, Py_ssize_t pd, Py_ssize_t ph,
                    Py_ssize_t pw) noexcept nogil:
    """One work item's ``planes`` consecutive input planes (RD x RH x RW) onto the zero grid
    of ``g`` (D x H x W, leading padding pd/ph/pw) in ``buf``, and the slack after them (up
    to ``buf_len``) zeroed for the last tiles' reads."""
    cdef Py_ssize_t plane = g.D * g.H * g.W, ci
    for ci in range(planes):
        _pad_plane_grid(raw_planes + ci * RD * RH * RW, RD, RH, RW, buf + ci * plane, g.D,
                        g.H, g.W, pd, ph, pw)
    memset(buf + planes * plane, 0, (buf_len - planes * plane) * sizeof(floating))


def pad_planes(const floating[:, :, :, ::1] x4, floating[::1] flat, Py_ssize_t GD,
               Py_ssize_t GH, Py_ssize_t GW, Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw,
               int num_threads):
    """flat[i*GD*GH*GW ...] = plane i of x4 (planes, D, H, W) placed at (pd, ph, pw) on a
    zero GD x GH x GW grid; every grid element of the first planes*GD*GH*GW is written.

    Row memcpy and border memset instead of NumPy's zero-fill + strided assignment, which
    was ~10% of vgg3x3's forward at 2 threads (benchmarks/README.md "Zen 5").
    """
    cdef Py_ssize_t planes = x4.shape[0], D = x4.shape[1], H = x4.shape[2], W = x4.shape[3]
    cdef Py_ssize_t plane = GD * GH * GW
    cdef Py_ssize_t i
    if planes == 0 or plane == 0:
        return
    with nogil:
        for i in prange(planes, schedule="static", num_threads=num_threads):
            _pad_plane_grid(&x4[i, 0, 0, 0], D, H, W, &flat[0] + i * plane, GD, GH, GW, pd,
                            ph, pw)


def scatter_phase(const floating[:, :, :, :, ::1] z, floating[:, :, :, :, ::1] out,
                  Py_ssize_t rd, Py_ssize_t rh, Py_ssize_t rw, Py_ssize_t sd, Py_ssize_t sh,
                  Py_ssize_t sw, int num_threads):
    """out[n, c, rd + sd*i, rh + sh*j, rw + sw*k] = z[n, c, i, j, k]: one output phase of a
    strided grad_input written into place, one (image, channel) plane per work item (NumPy's
    strided assignment ran on one thread at ~1/4 of this speed). The caller guarantees that
    every target index is inside ``out``."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1]
    cdef Py_ssize_t ZD = z.shape[2], ZH = z.shape[3], ZW = z.shape[4]
    cdef Py_ssize_t OD = out.shape[2], OH = out.shape[3], OW = out.shape[4]
    cdef Py_ssize_t r, i, j, k
    cdef const floating* src
    cdef floating* dst
    if N * C == 0 or ZD * ZH * ZW == 0:
        return
    with nogil:
        for r in prange(N * C, schedule="static", num_threads=num_threads):
            for i in range(ZD):
                for j in range(ZH):
                    src = &z[0, 0, 0, 0, 0] + ((r * ZD + i) * ZH + j) * ZW
                    dst = &out[0, 0, 0, 0, 0] + ((r * OD + rd + sd * i) * OH + rh + sh * j) * OW + rw
                    for k in range(ZW):
                        dst[k * sw] = src[k]


def pack_grad_output_grid(const floating[:, :, ::1] grad_y, floating[::1] out, Geom g,
                          Py_ssize_t groups, Py_ssize_t ob, Py_ssize_t Q, int num_threads):
    """grad_y (N, C_out, P) laid on the padded grid for the stride-1 weight gradient:
    out[n, gi, panel, q, c] (flat; ob channels per panel, Q grid positions) is output channel
    gi*C_out/groups + panel*ob + c of grad_y at the output that grid position q holds, and
    0 at the grid's padding positions and for channels past the group's last. One (image,
    group, panel) per work item; each output row's channels go in by 16x16 block transposes
    (the NumPy strided copies ran on one thread while the other waited at the barrier).
    ``g``: the grid (D, H, W) and the output size (OD, OH, OW)."""
    cdef Py_ssize_t N = grad_y.shape[0], CO = grad_y.shape[1], P = grad_y.shape[2]
    cdef Py_ssize_t cog = CO // groups
    cdef Py_ssize_t npan = (cog + ob - 1) // ob
    cdef Py_ssize_t item, n, gi, pan, chans, q, d, h, w0, row_end
    cdef const floating* gyp = &grad_y[0, 0, 0]
    cdef floating* base
    cdef const floating* src
    with nogil:
        for item in prange(N * groups * npan, schedule="static", num_threads=num_threads):
            n = item // (groups * npan)
            gi = (item // npan) % groups
            pan = item % npan
            chans = ob if cog - pan * ob > ob else cog - pan * ob
            base = &out[0] + item * Q * ob
            src = gyp + (n * CO + gi * cog + pan * ob) * P
            q = 0
            while q < Q:
                d = q // (g.H * g.W)
                h = (q // g.W) % g.H
                row_end = q + g.W if Q - q > g.W else Q
                if d < g.OD and h < g.OH:
                    _unpack_tile(chans, g.OW, src + (d * g.OH + h) * g.OW, P, base + q * ob,
                                 ob, NULL)
                    if chans < ob:
                        for w0 in range(g.OW):
                            memset(base + (q + w0) * ob + chans, 0,
                                   (ob - chans) * sizeof(floating))
                    w0 = q + g.OW
                else:
                    w0 = q
                if row_end > w0:
                    memset(base + w0 * ob, 0, (row_end - w0) * ob * sizeof(floating))
                q = row_end


def gather_phase(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] z,
                 Py_ssize_t rd, Py_ssize_t rh, Py_ssize_t rw, Py_ssize_t sd, Py_ssize_t sh,
                 Py_ssize_t sw, int num_threads):
    """z[n, c, i, j, k] = x[n, c, rd + sd*i, rh + sh*j, rw + sw*k] for the whole of z: one
    phase of the input made contiguous for a strided weight gradient, one (image, channel)
    plane per work item (NumPy's strided copy ran on one thread while the other waited).
    The caller guarantees that every source index is inside ``x``."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1]
    cdef Py_ssize_t ZD = z.shape[2], ZH = z.shape[3], ZW = z.shape[4]
    cdef Py_ssize_t XD = x.shape[2], XH = x.shape[3], XW = x.shape[4]
    cdef Py_ssize_t r, i, j, k
    cdef const floating* src
    cdef floating* dst
    if N * C == 0 or ZD * ZH * ZW == 0:
        return
    with nogil:
        for r in prange(N * C, schedule="static", num_threads=num_threads):
            for i in range(ZD):
                for j in range(ZH):
                    src = &x[0, 0, 0, 0, 0] + ((r * XD + rd + sd * i) * XH + rh + sh * j) * XW + rw
                    dst = &z[0, 0, 0, 0, 0] + ((r * ZD + i) * ZH + j) * ZW
                    for k in range(ZW):
                        dst[k] = src[k * sw]


def rowpairs_panel():
    """Output channels per weight panel of the 8-pixel-row kernel (_ukr_rowpairs.h)."""
    return CYCONV_ROWPAIRS_MR


def rowpairs_available():
    """Whether the 8-pixel-row kernel (_ukr_rowpairs.h) runs on this CPU and build."""
    return bool(cyconv_rowpairs_available())


def rowpairs_forward(const float[:, :, :, :, ::1] x_raw, tuple pads,
                     const Py_ssize_t[::1] offsets, const float[::1] a_packed,
                     float[:, :, ::1] y, const float[::1] bias, bint has_bias,
                     Py_ssize_t groups, Geom g, float[:, ::1] pad_work, float[:, ::1] work,
                     Py_ssize_t KC, int num_threads):
    """y (N, C_out, P) = conv(x, w) (+ bias) for stride 1 and 8-pixel output rows (OH a
    multiple of 8, 1-D/2-D) on the row-pair kernel: one (image, group) per work item, which
    pads its planes of ``x_raw`` at the leading ``pads`` onto the grid ``g`` in its
    ``pad_work`` row (planes plus slack), then accumulates each 8-row block of every output
    channel panel (6 channels, weights packed (groups, panels, K_g, 6)) straight into y.
    work : per-thread rows of 6*64 floats (a last, partial channel panel's tile).
    """
    cdef Py_ssize_t N = x_raw.shape[0], C = x_raw.shape[1], CO = y.shape[1], P = y.shape[2]
    cdef Py_ssize_t RD = x_raw.shape[2], RH = x_raw.shape[3], RW = x_raw.shape[4]
    cdef Py_ssize_t raw_plane = RD * RH * RW
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t kg = offsets.shape[0]
    cdef Py_ssize_t MR = CYCONV_ROWPAIRS_MR
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
                            cyconv_ukr_rowpairs_f32(kc, &a_packed[0] + ((gi * npa + i) * kg + kc0) * MR,
                                                    xg + blk * 8 * g.W, &offsets[0] + kc0, g.W,
                                                    yg + i * MR * P + blk * 64, P)
                        else:
                            memset(tile, 0, MR * 64 * sizeof(float))
                            cyconv_ukr_rowpairs_f32(kc, &a_packed[0] + ((gi * npa + i) * kg + kc0) * MR,
                                                    xg + blk * 8 * g.W, &offsets[0] + kc0, g.W,
                                                    tile, 64)
                            for co in range(rows):
                                dst = yg + (i * MR + co) * P + blk * 64
                                for k in range(64):
                                    dst[k] += tile[co * 64 + k]
                kc0 = kc0 + KC
