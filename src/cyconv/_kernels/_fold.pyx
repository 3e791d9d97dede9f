"""unfold (im2col) and fold (col2im) as functions, 1-D to 3-D.

Compute only. The image (unfold's input, fold's output) is P = N*C planes of D*H*W elements;
the columns (N, C*K, L) are the same memory as (P, K, OD, OH, OW), with K = KD*KH*KW kernel
positions (kd, kh, kw row-major) and L = OD*OH*OW blocks (row-major). Both are passed as
flat C-contiguous arrays; 1-D and 2-D ops have singleton leading dims in ``geometry``.

unfold: a work item is one row of the columns (plane, kernel position): L elements, each
written once, a copy of the input or a zero of the padding.
fold: a gather. A work item is one image row (plane, d, h); it sums the columns that land on
it in a fixed order (kd, kh, kw ascending), so no two threads write the same element and the
result is the same, bit for bit, for any thread count.
"""
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from cyconv._kernels._fused cimport floating


ctypedef struct Geometry:
    Py_ssize_t D, H, W          # image size
    Py_ssize_t KD, KH, KW       # kernel size
    Py_ssize_t SD, SH, SW       # stride
    Py_ssize_t PD, PH, PW       # leading padding
    Py_ssize_t DD, DH, DW       # dilation
    Py_ssize_t OD, OH, OW       # blocks along each dim


cdef Geometry _geometry(const Py_ssize_t[::1] g) noexcept:
    """geometry = (D, H, W, KD, KH, KW, SD, SH, SW, PD, PH, PW, DD, DH, DW, OD, OH, OW)."""
    cdef Geometry r
    r.D, r.H, r.W = g[0], g[1], g[2]
    r.KD, r.KH, r.KW = g[3], g[4], g[5]
    r.SD, r.SH, r.SW = g[6], g[7], g[8]
    r.PD, r.PH, r.PW = g[9], g[10], g[11]
    r.DD, r.DH, r.DW = g[12], g[13], g[14]
    r.OD, r.OH, r.OW = g[15], g[16], g[17]
    return r


cdef inline void _span(Py_ssize_t t, Py_ssize_t s, Py_ssize_t size, Py_ssize_t n,
                       Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """[lo, hi): the blocks o < n whose tap o*s + t lies inside [0, size)."""
    cdef Py_ssize_t first = (-t + s - 1) // s if t < 0 else 0
    cdef Py_ssize_t end = (size - 1 - t) // s + 1 if t < size else 0
    lo[0] = min(first, n)
    hi[0] = max(min(end, n), lo[0])


cdef inline bint _block(Py_ssize_t i, Py_ssize_t s, Py_ssize_t n,
                        Py_ssize_t* o) noexcept nogil:
    """The block o < n whose tap lands on padded position i (= o*s), if there is one."""
    if s == 1:
        o[0] = i
        return 0 <= i < n
    if i < 0 or i % s != 0 or i // s >= n:
        return False
    o[0] = i // s
    return True


cdef void _unfold_rows(const floating* xp, floating* cp, const Geometry* g,
                       Py_ssize_t k) noexcept nogil:
    """Columns of kernel position k of one plane xp: cp = its (OD, OH, OW) blocks."""
    cdef Py_ssize_t kw = k % g.KW, kh = (k // g.KW) % g.KH, kd = k // (g.KW * g.KH)
    cdef Py_ssize_t t = kw * g.DW - g.PW, lo, hi, od, oh, o, i, j
    cdef const floating* src
    _span(t, g.SW, g.W, g.OW, &lo, &hi)
    for od in range(g.OD):
        i = od * g.SD + kd * g.DD - g.PD
        for oh in range(g.OH):
            j = oh * g.SH + kh * g.DH - g.PH
            if i < 0 or i >= g.D or j < 0 or j >= g.H:
                memset(cp, 0, g.OW * sizeof(floating))
            else:
                src = xp + (i * g.H + j) * g.W  # block o reads src[o*SW + t], lo <= o < hi
                memset(cp, 0, lo * sizeof(floating))
                if g.SW == 1:
                    memcpy(cp + lo, src + lo + t, (hi - lo) * sizeof(floating))
                else:
                    for o in range(lo, hi):
                        cp[o] = src[o * g.SW + t]
                memset(cp + hi, 0, (g.OW - hi) * sizeof(floating))
            cp += g.OW


cdef void _fold_row(const floating* cols, floating* yp, const Geometry* g, Py_ssize_t d,
                    Py_ssize_t h, const Py_ssize_t* spans) noexcept nogil:
    """Image row (d, h) of one plane: the sum of its columns (cols: that plane's (K, L));
    spans[2*kw], spans[2*kw + 1]: the blocks [lo, hi) whose tap kw lies inside a row."""
    cdef Py_ssize_t kd, kh, kw, od, oh, lo, hi, o, t
    cdef Py_ssize_t L = g.OD * g.OH * g.OW
    cdef const floating* run
    memset(yp, 0, g.W * sizeof(floating))
    for kd in range(g.KD):
        if not _block(d + g.PD - kd * g.DD, g.SD, g.OD, &od):
            continue
        for kh in range(g.KH):
            if not _block(h + g.PH - kh * g.DH, g.SH, g.OH, &oh):
                continue
            for kw in range(g.KW):
                t = kw * g.DW - g.PW
                lo, hi = spans[2 * kw], spans[2 * kw + 1]
                run = cols + ((kd * g.KH + kh) * g.KW + kw) * L + (od * g.OH + oh) * g.OW
                if g.SW == 1:
                    for o in range(lo, hi):
                        yp[o + t] += run[o]
                else:
                    for o in range(lo, hi):
                        yp[o * g.SW + t] += run[o]


def unfold(const floating[::1] x, floating[::1] cols, const Py_ssize_t[::1] geometry,
           int num_threads):
    """cols (P, K, OD, OH, OW) = the blocks of the P planes (D, H, W) of x."""
    cdef Geometry g = _geometry(geometry)
    cdef Py_ssize_t K = g.KD * g.KH * g.KW, plane = g.D * g.H * g.W
    cdef Py_ssize_t L = g.OD * g.OH * g.OW, items = cols.shape[0] // L, r
    cdef const floating* xp = &x[0]
    cdef floating* cp = &cols[0]
    with nogil:
        for r in prange(items, schedule="static", num_threads=num_threads):
            _unfold_rows(xp + (r // K) * plane, cp + r * L, &g, r % K)


def fold(const floating[::1] cols, floating[::1] y, const Py_ssize_t[::1] geometry,
         Py_ssize_t[::1] spans, int num_threads):
    """y (P, D, H, W) = the sums of the columns cols (P, K, OD, OH, OW) over their blocks.
    spans: (2 * KW,) scratch."""
    cdef Geometry g = _geometry(geometry)
    cdef Py_ssize_t rows = y.shape[0] // g.W, per_plane = g.D * g.H, r, rest, kw
    cdef Py_ssize_t plane_cols = g.KD * g.KH * g.KW * g.OD * g.OH * g.OW
    cdef const floating* cp = &cols[0]
    cdef floating* yp = &y[0]
    cdef Py_ssize_t* sp = &spans[0]
    with nogil:
        for kw in range(g.KW):
            _span(kw * g.DW - g.PW, g.SW, g.W, g.OW, sp + 2 * kw, sp + 2 * kw + 1)
        for r in prange(rows, schedule="static", num_threads=num_threads):
            rest = r % per_plane
            _fold_row(cp + (r // per_plane) * plane_cols, yp + r * g.W, &g, rest // g.H,
                      rest % g.H, sp)
