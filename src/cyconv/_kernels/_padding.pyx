"""Padding modes (reflect, replicate, circular) of image planes, and their adjoint.

Compute only. A mode padding is a gather: padded element (d, h, w) of a plane is input
element (md[d], mh[h], mw[w]) for per-axis index maps built by ``cyconv._padding_modes``.
Its adjoint, which folds the gradient of the padded input back onto the input, is the
matching scatter-add. Arrays are C-contiguous 4-D (planes, D, H, W); one thread owns each
plane and adds in a fixed order, so results are bitwise the same for any thread count.
"""
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from cyconv._kernels._fused cimport floating


cdef void _pad_plane(const floating* src, floating* dst, Py_ssize_t H, Py_ssize_t W,
                     const Py_ssize_t* md, Py_ssize_t D2, const Py_ssize_t* mh, Py_ssize_t H2,
                     const Py_ssize_t* mw, Py_ssize_t W2, Py_ssize_t lo_w) noexcept nogil:
    cdef Py_ssize_t d, h, w
    cdef const floating* row
    cdef floating* out
    for d in range(D2):
        for h in range(H2):
            row = src + (md[d] * H + mh[h]) * W
            out = dst + (d * H2 + h) * W2
            for w in range(lo_w):
                out[w] = row[mw[w]]
            memcpy(out + lo_w, row, W * sizeof(floating))  # the interior keeps its order
            for w in range(lo_w + W, W2):
                out[w] = row[mw[w]]


cdef void _fold_plane(const floating* src, floating* dst, Py_ssize_t size, Py_ssize_t H,
                      Py_ssize_t W, const Py_ssize_t* md, Py_ssize_t D2, const Py_ssize_t* mh,
                      Py_ssize_t H2, const Py_ssize_t* mw, Py_ssize_t W2) noexcept nogil:
    cdef Py_ssize_t d, h, w
    cdef const floating* row
    cdef floating* out
    memset(dst, 0, size * sizeof(floating))
    for d in range(D2):
        for h in range(H2):
            row = src + (d * H2 + h) * W2
            out = dst + (md[d] * H + mh[h]) * W
            for w in range(W2):
                out[mw[w]] += row[w]


def pad_or_fold(const floating[:, :, :, ::1] src, floating[:, :, :, ::1] dst,
                const Py_ssize_t[::1] md, const Py_ssize_t[::1] mh, const Py_ssize_t[::1] mw,
                Py_ssize_t lo_w, bint adjoint, int num_threads):
    """The padding, or with ``adjoint`` its adjoint, plane by plane.

    Padding: dst[p, d, h, w] = src[p, md[d], mh[h], mw[w]] for src (P, D, H, W) and dst
    (P, len(md), len(mh), len(mw)); mw maps [lo_w, lo_w + W) onto [0, W).
    Adjoint: dst (P, D, H, W) is overwritten with the sum over every padded position of
    src[p, d, h, w] into dst[p, md[d], mh[h], mw[w]], in row-major order.
    """
    cdef const floating[:, :, :, ::1] plain = dst if adjoint else src
    cdef const floating[:, :, :, ::1] padded = src if adjoint else dst
    cdef Py_ssize_t P = src.shape[0], H = plain.shape[2], W = plain.shape[3]
    cdef Py_ssize_t D2 = padded.shape[1], H2 = padded.shape[2], W2 = padded.shape[3]
    cdef Py_ssize_t plain_size = plain.shape[1] * H * W, padded_size = D2 * H2 * W2
    cdef Py_ssize_t plane
    if P == 0 or plain_size == 0 or padded_size == 0:
        return
    cdef const floating* sp = &src[0, 0, 0, 0]
    cdef floating* dp = &dst[0, 0, 0, 0]
    with nogil:
        for plane in prange(P, schedule="static", num_threads=num_threads):
            if adjoint:
                _fold_plane(sp + plane * padded_size, dp + plane * plain_size, plain_size, H,
                            W, &md[0], D2, &mh[0], H2, &mw[0], W2)
            else:
                _pad_plane(sp + plane * plain_size, dp + plane * padded_size, H, W,
                           &md[0], D2, &mh[0], H2, &mw[0], W2, lo_w)
