# OpenMP shim: kernels compile with or without OpenMP. Without it, prange is a plain loop and
# these functions report a single thread.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CYCONV_OPENMP 1
    #else
    #define CYCONV_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    static int omp_get_num_threads(void) { return 1; }
    #endif
    """
    int CYCONV_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_threads() noexcept nogil
