/* Direct-convolution micro-kernel: output channels along the vector lanes, pixels broadcast.
 *
 *   C[p*ldc + o] (+)= sum_k A[k*OB + o] * B[boff[k] + p*bs]  (p < NP pixels, o < OB = NV*lanes)
 *   (= for the first reduction chunk, accumulate == 0; += after)
 *
 * A is a weight panel of OB output channels, packed per tap; B is the zero-padded input
 * itself: tap k of NP consecutive output pixels of one row is NP input elements at boff[k],
 * bs (the convolution's stride) apart, each broadcast to a vector - so strided convolutions
 * need no gathers either. Per k: NV weight-vector loads, NP broadcasts and
 * NP*NV FMAs into accumulators that stay in registers. NP = 7 or 14 tiles the row widths of
 * common networks (7, 14, 28, 56, 112, 224) exactly.
 */
UKR_TARGET static void UKR_NAME(ptrdiff_t K, const UKR_T* restrict A, const UKR_T* restrict B,
                                const ptrdiff_t* restrict boff, ptrdiff_t bs,
                                UKR_T* restrict C, ptrdiff_t ldc, int accumulate)
{
    typedef UKR_T vec __attribute__((vector_size(UKR_VB)));
    enum { LANES = UKR_VB / sizeof(UKR_T), OB = UKR_NV * LANES };
    vec acc[UKR_NP][UKR_NV];
#pragma GCC unroll 16
    for (int p = 0; p < UKR_NP; p++)
#pragma GCC unroll 4
        for (int v = 0; v < UKR_NV; v++)
            acc[p][v] = (vec){0};
    /* stride 1 gets its own loop: the pixels' broadcasts then use constant displacements
     * instead of a chain of address additions (fewer instructions per FMA) */
#define UKR_BCAST_STEP(STRIDE)                                                                 \
    for (ptrdiff_t k = 0; k < K; k++) {                                                        \
        vec a[UKR_NV];                                                                         \
        _Pragma("GCC unroll 4")                                                                \
        for (int v = 0; v < UKR_NV; v++)                                                       \
            __builtin_memcpy(&a[v], A + k * OB + v * LANES, sizeof(vec));                      \
        const UKR_T* bk = B + boff[k];                                                         \
        _Pragma("GCC unroll 16")                                                               \
        for (int p = 0; p < UKR_NP; p++) {                                                     \
            const UKR_T b = bk[p * (STRIDE)];                                                  \
            _Pragma("GCC unroll 4")                                                            \
            for (int v = 0; v < UKR_NV; v++)                                                   \
                acc[p][v] += a[v] * b;                                                         \
        }                                                                                      \
    }
    if (bs == 1) {
        UKR_BCAST_STEP(1)
    } else {
        UKR_BCAST_STEP(bs)
    }
#undef UKR_BCAST_STEP
    /* the first reduction chunk stores (no zero-fill of C beforehand, no load), later ones
     * add */
    if (accumulate) {
#pragma GCC unroll 16
        for (int p = 0; p < UKR_NP; p++)
#pragma GCC unroll 4
            for (int v = 0; v < UKR_NV; v++) {
                vec c;
                __builtin_memcpy(&c, C + p * ldc + v * LANES, sizeof(vec));
                c += acc[p][v];
                __builtin_memcpy(C + p * ldc + v * LANES, &c, sizeof(vec));
            }
    } else {
#pragma GCC unroll 16
        for (int p = 0; p < UKR_NP; p++)
#pragma GCC unroll 4
            for (int v = 0; v < UKR_NV; v++)
                __builtin_memcpy(C + p * ldc + v * LANES, &acc[p][v], sizeof(vec));
    }
}
