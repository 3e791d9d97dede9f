"""Layout kernels of the convolution paths: the zero-padded copy of the input, the phases
of strided gradients, and grad_output laid on the padded grid.

Parallel copies that NumPy's strided assignments ran on one thread; no arithmetic, so the
convolution results are the same bits whichever path lays the data out - except the bias
gradient's plane sums, taken while grad_output is packed (``_plane_sums.pxd``: the bits of
the separate bias pass).
"""
from cython.parallel cimport prange
from libc.string cimport memset

from cyconv._kernels._core cimport Geom, _pad_plane_grid, _unpack_tile
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport cyconv_isa_bind, isa_descriptor
from cyconv._kernels._plane_sums cimport _plane_sums


# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


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
                          Py_ssize_t groups, Py_ssize_t ob, Py_ssize_t Q,
                          double[:, ::1] plane_sums, bint want_sums, int num_threads):
    """grad_y (N, C_out, P) laid on the padded grid for the stride-1 weight gradient:
    out[n, gi, panel, q, c] (flat; ob channels per panel, Q grid positions) is output channel
    gi*C_out/groups + panel*ob + c of grad_y at the output that grid position q holds, and
    0 at the grid's padding positions and for channels past the group's last. One (image,
    group, panel) per work item; each output row's channels go in by 16x16 block transposes
    (the NumPy strided copies ran on one thread while the other waited at the barrier).
    ``g``: the grid (D, H, W) and the output size (OD, OH, OW). With ``want_sums`` also
    plane_sums[n, c] (N, C_out) = the sum of grad_y[n, c] (the bias gradient's terms), each
    plane summed by the item that packed it, while it is in cache."""
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
            if want_sums:
                _plane_sums(src, chans, P, &plane_sums[n, gi * cog + pan * ob])


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


cdef enum:
    SWAP_TILE = 32  # elements per side of a transposed tile: both sides stay in L1


def swap_last_axes(const floating[:, :, ::1] src, floating[:, :, ::1] dst, int num_threads):
    """dst[n, b, a] = src[n, a, b]: an NCHW array to channels-last memory or back (a the
    channels and b the pixels, or the reverse), tile by tile, the tiles split over the
    threads. NumPy's copy between these layouts runs on one thread, at a fraction of the
    memory bandwidth for many channels (benchmarks/README.md, "Channels-last input")."""
    cdef Py_ssize_t N = src.shape[0], A = src.shape[1], B = src.shape[2]
    cdef Py_ssize_t ta = (A + SWAP_TILE - 1) // SWAP_TILE, tb = (B + SWAP_TILE - 1) // SWAP_TILE
    cdef Py_ssize_t t, n, a0, b0, a1, b1, a, b
    cdef const floating* s
    cdef floating* d
    if N == 0 or A == 0 or B == 0:
        return
    with nogil:
        for t in prange(N * ta * tb, schedule="static", num_threads=num_threads):
            n = t // (ta * tb)
            a0 = (t // tb) % ta * SWAP_TILE
            b0 = t % tb * SWAP_TILE
            a1 = a0 + SWAP_TILE if A - a0 > SWAP_TILE else A
            b1 = b0 + SWAP_TILE if B - b0 > SWAP_TILE else B
            s = &src[n, 0, 0]
            d = &dst[n, 0, 0]
            for b in range(b0, b1):
                for a in range(a0, a1):
                    d[b * A + a] = s[a * B + b]
