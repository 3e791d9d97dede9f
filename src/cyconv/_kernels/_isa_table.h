/* The ISA descriptor table: one cyconv_isa_desc per ISA level, built from the kernel
 * instances and their shape constants. Included by _isa.pyx alone, so every micro-kernel
 * is compiled once, in the module that owns the choice of level.
 */
#ifndef CYCONV_ISA_TABLE_H
#define CYCONV_ISA_TABLE_H
#include "_isa.h"
#include "_gemm.h"
#include "_tile_unpack.h"
#include "_depthwise.h"
#include "_ukr_rowpairs.h"
#include "_ukr_pixel_rows.h"
#include "_poolsimd.h"

/* the AVX-512-only kernels: what each level runs (NULL: not this level); the pixel-lane
 * rows' per-level names are _ukr_pixel_rows.h's (NULL at the generic level) */
#define CYCONV_ROWPAIRS_generic NULL
#define CYCONV_ROWPAIRS_avx2 NULL
#define CYCONV_ROWPAIRS_avx512 CYCONV_ROWPAIRS_KERNEL

/* Level LEVEL's descriptor from the instances named *_ISA (vector bytes CYCONV_VB_ISA). */
#define CYCONV_ISA_ENTRY(LEVEL, ISA)                                                         \
    {                                                                                        \
        .level = (LEVEL),                                                                    \
        .mr_f32 = CYCONV_GEMM_MR_##ISA,                                                      \
        .nr_f32 = CYCONV_GEMM_NV_##ISA * CYCONV_VB_##ISA / 4,                                \
        .mr_f64 = CYCONV_GEMM_MR_##ISA,                                                      \
        .nr_f64 = CYCONV_GEMM_NV_##ISA * CYCONV_VB_##ISA / 8,                                \
        .ukr_f32 = cyconv_ukr_f32_##ISA,                                                     \
        .ukr_f64 = cyconv_ukr_f64_##ISA,                                                     \
        .ukro_f32 = cyconv_ukro_f32_##ISA,                                                   \
        .ukro_f64 = cyconv_ukro_f64_##ISA,                                                   \
        .ob_f32 = CYCONV_DIRECT_NV * CYCONV_VB_##ISA / 4,                                    \
        .np_f32 = CYCONV_DIRECT_NP_##ISA,                                                    \
        .ob_f64 = CYCONV_DIRECT_NV * CYCONV_VB_##ISA / 8,                                    \
        .np_f64 = CYCONV_DIRECT_NP_##ISA,                                                    \
        .ukrb_f32 = cyconv_ukrb_f32_##ISA,                                                   \
        .ukrb_f64 = cyconv_ukrb_f64_##ISA,                                                   \
        .obn_f32 = CYCONV_DIRECT_NV * CYCONV_VB_##ISA / 4,                                   \
        .npn_f32 = CYCONV_DIRECT_NPN_##ISA,                                                  \
        .obn_f64 = CYCONV_DIRECT_NV * CYCONV_VB_##ISA / 8,                                   \
        .npn_f64 = CYCONV_DIRECT_NPN_##ISA,                                                  \
        .nps = CYCONV_DIRECT_NPS_##ISA,                                                      \
        .ukrs_f32 = cyconv_ukrs_f32_##ISA,                                                   \
        .ukrs_f64 = cyconv_ukrs_f64_##ISA,                                                   \
        .ukrn_f32 = cyconv_ukrn_f32_##ISA,                                                   \
        .ukrn_f64 = cyconv_ukrn_f64_##ISA,                                                   \
        .unpack_tile_f32 = cyconv_unpack_tile_f32_##ISA,                                     \
        .unpack_tile_f64 = cyconv_unpack_tile_f64_##ISA,                                     \
        .dw_lanes_f32 = CYCONV_VB_##ISA / 4,                                                 \
        .dw_lanes_f64 = CYCONV_VB_##ISA / 8,                                                 \
        .dw_forward_f32 = cyconv_dw_forward_f32_##ISA,                                       \
        .dw_forward_f64 = cyconv_dw_forward_f64_##ISA,                                       \
        .dw_weight_f32 = cyconv_dw_weight_f32_##ISA,                                         \
        .dw_weight_f64 = cyconv_dw_weight_f64_##ISA,                                         \
        .dw_pad_f32 = cyconv_dw_pad_f32_##ISA,                                               \
        .dw_pad_f64 = cyconv_dw_pad_f64_##ISA,                                               \
        .rowpairs_mr = CYCONV_ROWPAIRS_MR,                                                   \
        .ukr_rowpairs_f32 = CYCONV_ROWPAIRS_##ISA,                                           \
        .pixrows_channels = CYCONV_PIXROWS_MR_##ISA,                                         \
        .pixrows_vectors = CYCONV_PIXROWS_NV,                                                \
        .pixrows_lanes_f32 = CYCONV_VB_##ISA / 4,                                            \
        .pixrows_lanes_f64 = CYCONV_VB_##ISA / 8,                                            \
        .ukr_pixrows_f32 = CYCONV_PIXROWS_F32_##ISA,                                         \
        .ukr_pixrows_f64 = CYCONV_PIXROWS_F64_##ISA,                                         \
        .pool_vreduce_f32 = CYCONV_POOL_FN(vreduce, f32, ISA),                               \
        .pool_vreduce_f64 = CYCONV_POOL_FN(vreduce, f64, ISA),                               \
        .pool_hreduce_f32 = CYCONV_POOL_FN(hreduce, f32, ISA),                               \
        .pool_hreduce_f64 = CYCONV_POOL_FN(hreduce, f64, ISA),                               \
        .pool_shares_f32 = CYCONV_POOL_FN(shares, f32, ISA),                                 \
        .pool_shares_f64 = CYCONV_POOL_FN(shares, f64, ISA),                                 \
        .pool_spread_f32 = CYCONV_POOL_FN(spread, f32, ISA),                                 \
        .pool_spread_f64 = CYCONV_POOL_FN(spread, f64, ISA),                                 \
        .pool_route2_f32 = CYCONV_POOL_FN(route2, f32, ISA),                                 \
        .pool_route2_f64 = CYCONV_POOL_FN(route2, f64, ISA),                                 \
    }

static const cyconv_isa_desc CYCONV_ISA_TABLE[] = {
    CYCONV_ISA_ENTRY(0, generic),
#if CYCONV_X86
    CYCONV_ISA_ENTRY(1, avx2),
    CYCONV_ISA_ENTRY(2, avx512),
#endif
};
#undef CYCONV_ISA_ENTRY

/* The level in use; every module's cyconv_isa_cur points here. */
static cyconv_isa_desc cyconv_isa_current;

/* The best level this CPU (and OS) supports: 2 AVX-512F, 1 AVX2+FMA, 0 none. */
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

/* Make `isa` (clipped to what the CPU supports; -1 = the best) the level in use; returns it.
 * Not thread-safe against running kernels (tests and A/B timing switch between calls). */
static int cyconv_select_isa(int isa)
{
    int best = cyconv_cpu_isa();
    if (isa < 0 || isa > best)
        isa = best;
    cyconv_isa_current = CYCONV_ISA_TABLE[isa];
    return isa;
}
#endif
