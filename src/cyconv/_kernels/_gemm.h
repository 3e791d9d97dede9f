/* GEMM micro-kernels for the convolution drivers in _conv.pyx, chosen at run time.
 *
 * Each ISA gets its own instantiation of _ukr_template.h, compiled with a target attribute,
 * so the default build runs on any x86-64 (and, through the portable kernels, on any
 * architecture) while AVX-512 or AVX2+FMA machines get their wide kernels.
 * Register tiles (MR rows x NR columns):
 *   AVX-512: float 8 x 48, double 8 x 24   (24 zmm accumulators)
 *   AVX2:    float 6 x 16, double 6 x 8    (12 ymm accumulators)
 *   generic: float 4 x 8,  double 4 x 4    (8 accumulators of 16 bytes)
 */
#ifndef CYCONV_GEMM_H
#define CYCONV_GEMM_H
#include <stddef.h>

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define CYCONV_X86 1
#define CYCONV_TARGET_AVX512 __attribute__((target("avx512f,fma")))
#define CYCONV_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define CYCONV_X86 0
#endif

#define UKR_TARGET
#define UKR_VB 16
#define UKR_MR 4
#define UKR_NV 2
#define UKR_NAME cyconv_ukr_f32_generic
#define UKR_T float
#include "_ukr_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukro_f32_generic
#define UKR_T float
#define UKR_OFFSETS
#include "_ukr_template.h"
#undef UKR_OFFSETS
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukr_f64_generic
#define UKR_T double
#include "_ukr_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukro_f64_generic
#define UKR_T double
#define UKR_OFFSETS
#include "_ukr_template.h"
#undef UKR_OFFSETS
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_MR
#undef UKR_NV

#if CYCONV_X86
#define UKR_TARGET CYCONV_TARGET_AVX512
#define UKR_VB 64
#define UKR_MR 8
#define UKR_NV 3
#define UKR_NAME cyconv_ukr_f32_avx512
#define UKR_T float
#include "_ukr_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukro_f32_avx512
#define UKR_T float
#define UKR_OFFSETS
#include "_ukr_template.h"
#undef UKR_OFFSETS
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukr_f64_avx512
#define UKR_T double
#include "_ukr_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukro_f64_avx512
#define UKR_T double
#define UKR_OFFSETS
#include "_ukr_template.h"
#undef UKR_OFFSETS
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_MR
#undef UKR_NV

#define UKR_TARGET CYCONV_TARGET_AVX2
#define UKR_VB 32
#define UKR_MR 6
#define UKR_NV 2
#define UKR_NAME cyconv_ukr_f32_avx2
#define UKR_T float
#include "_ukr_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukro_f32_avx2
#define UKR_T float
#define UKR_OFFSETS
#include "_ukr_template.h"
#undef UKR_OFFSETS
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukr_f64_avx2
#define UKR_T double
#include "_ukr_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukro_f64_avx2
#define UKR_T double
#define UKR_OFFSETS
#include "_ukr_template.h"
#undef UKR_OFFSETS
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_MR
#undef UKR_NV
#endif


/* Direct-convolution kernels (_ukr_bcast_template.h): OB output channels x NP row pixels.
 *   AVX-512: float 32 x 14, double 16 x 14;  AVX2: float 16 x 6, double 8 x 6;
 *   generic: float 8 x 4, double 4 x 4. */
#define UKR_TARGET
#define UKR_VB 16
#define UKR_NV 2
#define UKR_NP 4
#define UKR_NAME cyconv_ukrb_f32_generic
#define UKR_T float
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukrb_f64_generic
#define UKR_T double
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_NV
#undef UKR_NP

#if CYCONV_X86
/* 2 vectors x 14 pixels = 28 accumulators + 2 weight vectors + 1 broadcast = 31 of the 32
 * zmm registers: no spills. The former 64 x 7 float tile (4 x 7 = 28 accumulators + 4 weight
 * vectors + a broadcast = 33) kept one accumulator on the stack, a load-FMA-store chain per
 * tap that Zen 4's half-rate FMAs hid but Zen 5's full-width ones do not (in L1, one Zen 5
 * core: 64 x 7 241, 32 x 14 256 GFLOP/s; benchmarks/README.md "Zen 5"). 14 pixels still tile
 * the row widths 14, 28, 56, 112, 224 exactly. */
#define UKR_TARGET CYCONV_TARGET_AVX512
#define UKR_VB 64
#define UKR_NV 2
#define UKR_NP 14
#define UKR_NAME cyconv_ukrb_f32_avx512
#define UKR_T float
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukrb_f64_avx512
#define UKR_T double
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_NV
#undef UKR_NP

#define UKR_TARGET CYCONV_TARGET_AVX2
#define UKR_VB 32
#define UKR_NV 2
#define UKR_NP 6
#define UKR_NAME cyconv_ukrb_f32_avx2
#define UKR_T float
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukrb_f64_avx2
#define UKR_T double
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_NV
#undef UKR_NP
#endif


/* Narrow-row variant of the direct kernel: AVX-512 float 32 x 8, double 16 x 8 (for rows
 * of 8/16/24/32 pixels, where 14-pixel tiles would waste work; also rows of 7); the other ISAs reuse their
 * only tile. */
#if CYCONV_X86
#define UKR_TARGET CYCONV_TARGET_AVX512
#define UKR_VB 64
#define UKR_NV 2
#define UKR_NP 8
#define UKR_NAME cyconv_ukrn_f32_avx512
#define UKR_T float
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukrn_f64_avx512
#define UKR_T double
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_NV
#undef UKR_NP
#endif

typedef void (*cyconv_ukr_f32_t)(ptrdiff_t, const float*, const float*, float*, ptrdiff_t);
typedef void (*cyconv_ukr_f64_t)(ptrdiff_t, const double*, const double*, double*, ptrdiff_t);
typedef void (*cyconv_ukro_f32_t)(ptrdiff_t, const float*, const float*, const ptrdiff_t*, float*,
                                  ptrdiff_t);
typedef void (*cyconv_ukro_f64_t)(ptrdiff_t, const double*, const double*, const ptrdiff_t*,
                                  double*, ptrdiff_t);

static cyconv_ukr_f32_t cyconv_ukr_f32 = cyconv_ukr_f32_generic;
static cyconv_ukr_f64_t cyconv_ukr_f64 = cyconv_ukr_f64_generic;
static cyconv_ukro_f32_t cyconv_ukro_f32 = cyconv_ukro_f32_generic;
static cyconv_ukro_f64_t cyconv_ukro_f64 = cyconv_ukro_f64_generic;
typedef void (*cyconv_ukrb_f32_t)(ptrdiff_t, const float*, const float*, const ptrdiff_t*,
                                  ptrdiff_t, float*, ptrdiff_t, int);
typedef void (*cyconv_ukrb_f64_t)(ptrdiff_t, const double*, const double*, const ptrdiff_t*,
                                  ptrdiff_t, double*, ptrdiff_t, int);
static cyconv_ukrb_f32_t cyconv_ukrb_f32 = cyconv_ukrb_f32_generic;
static cyconv_ukrb_f64_t cyconv_ukrb_f64 = cyconv_ukrb_f64_generic;
static int cyconv_ob_f32 = 8, cyconv_np_f32 = 4, cyconv_ob_f64 = 4, cyconv_np_f64 = 4;
static cyconv_ukrb_f32_t cyconv_ukrn_f32 = cyconv_ukrb_f32_generic;
static cyconv_ukrb_f64_t cyconv_ukrn_f64 = cyconv_ukrb_f64_generic;
static int cyconv_obn_f32 = 8, cyconv_npn_f32 = 4, cyconv_obn_f64 = 4, cyconv_npn_f64 = 4;
static int cyconv_mr_f32 = 4, cyconv_nr_f32 = 8, cyconv_mr_f64 = 4, cyconv_nr_f64 = 4;
static int cyconv_isa = 0;  /* 0 generic, 1 avx2, 2 avx512 */
#include "_tile_unpack.h"
#include "_ukr_rowpairs.h"
#include "_ukr_pixel_rows.h"

/* The best ISA this CPU (and OS) supports: 2 AVX-512F, 1 AVX2+FMA, 0 none. */
static int cyconv_cpu_isa(void)
{
#if CYCONV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
#endif
    return 0;
}

/* Select the kernels for `isa` (clipped to what the CPU supports); returns the ISA chosen. */
static int cyconv_select_isa(int isa)
{
    int best = cyconv_cpu_isa();
    if (isa < 0 || isa > best)
        isa = best;
#if CYCONV_X86
    if (isa == 2) {
        cyconv_ukr_f32 = cyconv_ukr_f32_avx512; cyconv_ukro_f32 = cyconv_ukro_f32_avx512;
        cyconv_mr_f32 = 8; cyconv_nr_f32 = 48;
        cyconv_ukrb_f32 = cyconv_ukrb_f32_avx512; cyconv_ob_f32 = 32; cyconv_np_f32 = 14;
        cyconv_ukrb_f64 = cyconv_ukrb_f64_avx512; cyconv_ob_f64 = 16; cyconv_np_f64 = 14;
        cyconv_ukrn_f32 = cyconv_ukrn_f32_avx512; cyconv_obn_f32 = 32; cyconv_npn_f32 = 8;
        cyconv_ukrn_f64 = cyconv_ukrn_f64_avx512; cyconv_obn_f64 = 16; cyconv_npn_f64 = 8;
        cyconv_ukr_f64 = cyconv_ukr_f64_avx512; cyconv_ukro_f64 = cyconv_ukro_f64_avx512;
        cyconv_mr_f64 = 8; cyconv_nr_f64 = 24;
        cyconv_unpack_tile_f32 = cyconv_unpack_tile_f32_avx512;
        cyconv_isa = 2;
        return 2;
    }
    if (isa == 1) {
        cyconv_ukr_f32 = cyconv_ukr_f32_avx2; cyconv_ukro_f32 = cyconv_ukro_f32_avx2;
        cyconv_mr_f32 = 6; cyconv_nr_f32 = 16;
        cyconv_ukrb_f32 = cyconv_ukrb_f32_avx2; cyconv_ob_f32 = 16; cyconv_np_f32 = 6;
        cyconv_ukrb_f64 = cyconv_ukrb_f64_avx2; cyconv_ob_f64 = 8; cyconv_np_f64 = 6;
        cyconv_ukrn_f32 = cyconv_ukrb_f32_avx2; cyconv_obn_f32 = 16; cyconv_npn_f32 = 6;
        cyconv_ukrn_f64 = cyconv_ukrb_f64_avx2; cyconv_obn_f64 = 8; cyconv_npn_f64 = 6;
        cyconv_ukr_f64 = cyconv_ukr_f64_avx2; cyconv_ukro_f64 = cyconv_ukro_f64_avx2;
        cyconv_mr_f64 = 6; cyconv_nr_f64 = 8;
        cyconv_unpack_tile_f32 = cyconv_unpack_tile_f32_generic;
        cyconv_isa = 1;
        return 1;
    }
#endif
    cyconv_ukr_f32 = cyconv_ukr_f32_generic; cyconv_ukro_f32 = cyconv_ukro_f32_generic;
    cyconv_mr_f32 = 4; cyconv_nr_f32 = 8;
    cyconv_ukrb_f32 = cyconv_ukrb_f32_generic; cyconv_ob_f32 = 8; cyconv_np_f32 = 4;
    cyconv_ukrb_f64 = cyconv_ukrb_f64_generic; cyconv_ob_f64 = 4; cyconv_np_f64 = 4;
    cyconv_ukrn_f32 = cyconv_ukrb_f32_generic; cyconv_obn_f32 = 8; cyconv_npn_f32 = 4;
    cyconv_ukrn_f64 = cyconv_ukrb_f64_generic; cyconv_obn_f64 = 4; cyconv_npn_f64 = 4;
    cyconv_ukr_f64 = cyconv_ukr_f64_generic; cyconv_ukro_f64 = cyconv_ukro_f64_generic;
    cyconv_mr_f64 = 4; cyconv_nr_f64 = 4;
    cyconv_unpack_tile_f32 = cyconv_unpack_tile_f32_generic;
    cyconv_isa = 0;
    return 0;
}
#endif
