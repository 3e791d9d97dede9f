/* What the pooling driver (_pool.pyx) takes from the SIMD rows besides their dispatched
 * kernels (which it reads from the ISA descriptor): the lanes of the widest vector, for the
 * scratch sizes (its prefetch helpers are _prefetch.h's). */
#ifndef CYCONV_POOL_COMMON_H
#define CYCONV_POOL_COMMON_H
#include <stddef.h>
#include "_isa.h"

/* lanes of the widest vector (float32 on AVX-512), for the scratch sizes */
#define CYCONV_POOL_LANES (CYCONV_VB_avx512 / 4)
#endif
