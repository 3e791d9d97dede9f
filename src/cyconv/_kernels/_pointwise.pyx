"""The 1x1 (pointwise) convolution as a GEMM on NCHW: stride 1, no padding, any number of
spatial dims flattened to P.

Work items are (image, group, block of pixels); each packs its block of the input planes
into the micro-kernel's B panels and multiplies them by the packed weights with the
register-tiled micro-kernel (_gemm.h, through the ISA descriptor) straight into y's rows.
Compute only: the Python layer (``cyconv/_conv_forward.py``) validates and allocates.
"""
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from cyconv._kernels._core cimport _copy_panel_lines, _ukr
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num
from cyconv._kernels._prefetch cimport cyconv_prefetch

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef void _pointwise_item(const floating* x_group, Py_ssize_t P, const Py_ssize_t* offsets,
                          const floating* a_group, floating* y_group,
                          const floating* bias_group, Py_ssize_t cout, Py_ssize_t kg,
                          Py_ssize_t q0, Py_ssize_t count, floating* bpack,
                          floating* panels, Py_ssize_t MR, Py_ssize_t NR,
                          Py_ssize_t KC, Py_ssize_t rows_ahead) noexcept nogil:
    """y[co, q0:q0+count] = bias + W_group @ x_group[:, q0:q0+count] of one image and group.

    A 1x1, stride-1, unpadded convolution is a plain GEMM on NCHW: row k of the GEMM's B is
    input channel k's plane (at offsets[k] = k*P), and the results go straight into y's rows
    (ldc = P) - no lowering, no padded copy, no transpose. Per reduction chunk, the block's
    full NR-pixel panels of B are first copied into ``panels`` ([panel][k][NR]), each input
    row read as one run of the block's pixels: read in place, every panel's KC rows (KC
    lines of different planes, a plane apart) fell on a few L1 sets and were fetched again
    for each weight panel. While row k is copied, the run of row k + rows_ahead is
    prefetched (0: none): the runs are too short, and a plane apart, for the hardware
    prefetcher. A last panel narrower than NR is packed zero-filled into ``bpack`` and
    accumulated through ``bpack``'s tile.
    """
    cdef Py_ssize_t nfull = count // NR
    cdef Py_ssize_t tail = count - nfull * NR
    cdef Py_ssize_t npa = (cout + MR - 1) // MR
    cdef Py_ssize_t kc0, kc, j, i, co, k, rows, q
    cdef floating beta
    cdef floating* dst
    cdef const floating* src
    cdef floating* panel
    cdef floating* tile = bpack + kg * NR
    cdef Py_ssize_t run_bytes = count * sizeof(floating)
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
        for k in range(kc):
            src = x_group + offsets[kc0 + k] + q0
            if rows_ahead and kc0 + k + rows_ahead < kg:
                cyconv_prefetch(x_group + offsets[kc0 + k + rows_ahead] + q0, 0, run_bytes)
            _copy_panel_lines(panels + k * NR, kc * NR, src, nfull, NR)
        for j in range(nfull):
            q = q0 + j * NR
            panel = panels + j * kc * NR
            for i in range(npa):
                rows = MR if cout - i * MR > MR else cout - i * MR
                if rows == MR:
                    _ukr(kc, a_group + (i * kg + kc0) * MR, panel, y_group + i * MR * P + q, P)
                else:
                    memset(tile, 0, MR * NR * sizeof(floating))
                    _ukr(kc, a_group + (i * kg + kc0) * MR, panel, tile, NR)
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
                      Py_ssize_t block, floating[:, ::1] work, Py_ssize_t KC,
                      Py_ssize_t rows_ahead, int num_threads):
    """y (N, C_out, P) = W @ x (N, C_in, P) per group (+ bias): a 1x1 convolution with stride
    1 and no padding, on any number of spatial dims flattened to P.

    offsets : (C_in/groups,) k*P, the row offsets of the GEMM's B.
    a_packed : weights in panels of MR output channels, (groups, panels, C_in/groups, MR).
    block : pixels per work item (a multiple of NR); work items are (image, group, block).
    work : per-thread rows of at least pointwise_work_length(C_in/groups, block, KC)
        elements (the packed last panel, a register tile and the block's packed panels).
    rows_ahead : input rows between the one being packed and the one being prefetched
        (>= 0; 0: no software prefetch). The results do not depend on it.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2], CO = y.shape[1]
    cdef Py_ssize_t cig = C // groups, cog = CO // groups
    cdef Py_ssize_t MR = ISA.mr_f32 if floating is float else ISA.mr_f64
    cdef Py_ssize_t NR = ISA.nr_f32 if floating is float else ISA.nr_f64
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
    cdef Py_ssize_t packed_at = (cig + MR) * NR
    cdef Py_ssize_t needed = pointwise_work_length(cig, block, KC,
                                                   sizeof(floating) == sizeof(float))
    if rows_ahead < 0:
        raise ValueError(f"pointwise_forward: rows_ahead must be >= 0, got {rows_ahead}")
    if block % NR or wstride < needed:
        raise ValueError(f"pointwise_forward: block {block} must be a multiple of {NR} and "
                         f"the work rows ({wstride}) at least {needed} long")
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
                            block if P - q0 > block else P - q0, wp + tid * wstride,
                            wp + tid * wstride + packed_at, MR, NR, KC, rows_ahead)


def pointwise_work_length(Py_ssize_t cig, Py_ssize_t block, Py_ssize_t KC, bint single):
    """Elements of one thread's pointwise_forward work row: the packed last panel and a
    register tile ((C_in/groups + MR) * NR), then a reduction chunk of the block's panels
    (min(C_in/groups, KC) * block)."""
    cdef Py_ssize_t MR = ISA.mr_f32 if single else ISA.mr_f64
    cdef Py_ssize_t NR = ISA.nr_f32 if single else ISA.nr_f64
    return (cig + MR) * NR + (cig if cig < KC else KC) * block
