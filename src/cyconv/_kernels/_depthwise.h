/* Depthwise plane kernels (_depthwise_template.h) per element type and ISA level, compiled
 * once by the ISA owner (_isa_table.h puts them in the descriptor table). */
#ifndef CYCONV_DEPTHWISE_H
#define CYCONV_DEPTHWISE_H
#include <stddef.h>
#include "_isa.h"

#define DW_TARGET
#define DW_VB CYCONV_VB_generic
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
#define DW_VB CYCONV_VB_avx512
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
#define DW_VB CYCONV_VB_avx2
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

#endif
