"""Per-frequency channel contractions of the FFT convolution.

Compute only. A spectrum row is F complex numbers stored interleaved (re, im) as 2F floats,
NumPy's complex layout seen as float32/float64. Every pass of an FFT convolution is the same
contraction at each frequency f,

    z[g, i, j, f] = sum_k op_a(a[g, i, k, f]) * op_b(b[g, j, k, f]),   op = identity or conj,

with the (g, i, k) and (g, j, k) rows of ``a`` and ``b`` found by strides (so no spectrum is
transposed first). Work items are (g, i, block of frequencies): the block's a rows stay in
cache while every j is accumulated in a fixed k order, so results are bitwise the same for any
thread count.
"""
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from cyconv._kernels._fused cimport floating
from cyconv._kernels._omp cimport omp_get_thread_num

# frequencies per work item: a (K x 2 x FREQ_BLOCK) slab of a stays in L2 for moderate K
cdef Py_ssize_t FREQ_BLOCK = 256


def scratch_length():
    """Scratch floats per thread that :func:`contract` needs."""
    return 2 * FREQ_BLOCK


cdef extern from "_spectral.h" nogil:
    void cyconv_cmac_f32(const float* a, const float* b, float* acc, Py_ssize_t nf, float sa,
                         float sb)
    void cyconv_cmac_f64(const double* a, const double* b, double* acc, Py_ssize_t nf,
                         double sa, double sb)


cdef void _block(const floating* a_row, Py_ssize_t ak, const floating* b_rows, Py_ssize_t bj,
                 Py_ssize_t bk, floating* z_rows, Py_ssize_t zj, Py_ssize_t J, Py_ssize_t K,
                 Py_ssize_t nf, floating sa, floating sb, floating* acc) noexcept nogil:
    """z[j, f] for f < nf: acc holds 2 * nf floats of scratch. sa/sb are +1 or -1 (conj)."""
    cdef Py_ssize_t j, k
    for j in range(J):
        memset(acc, 0, 2 * nf * sizeof(floating))
        for k in range(K):
            if floating is float:
                cyconv_cmac_f32(a_row + k * ak, b_rows + j * bj + k * bk, acc, nf, sa, sb)
            else:
                cyconv_cmac_f64(a_row + k * ak, b_rows + j * bj + k * bk, acc, nf, sa, sb)
        memcpy(z_rows + j * zj, acc, 2 * nf * sizeof(floating))


def contract(const floating[::1] a, tuple a_strides, const floating[::1] b, tuple b_strides,
             floating[:, :, :, ::1] z, Py_ssize_t K, bint conj_a, bint conj_b,
             floating[:, ::1] work, int num_threads):
    """z (G, I, J, 2F) = the contraction above over k < K.

    a_strides = (g, i, k) and b_strides = (g, j, k): float offsets between rows of ``a`` and
    ``b`` (each row 2F floats, F = z.shape[3] // 2). The caller guarantees every row read is
    inside its array. work : (num_threads, scratch_length()) scratch.
    """
    cdef Py_ssize_t G = z.shape[0], rows = z.shape[1], J = z.shape[2], F = z.shape[3] // 2
    cdef Py_ssize_t ag = a_strides[0], ai = a_strides[1], ak = a_strides[2]
    cdef Py_ssize_t bg = b_strides[0], bj = b_strides[1], bk = b_strides[2]
    cdef Py_ssize_t blocks = (F + FREQ_BLOCK - 1) // FREQ_BLOCK
    cdef Py_ssize_t item, g, i, f0, nf
    cdef floating sa = -1 if conj_a else 1
    cdef floating sb = -1 if conj_b else 1
    if G * rows * J * F == 0:
        return
    cdef const floating* ap = &a[0]
    cdef const floating* bp = &b[0]
    cdef floating* zp = &z[0, 0, 0, 0]
    with nogil:
        for item in prange(G * rows * blocks, schedule="static", num_threads=num_threads):
            g = item // (rows * blocks)
            i = (item // blocks) % rows
            f0 = (item % blocks) * FREQ_BLOCK
            nf = min(FREQ_BLOCK, F - f0)
            _block(ap + g * ag + i * ai + 2 * f0, ak, bp + g * bg + 2 * f0, bj, bk,
                   zp + ((g * rows + i) * J) * 2 * F + 2 * f0, 2 * F, J, K, nf, sa, sb,
                   &work[omp_get_thread_num(), 0])
