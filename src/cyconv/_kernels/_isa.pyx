"""The one owner of the micro-kernel ISA: CPU probe, the level in use, the descriptor table.

Every ISA-specific micro-kernel is compiled here, once (_isa_table.h); the kernel modules
read the descriptor of the level in use through the pointer ``isa_descriptor()`` gives them
at import (_isa.pxd). ``CYCONV_ISA=0|1|2`` in the environment at import, or
:func:`select_isa` later, choose the level for all of them at once.
"""
import os

cdef extern from "_isa_table.h" nogil:
    IsaDesc cyconv_isa_current
    int cyconv_select_isa(int isa)
    int cyconv_cpu_isa()


ISA_NAMES = ("generic", "avx2", "avx512")


cdef const IsaDesc* isa_descriptor() noexcept nogil:
    """The descriptor of the level in use (its contents change with select_isa, its address
    never does)."""
    return &cyconv_isa_current


def select_isa(int isa=-1):
    """Use the micro-kernels of ``isa`` (0 generic, 1 AVX2, 2 AVX-512; -1 = best available)
    in every kernel module.

    A request above what the CPU supports falls back to the best supported. Returns the ISA
    now in use. Not thread-safe against running kernels (for tests and A/B timing).
    """
    return cyconv_select_isa(isa)


def cpu_isa():
    """The best micro-kernel ISA this CPU supports (0 generic, 1 AVX2, 2 AVX-512)."""
    return cyconv_cpu_isa()


def current_isa():
    """The ISA level the kernels use now."""
    return cyconv_isa_current.level


def tile_shape(bint single):
    """(MR, NR) of the GEMM micro-kernel in use for float32 (single) or float64."""
    if single:
        return cyconv_isa_current.mr_f32, cyconv_isa_current.nr_f32
    return cyconv_isa_current.mr_f64, cyconv_isa_current.nr_f64


def direct_tile_shape(bint single, bint narrow=False):
    """(output channels, row pixels) of the direct micro-kernel, float32 (single) or float64;
    ``narrow`` for the variant made for rows of multiples of 8 pixels."""
    cdef const IsaDesc* d = &cyconv_isa_current
    if narrow:
        return (d.obn_f32, d.npn_f32) if single else (d.obn_f64, d.npn_f64)
    return (d.ob_f32, d.np_f32) if single else (d.ob_f64, d.np_f64)


def short_tile_pixels():
    """Pixels of the short channel-lane row tile that ends a wide row exactly (one less than
    the wide tile's), 0 where the level has none (see _core._short_tiles)."""
    return cyconv_isa_current.nps


def pixel_rows_available():
    """Whether the pixel-lane row kernels (_ukr_pixel_rows.h) run at this level and build."""
    return cyconv_isa_current.ukr_pixrows_f32 != NULL


def pixel_rows_tile(bint single):
    """(output channels, pixels, pixels per vector) of one pixel-lane row kernel call (a
    row's last tile may be shorter, by whole vectors)."""
    cdef const IsaDesc* d = &cyconv_isa_current
    lanes = d.pixrows_lanes_f32 if single else d.pixrows_lanes_f64
    return d.pixrows_channels, d.pixrows_vectors * lanes, lanes


def rowpairs_available():
    """Whether the 8-pixel-row kernel (_ukr_rowpairs.h) runs at this level and build."""
    return cyconv_isa_current.ukr_rowpairs_f32 != NULL


def rowpairs_panel():
    """Output channels per weight panel of the 8-pixel-row kernel (_ukr_rowpairs.h)."""
    return cyconv_isa_current.rowpairs_mr


# the level at import: CYCONV_ISA, else the best the CPU supports
cyconv_select_isa(int(os.environ.get("CYCONV_ISA", "-1")))
