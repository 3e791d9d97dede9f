# The core the convolution kernel modules share: the geometry struct, index helpers, the
# micro-kernel shims and the padded-grid copy. Everything here is inline (a .pxd has no
# module of its own), so a kernel calling it in a hot loop makes no cross-module call; the
# shims read the ISA descriptor through this module's own pointer to it (_isa.pxd).
from libc.string cimport memset, memcpy

from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA


ctypedef struct Geom:
    # input spatial size
    Py_ssize_t D, H, W
    # kernel size
    Py_ssize_t KD, KH, KW
    Py_ssize_t SD, SH, SW     # stride
    Py_ssize_t PD, PH, PW     # padding before the first element (trailing padding is implied)
    Py_ssize_t DD, DH, DW     # dilation
    Py_ssize_t OD, OH, OW     # output spatial size


cdef inline void _copy_panel_lines(floating* dst, Py_ssize_t dst_step, const floating* src,
                                   Py_ssize_t lines, Py_ssize_t NR) noexcept nogil:
    """dst[j * dst_step:][:NR] = src[j * NR:][:NR] for j < lines: one row's NR-element lines
    into the micro-kernel's B panels. A constant size lets the compiler inline the copy
    (AVX2's NR lines are 64 bytes); other sizes call memcpy."""
    cdef Py_ssize_t j
    if NR * sizeof(floating) == 64:
        for j in range(lines):
            memcpy(dst + j * dst_step, src + j * NR, 64)
    else:
        for j in range(lines):
            memcpy(dst + j * dst_step, src + j * NR, NR * sizeof(floating))


cdef inline Py_ssize_t _ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # b > 0; exact for negative a as well
    if a >= 0:
        return (a + b - 1) // b
    return -((-a) // b)


cdef inline void _valid_range(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                              Py_ssize_t n_out, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Output positions o in [lo, hi) whose input index o*stride + offset lies in [0, size).

    Clipping once per row keeps bounds tests out of the innermost loops.
    """
    cdef Py_ssize_t a = _ceil_div(-offset, stride)
    cdef Py_ssize_t b = _ceil_div(size - offset, stride)
    if a < 0:
        a = 0
    if b > n_out:
        b = n_out
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b


cdef inline void _ukr(Py_ssize_t K, const floating* A, const floating* B, floating* C,
                      Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        ISA.ukr_f32(K, A, B, C, ldc)
    else:
        ISA.ukr_f64(K, A, B, C, ldc)


cdef inline void _ukro(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, floating* C, Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        ISA.ukro_f32(K, A, B, boff, C, ldc)
    else:
        ISA.ukro_f64(K, A, B, boff, C, ldc)


cdef inline void _ukrb(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, Py_ssize_t bs, floating* C,
                       Py_ssize_t ldc, bint accumulate=True) noexcept nogil:
    if floating is float:
        ISA.ukrb_f32(K, A, B, boff, bs, C, ldc, accumulate)
    else:
        ISA.ukrb_f64(K, A, B, boff, bs, C, ldc, accumulate)


cdef inline void _ukrs(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, Py_ssize_t bs, floating* C,
                       Py_ssize_t ldc, bint accumulate=True) noexcept nogil:
    """_ukrb's short variant (ISA.nps pixels; only where ISA.nps > 0)."""
    if floating is float:
        ISA.ukrs_f32(K, A, B, boff, bs, C, ldc, accumulate)
    else:
        ISA.ukrs_f64(K, A, B, boff, bs, C, ldc, accumulate)


cdef inline Py_ssize_t _short_tiles(Py_ssize_t width, Py_ssize_t NP, Py_ssize_t NPS) noexcept nogil:
    """How many of a row's ceil(width / NP) tiles run the short variant (NPS = NP - 1
    pixels, 0: none), the full ones first: as many as cover the row with the least waste."""
    cdef Py_ssize_t tiles = (width + NP - 1) // NP
    if NPS <= 0 or NPS != NP - 1:
        return 0
    return tiles if tiles * NP - width > tiles else tiles * NP - width


cdef inline void _gemm_tile(bint single, Py_ssize_t* mr, Py_ssize_t* nr) noexcept nogil:
    """(rows, columns) of the GEMM micro-kernel's tile in use."""
    mr[0] = ISA.mr_f32 if single else ISA.mr_f64
    nr[0] = ISA.nr_f32 if single else ISA.nr_f64


cdef inline void _direct_tile(bint single, bint narrow, Py_ssize_t* ob,
                              Py_ssize_t* npx) noexcept nogil:
    """(output channels, broadcasts) of the channel-lane row tile ``narrow`` in use."""
    if narrow:
        ob[0] = ISA.obn_f32 if single else ISA.obn_f64
        npx[0] = ISA.npn_f32 if single else ISA.npn_f64
    else:
        ob[0] = ISA.ob_f32 if single else ISA.ob_f64
        npx[0] = ISA.np_f32 if single else ISA.np_f64


cdef inline void _ukrn(Py_ssize_t K, const floating* A, const floating* B,
                       const Py_ssize_t* boff, Py_ssize_t bs, floating* C,
                       Py_ssize_t ldc, bint accumulate=True) noexcept nogil:
    if floating is float:
        ISA.ukrn_f32(K, A, B, boff, bs, C, ldc, accumulate)
    else:
        ISA.ukrn_f64(K, A, B, boff, bs, C, ldc, accumulate)


cdef inline void _unpack_tile(Py_ssize_t npix, Py_ssize_t nch, const floating* src,
                              Py_ssize_t ldsrc, floating* dst, Py_ssize_t lddst,
                              const floating* bias) noexcept nogil:
    """dst[c*lddst + p] = src[p*ldsrc + c] + bias[c] (see _tile_unpack.h)."""
    if floating is float:
        ISA.unpack_tile_f32(npix, nch, src, ldsrc, dst, lddst, bias)
    else:
        ISA.unpack_tile_f64(npix, nch, src, ldsrc, dst, lddst, bias)


cdef inline void _pad_plane_grid(const floating* src, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                                 floating* dst, Py_ssize_t GD, Py_ssize_t GH, Py_ssize_t GW,
                                 Py_ssize_t pd, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    """The D x H x W plane ``src`` placed at (pd, ph, pw) on the zero GD x GH x GW grid."""
    cdef Py_ssize_t d, h
    cdef size_t item = sizeof(floating)
    for d in range(GD):
        for h in range(GH):
            if d < pd or d >= pd + D or h < ph or h >= ph + H or W == 0:
                memset(dst + (d * GH + h) * GW, 0, GW * item)
            else:
                memset(dst + (d * GH + h) * GW, 0, pw * item)
                memcpy(dst + (d * GH + h) * GW + pw, src + ((d - pd) * H + h - ph) * W,
                       W * item)
                memset(dst + (d * GH + h) * GW + pw + W, 0, (GW - pw - W) * item)


cdef inline void _pad_item(const floating* raw_planes, Py_ssize_t planes, Py_ssize_t RD,
                           Py_ssize_t RH, Py_ssize_t RW, floating* buf, Py_ssize_t buf_len,
                           const Geom* g, Py_ssize_t pd, Py_ssize_t ph,
                           Py_ssize_t pw) noexcept nogil:
    """One work item's ``planes`` consecutive input planes (RD x RH x RW) onto the zero grid
    of ``g`` (D x H x W, leading padding pd/ph/pw) in ``buf``, and the slack after them (up
    to ``buf_len``) zeroed for the last tiles' reads."""
    cdef Py_ssize_t plane = g.D * g.H * g.W, ci
    for ci in range(planes):
        _pad_plane_grid(raw_planes + ci * RD * RH * RW, RD, RH, RW, buf + ci * plane, g.D,
                        g.H, g.W, pd, ph, pw)
    memset(buf + planes * plane, 0, (buf_len - planes * plane) * sizeof(floating))


cdef inline void _tap_of(Py_ssize_t tap, const Geom* g, Py_ssize_t* kd, Py_ssize_t* kh,
                         Py_ssize_t* kw) noexcept nogil:
    kd[0] = tap // (g.KH * g.KW)
    kh[0] = (tap // g.KW) % g.KH
    kw[0] = tap % g.KW


ctypedef struct PieceSpan:
    # what the positions p0 .. p0+count-1 of one image cover: depth rows od0..od1, and at
    # most output rows oh_lo..oh_hi and columns ow_lo..ow_hi
    Py_ssize_t od0, od1, oh_lo, oh_hi, ow_lo, ow_hi


cdef inline void _next_output_row(const Geom* g, Py_ssize_t seg, Py_ssize_t* q,
                                  Py_ssize_t* ow, Py_ssize_t* oh,
                                  Py_ssize_t* od) noexcept nogil:
    """A walk over flat output positions, one output row's segment at a time: past the
    segment of ``seg`` positions (q), to the start of the next output row (ow, oh, od)."""
    q[0] = q[0] + seg
    ow[0] = 0
    oh[0] = oh[0] + 1
    if oh[0] == g.OH:
        oh[0] = 0
        od[0] = od[0] + 1


cdef inline PieceSpan _piece_span(const Geom* g, Py_ssize_t p0, Py_ssize_t count) noexcept nogil:
    cdef PieceSpan s
    cdef Py_ssize_t p1 = p0 + count - 1
    cdef Py_ssize_t oh0 = p0 // g.OW % g.OH, oh1 = p1 // g.OW % g.OH
    cdef bint one_row
    s.od0 = p0 // (g.OH * g.OW)
    s.od1 = p1 // (g.OH * g.OW)
    s.oh_lo = oh0 if s.od0 == s.od1 else 0
    s.oh_hi = oh1 if s.od0 == s.od1 else g.OH - 1
    one_row = s.od0 == s.od1 and oh0 == oh1
    s.ow_lo = p0 % g.OW if one_row else 0
    s.ow_hi = p1 % g.OW if one_row else g.OW - 1
    return s


cdef inline bint _rows_inside(const Geom* g, const PieceSpan* s, Py_ssize_t kd,
                              Py_ssize_t kh) noexcept nogil:
    """Tap (kd, kh, any kw) reads inside the input along D and H at every position of the
    piece."""
    return (s.od0 * g.SD - g.PD + kd * g.DD >= 0 and s.od1 * g.SD - g.PD + kd * g.DD < g.D
            and s.oh_lo * g.SH - g.PH + kh * g.DH >= 0
            and s.oh_hi * g.SH - g.PH + kh * g.DH < g.H)


cdef inline bint _cols_inside(const Geom* g, const PieceSpan* s, Py_ssize_t kw) noexcept nogil:
    """... and along W for kernel column kw."""
    return (s.ow_lo * g.SW - g.PW + kw * g.DW >= 0
            and s.ow_hi * g.SW - g.PW + kw * g.DW < g.W)
