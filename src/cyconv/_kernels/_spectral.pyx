"""Per-frequency channel contractions of the FFT convolution.

Compute only. A spectrum row is F complex numbers stored interleaved (re, im) as 2F floats,
NumPy's complex layout seen as float32/float64. Every pass of an FFT convolution is the same
contraction at each frequency f,

    z[g, i, j, f] = sum_k op_a(a[g, i, k, f]) * op_b(b[g, j, k, f]),   op = identity or conj,

with the (g, i, k) and (g, j, k) rows of ``a`` and ``b`` found by strides (so no spectrum is
transposed first). Work items are (g, block of frequencies, i), i innermost: the block's b rows
stay in cache over the rows i, every j accumulated in a fixed k order, so results are bitwise
the same for any thread count.
"""
from cython.parallel cimport prange

from cyconv._kernels._fused cimport floating

# frequencies per work item: a (K x 2 x FREQ_BLOCK) slab of a stays in L2 for moderate K
cdef Py_ssize_t FREQ_BLOCK = 256


cdef extern from "_spectral.h" nogil:
    void cyconv_cmac_f32(const float* a, const float* b, float* acc, Py_ssize_t nf, float sa,
                         float sb)
    void cyconv_cmac_f64(const double* a, const double* b, double* acc, Py_ssize_t nf,
                         double sa, double sb)
    const Py_ssize_t CYCONV_SPECTRAL_FB
    void cyconv_cblock4_f32(const float* a, Py_ssize_t ak, const float* b, Py_ssize_t bj,
                            Py_ssize_t bk, float* z, Py_ssize_t zj, Py_ssize_t K,
                            Py_ssize_t nf, float sa, float sb)
    void cyconv_cblock1_f32(const float* a, Py_ssize_t ak, const float* b, Py_ssize_t bj,
                            Py_ssize_t bk, float* z, Py_ssize_t zj, Py_ssize_t K,
                            Py_ssize_t nf, float sa, float sb)
    void cyconv_cblock4_f64(const double* a, Py_ssize_t ak, const double* b, Py_ssize_t bj,
                            Py_ssize_t bk, double* z, Py_ssize_t zj, Py_ssize_t K,
                            Py_ssize_t nf, double sa, double sb)
    void cyconv_cblock1_f64(const double* a, Py_ssize_t ak, const double* b, Py_ssize_t bj,
                            Py_ssize_t bk, double* z, Py_ssize_t zj, Py_ssize_t K,
                            Py_ssize_t nf, double sa, double sb)


cdef void _block(const floating* a_row, Py_ssize_t ak, const floating* b_rows, Py_ssize_t bj,
                 Py_ssize_t bk, floating* z_rows, Py_ssize_t zj, Py_ssize_t J, Py_ssize_t K,
                 Py_ssize_t nf, floating sa, floating sb) noexcept nogil:
    """z[j, f] for j < J, f < nf: chunks of CYCONV_SPECTRAL_FB frequencies, four outputs j
    per pass over k (each a chunk loaded once for the four) and the rest one at a time."""
    cdef Py_ssize_t j, f0, n
    f0 = 0
    while f0 < nf:
        n = nf - f0 if nf - f0 < CYCONV_SPECTRAL_FB else CYCONV_SPECTRAL_FB
        j = 0
        while j + 4 <= J:
            if floating is float:
                cyconv_cblock4_f32(a_row + 2 * f0, ak, b_rows + j * bj + 2 * f0, bj, bk,
                                   z_rows + j * zj + 2 * f0, zj, K, n, sa, sb)
            else:
                cyconv_cblock4_f64(a_row + 2 * f0, ak, b_rows + j * bj + 2 * f0, bj, bk,
                                   z_rows + j * zj + 2 * f0, zj, K, n, sa, sb)
            j = j + 4
        while j < J:
            if floating is float:
                cyconv_cblock1_f32(a_row + 2 * f0, ak, b_rows + j * bj + 2 * f0, bj, bk,
                                   z_rows + j * zj + 2 * f0, zj, K, n, sa, sb)
            else:
                cyconv_cblock1_f64(a_row + 2 * f0, ak, b_rows + j * bj + 2 * f0, bj, bk,
                                   z_rows + j * zj + 2 * f0, zj, K, n, sa, sb)
            j = j + 1
        f0 = f0 + CYCONV_SPECTRAL_FB


def contract(const floating[::1] a, tuple a_strides, const floating[::1] b, tuple b_strides,
             floating[:, :, :, ::1] z, Py_ssize_t K, bint conj_a, bint conj_b,
             Py_ssize_t part, Py_ssize_t parts, int num_threads):
    """z (G, I, J, 2F) = the contraction above over k < K; only part ``part`` of ``parts``
    consecutive shares of the work items (several Python threads may each run one: the
    items are independent).

    a_strides = (g, i, k) and b_strides = (g, j, k): float offsets between rows of ``a`` and
    ``b`` (each row 2F floats, F = z.shape[3] // 2). The caller guarantees every row read is
    inside its array.
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
    cdef Py_ssize_t items = G * rows * blocks
    cdef Py_ssize_t first = part * items // parts, last = (part + 1) * items // parts
    with nogil:
        for item in prange(first, last, schedule="static", num_threads=num_threads):
            # rows innermost: consecutive items (one thread's, under a static schedule)
            # reuse the same block of b from cache
            g = item // (rows * blocks)
            f0 = ((item // rows) % blocks) * FREQ_BLOCK
            i = item % rows
            nf = min(FREQ_BLOCK, F - f0)
            _block(ap + g * ag + i * ai + 2 * f0, ak, bp + g * bg + 2 * f0, bj, bk,
                   zp + ((g * rows + i) * J) * 2 * F + 2 * f0, 2 * F, J, K, nf, sa, sb)
