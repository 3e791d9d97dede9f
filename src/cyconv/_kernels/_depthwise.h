/* Depthwise plane kernels (_depthwise_template.h) per element type and ISA, chosen at run
 * time like the GEMM micro-kernels (cyconv_dw_select follows cyconv_select_isa). */
#ifndef CYCONV_DEPTHWISE_H
#define CYCONV_DEPTHWISE_H
#include <stddef.h>
#include "_gemm.h"

#define DW_TARGET
#define DW_VB 16
#define DW_T float
#define DW_SUFFIX f32_generic
#include "_depthwise_template.h"
#undef DW_T
#undef DW_SUFFIX
#define DW_T double
#define DW_SUFFIX f64_generic
#include "_depthwise_template.h"
#undef DW_T
#undef DW_SUFFIX
#undef DW_TARGET
#undef DW_VB

#if CYCONV_X86
#define DW_TARGET CYCONV_TARGET_AVX512
#define DW_VB 64
#define DW_T float
#define DW_SUFFIX f32_avx512
#include "_depthwise_template.h"
#undef DW_T
#undef DW_SUFFIX
#define DW_T double
#define DW_SUFFIX f64_avx512
#include "_depthwise_template.h"
#undef DW_T
#undef DW_SUFFIX
#undef DW_TARGET
#undef DW_VB

#define DW_TARGET CYCONV_TARGET_AVX2
#define DW_VB 32
#define DW_T float
#define DW_SUFFIX f32_avx2
#include "_depthwise_template.h"
#undef DW_T
#undef DW_SUFFIX
#define DW_T double
#define DW_SUFFIX f64_avx2
#include "_depthwise_template.h"
#undef DW_T
#undef DW_SUFFIX
#undef DW_TARGET
#undef DW_VB
#endif

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

static cyconv_dw_forward_f32_t cyconv_dw_forward_f32 = cyconv_dw_forward_f32_generic;
static cyconv_dw_forward_f64_t cyconv_dw_forward_f64 = cyconv_dw_forward_f64_generic;
static cyconv_dw_weight_f32_t cyconv_dw_weight_f32 = cyconv_dw_weight_f32_generic;
static cyconv_dw_weight_f64_t cyconv_dw_weight_f64 = cyconv_dw_weight_f64_generic;
static cyconv_dw_pad_f32_t cyconv_dw_pad_f32 = cyconv_dw_pad_f32_generic;
static cyconv_dw_pad_f64_t cyconv_dw_pad_f64 = cyconv_dw_pad_f64_generic;
static int cyconv_dw_lanes_f32 = 4, cyconv_dw_lanes_f64 = 2;

/* The kernels of the ISA the GEMM micro-kernels use (call after cyconv_select_isa). */
/* Point every depthwise kernel at its ISA instance; VB: the instance's vector bytes. */
#define CYCONV_DW_USE(ISA, VB)                                                                \
    do {                                                                                     \
        cyconv_dw_forward_f32 = cyconv_dw_forward_f32_##ISA;                                 \
        cyconv_dw_forward_f64 = cyconv_dw_forward_f64_##ISA;                                 \
        cyconv_dw_weight_f32 = cyconv_dw_weight_f32_##ISA;                                   \
        cyconv_dw_weight_f64 = cyconv_dw_weight_f64_##ISA;                                   \
        cyconv_dw_pad_f32 = cyconv_dw_pad_f32_##ISA;                                         \
        cyconv_dw_pad_f64 = cyconv_dw_pad_f64_##ISA;                                         \
        cyconv_dw_lanes_f32 = (VB) / 4;                                                      \
        cyconv_dw_lanes_f64 = (VB) / 8;                                                      \
    } while (0)

static void cyconv_dw_select(void)
{
#if CYCONV_X86
    if (cyconv_isa == 2) {
        CYCONV_DW_USE(avx512, 64);
        return;
    }
    if (cyconv_isa == 1) {
        CYCONV_DW_USE(avx2, 32);
        return;
    }
#endif
    CYCONV_DW_USE(generic, 16);
}

/* Row length of the padded plane the kernels read: the output row rounded up to whole
 * chunks of the forward kernel, plus the kernel's reach (KW-1)*dw. */
static ptrdiff_t cyconv_dw_row_length(ptrdiff_t OW, ptrdiff_t KW, ptrdiff_t dw, ptrdiff_t L)
{
    const ptrdiff_t nv = OW >= 4 * L ? 4 : (OW + L - 1) / L;
    const ptrdiff_t chunk = nv * L;
    return (OW + chunk - 1) / chunk * chunk + (KW - 1) * dw;
}
#endif
