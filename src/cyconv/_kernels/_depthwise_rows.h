/* The padded-plane row length of the depthwise plane kernels (_depthwise.h), for the
 * drivers that size and fill their scratch; L is the kernels' lanes (the ISA descriptor's
 * dw_lanes_*). */
#ifndef CYCONV_DEPTHWISE_ROWS_H
#define CYCONV_DEPTHWISE_ROWS_H
#include <stddef.h>

/* Row length of the padded plane the kernels read: the output row rounded up to whole
 * chunks of the forward kernel, plus the kernel's reach (KW-1)*dw. */
static ptrdiff_t cyconv_dw_row_length(ptrdiff_t OW, ptrdiff_t KW, ptrdiff_t dw, ptrdiff_t L)
{
    const ptrdiff_t nv = OW >= 4 * L ? 4 : (OW + L - 1) / L;
    const ptrdiff_t chunk = nv * L;
    return (OW + chunk - 1) / chunk * chunk + (KW - 1) * dw;
}
#endif
