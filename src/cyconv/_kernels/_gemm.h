/* GEMM and direct-convolution micro-kernels of every ISA level, compiled once, by the ISA
 * owner _isa.pyx (through _isa_table.h, which puts them in the descriptor table).
 *
 * Each ISA gets its own instantiation of _ukr_template.h, compiled with a target attribute,
 * so the default build runs on any x86-64 (and, through the portable kernels, on any
 * architecture) while AVX-512 or AVX2+FMA machines get their wide kernels.
 * The tile shapes are the constants below (vector bytes CYCONV_VB_* in _isa.h): the
 * instances are built from them and the descriptor table computes its tiles from them.
 */
#ifndef CYCONV_GEMM_H
#define CYCONV_GEMM_H
#include <stddef.h>
#include "_isa.h"

/* GEMM register tile: MR rows x NV vectors (NR = NV * lanes; AVX-512: 24 zmm accumulators,
 * AVX2: 12 ymm, generic: 8 of 16 bytes) */
#define CYCONV_GEMM_MR_generic 4
#define CYCONV_GEMM_NV_generic 2
#define CYCONV_GEMM_MR_avx2 6
#define CYCONV_GEMM_NV_avx2 2
#define CYCONV_GEMM_MR_avx512 8
#define CYCONV_GEMM_NV_avx512 3
/* direct tile: NV vectors of output channels (OB = NV * lanes) x NP row pixels; the narrow
 * variant NPN pixels (an ISA without one reuses its wide instance: NPN = NP) */
#define CYCONV_DIRECT_NV 2
#define CYCONV_DIRECT_NP_generic 4
#define CYCONV_DIRECT_NP_avx2 6
/* 2 vectors x 14 pixels = 28 accumulators + 2 weight vectors + 1 broadcast = 31 of the 32
 * zmm registers: no spills. The former 64 x 7 float tile (4 x 7 = 28 accumulators + 4 weight
 * vectors + a broadcast = 33) kept one accumulator on the stack, a load-FMA-store chain per
 * tap that Zen 4's half-rate FMAs hid but Zen 5's full-width ones do not (in L1, one Zen 5
 * core: 64 x 7 241, 32 x 14 256 GFLOP/s; benchmarks/README.md "Zen 5"). 14 pixels still tile
 * the row widths 14, 28, 56, 112, 224 exactly. */
#define CYCONV_DIRECT_NP_avx512 14
/* the short variant, one pixel less: a row's tiles mix it with the wide one so that they
 * cover the row exactly (AVX2 5 + 6: 28 = 6+6+6+5+5, 32, 56; 0 = none, AVX-512's 14 pixels
 * already tile the common widths) */
#define CYCONV_DIRECT_NPS_generic 3
#define CYCONV_DIRECT_NPS_avx2 5
#define CYCONV_DIRECT_NPS_avx512 0
#define CYCONV_DIRECT_NPN_generic CYCONV_DIRECT_NP_generic
#define CYCONV_DIRECT_NPN_avx2 CYCONV_DIRECT_NP_avx2
#define CYCONV_DIRECT_NPN_avx512 8

#define UKR_TARGET
#define UKR_VB CYCONV_VB_generic
#define UKR_MR CYCONV_GEMM_MR_generic
#define UKR_NV CYCONV_GEMM_NV_generic
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
#define UKR_VB CYCONV_VB_avx512
#define UKR_MR CYCONV_GEMM_MR_avx512
#define UKR_NV CYCONV_GEMM_NV_avx512
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
#define UKR_VB CYCONV_VB_avx2
#define UKR_MR CYCONV_GEMM_MR_avx2
#define UKR_NV CYCONV_GEMM_NV_avx2
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


/* Direct-convolution kernels (_ukr_bcast_template.h): OB output channels x NP row pixels. */
#define UKR_TARGET
#define UKR_VB CYCONV_VB_generic
#define UKR_NV CYCONV_DIRECT_NV
#define UKR_NP CYCONV_DIRECT_NP_generic
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
#define UKR_TARGET CYCONV_TARGET_AVX512
#define UKR_VB CYCONV_VB_avx512
#define UKR_NV CYCONV_DIRECT_NV
#define UKR_NP CYCONV_DIRECT_NP_avx512
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
#define UKR_VB CYCONV_VB_avx2
#define UKR_NV CYCONV_DIRECT_NV
#define UKR_NP CYCONV_DIRECT_NP_avx2
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


/* Narrow-row variant of the direct kernel, AVX-512 only (for rows of 8/16/24/32 pixels,
 * where 14-pixel tiles would waste work; also rows of 7); the other ISAs reuse their only
 * tile. */
#if CYCONV_X86
#define UKR_TARGET CYCONV_TARGET_AVX512
#define UKR_VB CYCONV_VB_avx512
#define UKR_NV CYCONV_DIRECT_NV
#define UKR_NP CYCONV_DIRECT_NPN_avx512
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

/* The short variant (CYCONV_DIRECT_NPS_*), generic and AVX2. */
#define UKR_TARGET
#define UKR_VB CYCONV_VB_generic
#define UKR_NV CYCONV_DIRECT_NV
#define UKR_NP CYCONV_DIRECT_NPS_generic
#define UKR_NAME cyconv_ukrs_f32_generic
#define UKR_T float
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukrs_f64_generic
#define UKR_T double
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_NV
#undef UKR_NP
#if CYCONV_X86
#define UKR_TARGET CYCONV_TARGET_AVX2
#define UKR_VB CYCONV_VB_avx2
#define UKR_NV CYCONV_DIRECT_NV
#define UKR_NP CYCONV_DIRECT_NPS_avx2
#define UKR_NAME cyconv_ukrs_f32_avx2
#define UKR_T float
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#define UKR_NAME cyconv_ukrs_f64_avx2
#define UKR_T double
#include "_ukr_bcast_template.h"
#undef UKR_NAME
#undef UKR_T
#undef UKR_TARGET
#undef UKR_VB
#undef UKR_NV
#undef UKR_NP
#endif
#define cyconv_ukrs_f32_avx512 NULL
#define cyconv_ukrs_f64_avx512 NULL

/* the ISAs without a narrow instance run their wide one */
#define cyconv_ukrn_f32_generic cyconv_ukrb_f32_generic
#define cyconv_ukrn_f64_generic cyconv_ukrb_f64_generic
#define cyconv_ukrn_f32_avx2 cyconv_ukrb_f32_avx2
#define cyconv_ukrn_f64_avx2 cyconv_ukrb_f64_avx2
#endif
