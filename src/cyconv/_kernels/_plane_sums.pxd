"""The bias gradient's terms: each grad_output plane summed in double in _rowops.h's fixed
order. Every pass that takes them (the separate bias pass, the fused depthwise pass, the
weight-gradient passes that read grad_output anyway) uses this one sum, so a fused bias
gradient has the bits of the separate one."""
from cyconv._kernels._fused cimport floating


cdef extern from "_rowops.h" nogil:
    double cyconv_sum_f32(Py_ssize_t n, const float* x)
    double cyconv_sum_f64(Py_ssize_t n, const double* x)


cdef inline double _plane_sum(const floating* plane, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return cyconv_sum_f32(n, plane)
    else:
        return cyconv_sum_f64(n, plane)


cdef inline void _plane_sums(const floating* planes, Py_ssize_t count, Py_ssize_t n,
                             double* out) noexcept nogil:
    """out[c] = the sum of plane c, for ``count`` planes of n values, n apart."""
    cdef Py_ssize_t c
    for c in range(count):
        out[c] = _plane_sum(planes + c * n, n)
