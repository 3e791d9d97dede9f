/* The ISA descriptor: the micro-kernels and tile shapes of one ISA level, as every kernel
 * module reads them.
 *
 * One module owns the choice: _isa.pyx compiles every level's kernel instances (through
 * _isa_table.h, which only it includes), probes the CPU, and keeps the chosen level's
 * descriptor in one struct. The other kernel modules include this header alone (types and
 * shape constants, no kernels) and, at import, point their cyconv_isa_cur at that struct
 * (cyconv_isa_bind): a select_isa() in the owner is then what every module runs, with no
 * per-module copies of function pointers to keep in step. A kernel reads cyconv_isa_cur
 * once per micro-kernel call (one load more than a global function pointer).
 */
#ifndef CYCONV_ISA_H
#define CYCONV_ISA_H
#include <stddef.h>

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define CYCONV_X86 1
#define CYCONV_TARGET_AVX512 __attribute__((target("avx512f,fma")))
#define CYCONV_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define CYCONV_X86 0
#endif

/* vector bytes of each level's kernels (lanes = bytes / element size) */
#define CYCONV_VB_generic 16
#define CYCONV_VB_avx2 32
#define CYCONV_VB_avx512 64

/* ---- function types of the dispatched kernels ---- */
typedef void (*cyconv_ukr_f32_t)(ptrdiff_t, const float*, const float*, float*, ptrdiff_t);
typedef void (*cyconv_ukr_f64_t)(ptrdiff_t, const double*, const double*, double*, ptrdiff_t);
typedef void (*cyconv_ukro_f32_t)(ptrdiff_t, const float*, const float*, const ptrdiff_t*, float*,
                                  ptrdiff_t);
typedef void (*cyconv_ukro_f64_t)(ptrdiff_t, const double*, const double*, const ptrdiff_t*,
                                  double*, ptrdiff_t);
typedef void (*cyconv_ukrb_f32_t)(ptrdiff_t, const float*, const float*, const ptrdiff_t*,
                                  ptrdiff_t, float*, ptrdiff_t, int);
typedef void (*cyconv_ukrb_f64_t)(ptrdiff_t, const double*, const double*, const ptrdiff_t*,
                                  ptrdiff_t, double*, ptrdiff_t, int);
typedef void (*cyconv_unpack_f32_t)(ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t, float*,
                                    ptrdiff_t, const float*);
typedef void (*cyconv_unpack_f64_t)(ptrdiff_t, ptrdiff_t, const double*, ptrdiff_t, double*,
                                    ptrdiff_t, const double*);
typedef void (*cyconv_dw_forward_f32_t)(ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t,
                                        ptrdiff_t, const float*, ptrdiff_t, ptrdiff_t,
                                        ptrdiff_t, ptrdiff_t, float, float*);
typedef void (*cyconv_dw_forward_f64_t)(ptrdiff_t, ptrdiff_t, const double*, ptrdiff_t,
                                        ptrdiff_t, const double*, ptrdiff_t, ptrdiff_t,
                                        ptrdiff_t, ptrdiff_t, double, double*);
typedef void (*cyconv_dw_weight_f32_t)(ptrdiff_t, ptrdiff_t, const float*, const float*,
                                       ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                       ptrdiff_t, double*);
typedef void (*cyconv_dw_weight_f64_t)(ptrdiff_t, ptrdiff_t, const double*, const double*,
                                       ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                       ptrdiff_t, double*);
typedef void (*cyconv_dw_pad_f32_t)(const float*, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                    ptrdiff_t, ptrdiff_t, float*);
typedef void (*cyconv_dw_pad_f64_t)(const double*, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                    ptrdiff_t, ptrdiff_t, double*);
typedef void (*cyconv_rowpairs_f32_t)(ptrdiff_t, const float*, const float*, const ptrdiff_t*,
                                     ptrdiff_t, float*, ptrdiff_t);
typedef void (*cyconv_pixrows_f32_t)(ptrdiff_t, const float*, const float*, const ptrdiff_t*, int,
                                     const ptrdiff_t*, float*, ptrdiff_t, const ptrdiff_t*,
                                     const ptrdiff_t*, ptrdiff_t, const float*);
typedef void (*cyconv_pixrows_f64_t)(ptrdiff_t, const double*, const double*, const ptrdiff_t*,
                                     int, const ptrdiff_t*, double*, ptrdiff_t, const ptrdiff_t*,
                                     const ptrdiff_t*, ptrdiff_t, const double*);
/* the separable pooling rows (_poolsimd_template.h), per element type */
#define CYCONV_POOL_TYPES(T, S)                                                               \
    typedef void (*cyconv_pool_vreduce_##S##_t)(int, ptrdiff_t, const T*, ptrdiff_t, ptrdiff_t, \
                                                ptrdiff_t, ptrdiff_t, T*);                    \
    typedef void (*cyconv_pool_hreduce_##S##_t)(int, ptrdiff_t, ptrdiff_t, ptrdiff_t,         \
                                                ptrdiff_t, const T*, const T*, T, T*);        \
    typedef void (*cyconv_pool_shares_##S##_t)(ptrdiff_t, const T*, const T*, T, int, T*);    \
    typedef void (*cyconv_pool_spread_##S##_t)(ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,    \
                                               const T*, T*);                                 \
    typedef void (*cyconv_pool_route2_##S##_t)(int, ptrdiff_t, const T*, ptrdiff_t, ptrdiff_t,  \
                                               ptrdiff_t, ptrdiff_t, const T*, T*, ptrdiff_t, \
                                               ptrdiff_t);
CYCONV_POOL_TYPES(float, f32)
CYCONV_POOL_TYPES(double, f64)
#undef CYCONV_POOL_TYPES

/* One ISA level: what the kernels call and the tile shapes the Python layer packs for. */
typedef struct cyconv_isa_desc {
    int level;  /* 0 generic, 1 AVX2, 2 AVX-512 */
    /* GEMM micro-kernel (_ukr_template.h): MR x NR register tile; ukro reads B's rows in
     * place at offsets */
    int mr_f32, nr_f32, mr_f64, nr_f64;
    cyconv_ukr_f32_t ukr_f32;
    cyconv_ukr_f64_t ukr_f64;
    cyconv_ukro_f32_t ukro_f32;
    cyconv_ukro_f64_t ukro_f64;
    /* direct row tiles (_ukr_bcast_template.h): OB output channels x NP row pixels, and the
     * narrow variant (obn x npn) for rows of multiples of 8 pixels */
    int ob_f32, np_f32, ob_f64, np_f64;
    cyconv_ukrb_f32_t ukrb_f32;
    cyconv_ukrb_f64_t ukrb_f64;
    int obn_f32, npn_f32, obn_f64, npn_f64;
    /* the short variant (ob x nps, nps = np - 1) a wide row mixes in to end exactly on the
     * row's last pixel; nps 0 and NULL where the level has none */
    int nps;
    cyconv_ukrb_f32_t ukrs_f32;
    cyconv_ukrb_f64_t ukrs_f64;
    cyconv_ukrb_f32_t ukrn_f32;
    cyconv_ukrb_f64_t ukrn_f64;
    /* [pixel][channel] tile -> NCHW rows (_tile_unpack.h) */
    cyconv_unpack_f32_t unpack_tile_f32;
    cyconv_unpack_f64_t unpack_tile_f64;
    /* depthwise planes (_depthwise_template.h): lanes per vector */
    int dw_lanes_f32, dw_lanes_f64;
    cyconv_dw_forward_f32_t dw_forward_f32;
    cyconv_dw_forward_f64_t dw_forward_f64;
    cyconv_dw_weight_f32_t dw_weight_f32;
    cyconv_dw_weight_f64_t dw_weight_f64;
    cyconv_dw_pad_f32_t dw_pad_f32;
    cyconv_dw_pad_f64_t dw_pad_f64;
    /* 8-pixel row pairs (_ukr_rowpairs.h, float32): rowpairs_mr output channels per weight
     * panel; NULL where the level or the build lacks the kernel */
    int rowpairs_mr;
    cyconv_rowpairs_f32_t ukr_rowpairs_f32;
    /* pixels-on-lanes rows (_ukr_pixel_rows.h): pixrows_channels output channels x
     * pixrows_vectors vectors of pixrows_lanes_* pixels per call; NULL where lacking */
    int pixrows_channels, pixrows_vectors, pixrows_lanes_f32, pixrows_lanes_f64;
    cyconv_pixrows_f32_t ukr_pixrows_f32;
    cyconv_pixrows_f64_t ukr_pixrows_f64;
    /* separable pooling rows (_poolsimd.h) */
    cyconv_pool_vreduce_f32_t pool_vreduce_f32;
    cyconv_pool_vreduce_f64_t pool_vreduce_f64;
    cyconv_pool_hreduce_f32_t pool_hreduce_f32;
    cyconv_pool_hreduce_f64_t pool_hreduce_f64;
    cyconv_pool_shares_f32_t pool_shares_f32;
    cyconv_pool_shares_f64_t pool_shares_f64;
    cyconv_pool_spread_f32_t pool_spread_f32;
    cyconv_pool_spread_f64_t pool_spread_f64;
    cyconv_pool_route2_f32_t pool_route2_f32;
    cyconv_pool_route2_f64_t pool_route2_f64;
} cyconv_isa_desc;

/* This module's view of the owner's descriptor (static: one per extension module). */
static const cyconv_isa_desc* cyconv_isa_cur = NULL;

static void cyconv_isa_bind(const cyconv_isa_desc* desc)
{
    cyconv_isa_cur = desc;
}
#endif
