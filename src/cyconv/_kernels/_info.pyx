"""Build facts exposed at run time (for ``python -m cyconv info`` and the tests)."""
from cyconv._kernels._omp cimport CYCONV_OPENMP, omp_get_max_threads

cdef extern from *:
    """
    #ifndef CYCONV_COMPILE_FLAGS
    #define CYCONV_COMPILE_FLAGS ""
    #endif
    """
    const char* CYCONV_COMPILE_FLAGS


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(CYCONV_OPENMP)


def openmp_max_threads():
    """OpenMP's default team size (1 without OpenMP)."""
    return omp_get_max_threads()


def compile_flags():
    """The C compiler flags the kernels were built with."""
    return CYCONV_COMPILE_FLAGS.decode()
