/* Separable pooling row kernels (see _poolsimd_template.h): a window reduction is an
 * elementwise ("vertical") reduction over the kernel's input rows into an L1 row buffer, then
 * a strided ("horizontal") reduction of that buffer; the average-pooling gradient is the
 * transpose (the shares of the output rows covering an input row, then spread along the
 * row); the max/min gradient of 2-wide tiling windows selects and routes in registers.
 *
 * Instances for AVX-512F (64-byte vectors), AVX2 (32) and a portable one (16 bytes: SSE2 on
 * x86-64, generic code elsewhere), compiled once by the ISA owner: the descriptor table
 * (_isa_table.h) holds each level's instances, CYCONV_POOL_FN names them.
 */
#ifndef CYCONV_POOLSIMD_H
#define CYCONV_POOLSIMD_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define CYCONV_POOL_X86 1
#include <immintrin.h>
#else
#define CYCONV_POOL_X86 0
#endif

#if CYCONV_POOL_X86
typedef float cyconv_vf32_avx512 __attribute__((vector_size(64)));
typedef int32_t cyconv_vif32_avx512 __attribute__((vector_size(64)));
#define T float
#define VT cyconv_vf32_avx512
#define IT cyconv_vif32_avx512
#define L 16
#define SFX f32_avx512
#define LOADN(p, n) ((VT)_mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p)))
#define STOREN(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (__m512)(v))
#define TGT __attribute__((target("avx512f")))
#define EVEN 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODD 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define ILO 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define IHI 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#include "_poolsimd_template.h"
#endif

#if CYCONV_POOL_X86
typedef double cyconv_vf64_avx512 __attribute__((vector_size(64)));
typedef int64_t cyconv_vif64_avx512 __attribute__((vector_size(64)));
#define T double
#define VT cyconv_vf64_avx512
#define IT cyconv_vif64_avx512
#define L 8
#define SFX f64_avx512
#define LOADN(p, n) ((VT)_mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), (p)))
#define STOREN(p, v, n) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (n)) - 1), (__m512d)(v))
#define TGT __attribute__((target("avx512f")))
#define EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define ODD 1, 3, 5, 7, 9, 11, 13, 15
#define ILO 0, 8, 1, 9, 2, 10, 3, 11
#define IHI 4, 12, 5, 13, 6, 14, 7, 15
#include "_poolsimd_template.h"
#endif

#if CYCONV_POOL_X86
typedef float cyconv_vf32_avx2 __attribute__((vector_size(32)));
typedef int32_t cyconv_vif32_avx2 __attribute__((vector_size(32)));
#define T float
#define VT cyconv_vf32_avx2
#define IT cyconv_vif32_avx2
#define L 8
#define SFX f32_avx2
#define LOADN(p, n) ((VT)_mm256_maskload_ps((p), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))))
#define STOREN(p, v, n) _mm256_maskstore_ps((p), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), (__m256)(v))
#define TGT __attribute__((target("avx2")))
#define EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define ODD 1, 3, 5, 7, 9, 11, 13, 15
#define ILO 0, 8, 1, 9, 2, 10, 3, 11
#define IHI 4, 12, 5, 13, 6, 14, 7, 15
#include "_poolsimd_template.h"
#endif

#if CYCONV_POOL_X86
typedef double cyconv_vf64_avx2 __attribute__((vector_size(32)));
typedef int64_t cyconv_vif64_avx2 __attribute__((vector_size(32)));
#define T double
#define VT cyconv_vf64_avx2
#define IT cyconv_vif64_avx2
#define L 4
#define SFX f64_avx2
#define LOADN(p, n) ((VT)_mm256_maskload_pd((p), _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n)), _mm256_setr_epi64x(0, 1, 2, 3))))
#define STOREN(p, v, n) _mm256_maskstore_pd((p), _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n)), _mm256_setr_epi64x(0, 1, 2, 3)), (__m256d)(v))
#define TGT __attribute__((target("avx2")))
#define EVEN 0, 2, 4, 6
#define ODD 1, 3, 5, 7
#define ILO 0, 4, 1, 5
#define IHI 2, 6, 3, 7
#include "_poolsimd_template.h"
#endif

typedef float cyconv_vf32_generic __attribute__((vector_size(16)));
typedef int32_t cyconv_vif32_generic __attribute__((vector_size(16)));
#define T float
#define VT cyconv_vf32_generic
#define IT cyconv_vif32_generic
#define L 4
#define SFX f32_generic
#define LOADN(p, n) ({ const T* s_ = (p); VT v_ = {0};                                    \
    for (ptrdiff_t i_ = 0; i_ < (n); i_++) { v_[i_] = s_[i_]; }                               \
    v_; })
#define STOREN(p, v, n) do { T* d_ = (p); VT v_ = (v);                                     \
    for (ptrdiff_t i_ = 0; i_ < (n); i_++) d_[i_] = v_[i_]; } while (0)
#define TGT 
#define EVEN 0, 2, 4, 6
#define ODD 1, 3, 5, 7
#define ILO 0, 4, 1, 5
#define IHI 2, 6, 3, 7
#include "_poolsimd_template.h"

typedef double cyconv_vf64_generic __attribute__((vector_size(16)));
typedef int64_t cyconv_vif64_generic __attribute__((vector_size(16)));
#define T double
#define VT cyconv_vf64_generic
#define IT cyconv_vif64_generic
#define L 2
#define SFX f64_generic
#define LOADN(p, n) ({ const T* s_ = (p); VT v_ = {0};                                    \
    for (ptrdiff_t i_ = 0; i_ < (n); i_++) { v_[i_] = s_[i_]; }                               \
    v_; })
#define STOREN(p, v, n) do { T* d_ = (p); VT v_ = (v);                                     \
    for (ptrdiff_t i_ = 0; i_ < (n); i_++) d_[i_] = v_[i_]; } while (0)
#define TGT 
#define EVEN 0, 2
#define ODD 1, 3
#define ILO 0, 2
#define IHI 1, 3
#include "_poolsimd_template.h"

/* The instance of kernel NAME (vreduce, hreduce, shares, spread, route2) for element type
 * T (f32, f64) at ISA level ISA (generic, avx2, avx512) - the portable one where this build
 * has no vector instances (x86 but not x86-64). */
#if CYCONV_POOL_X86
#define CYCONV_POOL_SUFFIX_avx512 avx512
#define CYCONV_POOL_SUFFIX_avx2 avx2
#else
#define CYCONV_POOL_SUFFIX_avx512 generic
#define CYCONV_POOL_SUFFIX_avx2 generic
#endif
#define CYCONV_POOL_SUFFIX_generic generic
#define CYCONV_POOL_CAT_(a, b) a##b
#define CYCONV_POOL_CAT(a, b) CYCONV_POOL_CAT_(a, b)
#define CYCONV_POOL_FN(NAME, T, ISA) \
    CYCONV_POOL_CAT(cyconv_pool_##NAME##_##T##_, CYCONV_POOL_SUFFIX_##ISA)
#endif
