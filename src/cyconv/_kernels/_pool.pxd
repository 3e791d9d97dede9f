# _pool.pyx as the other pooling module (_pool_backward.pyx) takes it: the packed window
# and the prefetch setting.
from cyconv._kernels._pool_core cimport Window


cdef class PoolWindow:
    cdef Window w


# the bytes of input ahead the row prefetch reaches (set_prefetch_bytes)
cdef Py_ssize_t prefetch_bytes() noexcept nogil
