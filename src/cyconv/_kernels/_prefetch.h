/* Software prefetch of byte ranges, for kernels whose reads the hardware prefetcher cannot
 * follow: many short runs a plane apart (its streams restart at every 4 KB page and it
 * tracks only a few at once). */
#ifndef CYCONV_PREFETCH_H
#define CYCONV_PREFETCH_H
#include <stddef.h>
#include <stdint.h>

/* Prefetch the bytes [base + from, base + to) into the cache, one hint per 64-byte line.
 * The range may run past the array (into the next plane, or beyond the last one): prefetch
 * hints never fault, and the addresses are formed as integers, never as pointers out of
 * bounds. */
static inline void cyconv_prefetch(const void* base, ptrdiff_t from, ptrdiff_t to)
{
    uintptr_t a = ((uintptr_t)base + (uintptr_t)from) & ~(uintptr_t)63;
    uintptr_t end = (uintptr_t)base + (uintptr_t)to;
    for (; a < end; a += 64)
        __builtin_prefetch((const void*)a, 0, 3);
}

/* The same for lines about to be written (prefetch with intent to write): the stores then
 * find their lines owned instead of each waiting for its read-for-ownership. */
static inline void cyconv_prefetch_write(const void* base, ptrdiff_t from, ptrdiff_t to)
{
    uintptr_t a = ((uintptr_t)base + (uintptr_t)from) & ~(uintptr_t)63;
    uintptr_t end = (uintptr_t)base + (uintptr_t)to;
    for (; a < end; a += 64)
        __builtin_prefetch((const void*)a, 1, 3);
}
#endif
