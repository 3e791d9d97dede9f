# Software prefetch of byte ranges (_prefetch.h), shared by the pooling and GEMM kernels.

cdef extern from "_prefetch.h" nogil:
    void cyconv_prefetch(const void* base, Py_ssize_t start, Py_ssize_t end)
    void cyconv_prefetch_write(const void* base, Py_ssize_t start, Py_ssize_t end)
