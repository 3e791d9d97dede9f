/* One GEMM micro-kernel, instantiated per element type and ISA by _gemm.h.
 *
 *   C[i*ldc + j] += sum_k A[k*MR + i] * B[k*NR + j]     (i < MR, j < NR = NV * lanes)
 *
 * A and B are packed panels; with UKR_OFFSETS defined, row k of B is instead read at
 * B + boff[k] (implicit GEMM: rows of the padded input itself, no packing).
 * The MR x NV accumulator vectors stay in registers for the
 * whole k loop (the loops over them are fully unrolled), each k step costing NV vector loads
 * of B, MR broadcasts of A and MR*NV FMAs. GCC vector extensions keep one source for
 * AVX-512, AVX2 and the portable baseline; the ISA comes from the target attribute.
 */
UKR_TARGET static void UKR_NAME(ptrdiff_t K, const UKR_T* restrict A, const UKR_T* restrict B,
#ifdef UKR_OFFSETS
                                const ptrdiff_t* restrict boff,
#endif
                                UKR_T* restrict C, ptrdiff_t ldc)
{
    typedef UKR_T vec __attribute__((vector_size(UKR_VB)));
    enum { LANES = UKR_VB / sizeof(UKR_T), NR = UKR_NV * LANES };
    vec acc[UKR_MR][UKR_NV];
#pragma GCC unroll 16
    for (int i = 0; i < UKR_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < UKR_NV; v++)
            acc[i][v] = (vec){0};
    for (ptrdiff_t k = 0; k < K; k++) {
        vec b[UKR_NV];
#ifdef UKR_OFFSETS
        const UKR_T* bk = B + boff[k];
#else
        const UKR_T* bk = B + k * NR;
#endif
#pragma GCC unroll 4
        for (int v = 0; v < UKR_NV; v++)
            __builtin_memcpy(&b[v], bk + v * LANES, sizeof(vec));
#pragma GCC unroll 16
        for (int i = 0; i < UKR_MR; i++) {
            const UKR_T a = A[k * UKR_MR + i];
#pragma GCC unroll 4
            for (int v = 0; v < UKR_NV; v++)
                acc[i][v] += a * b[v];
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < UKR_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < UKR_NV; v++) {
            vec c;
            __builtin_memcpy(&c, C + i * ldc + v * LANES, sizeof(vec));
            c += acc[i][v];
            __builtin_memcpy(C + i * ldc + v * LANES, &c, sizeof(vec));
        }
}
