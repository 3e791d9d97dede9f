"""Winograd F(4x4, 3x3) convolution (``algorithm='winograd'``): which convolutions it
runs, the weight transform, the work split, and the executor of its forward plan.

The kernel (``_kernels/_winograd.pyx``) transforms the input tiles, multiplies per transform
element on the GEMM micro-kernel and transforms the products back; this module gives it the
transformed weights U = G w G^T in the micro-kernel's panels (computed in float64, rounded
once) and the blocking. grad_input of a 3x3 stride-1 convolution is itself one, so the
gradient plans run it there too (``_conv_backward``). The weight gradient's executors
(per-chunk partials or staged, ``_kernels/_winograd_weight.pyx``) are here as well; a dilated
convolution's is the sum of its output phases' undilated ones.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction

import numpy as np

from . import _conv_geometry as geo
from . import _conv_tuning as tuning
from . import _threads, _validate, _weight_cache
from ._kernels import _isa as _k_isa
from ._kernels import _layout as _k_layout
from ._kernels import _winograd as _k_winograd
from ._kernels import _winograd_weight as _k_winograd_weight

TILE = 4  # output pixels per tile side
KERNEL = 3
# The finite interpolation points (infinity is the sixth): those of the kernel's transforms
# (_winograd.h). Lavin & Gray's 0, +-1, +-2 gave 2.7x the float32 error of these
# (benchmarks/README.md, "Winograd F(4x4, 3x3)").
POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-1, 2))


def toom_cook(points=POINTS, kernel_matrices=None, m=TILE, r=KERNEL):
    """(A^T, G, B^T) of F(m, r) on ``points`` and infinity: G[i, k] = a_i^k / prod_{l != i}
    (a_i - a_l) (infinity: the last row); B^T and A^T those the kernel's transforms compute
    (``kernel_matrices``, default the compiled ones), checked exactly: A^T[j, i] = a_i^j
    (infinity: the last column), and sum_i A^T[j, i] G[i, k] B^T[i, l] = [l == j + k] for
    every j, k, l."""
    alpha = m + r - 1
    bt_kernel, at_kernel = kernel_matrices or _k_winograd.transform_matrices()
    a_t = [[p ** j for p in points] + [Fraction(int(j == m - 1))] for j in range(m)]
    if any(Fraction(float(v)) != a for row, krow in zip(a_t, at_kernel) for a, v in zip(row, krow)):
        raise AssertionError("Winograd transform matrices are inconsistent (A^T)")
    g = []
    for p in points:
        scale = math.prod((p - q for q in points if q != p), start=Fraction(1))
        g.append([p ** k / scale for k in range(r)])
    g.append([Fraction(int(k == r - 1)) for k in range(r)])
    b = [[Fraction(float(v)) for v in row] for row in bt_kernel]
    for j in range(m):
        for k in range(r):
            for col in range(alpha):
                total = sum(a_t[j][i] * g[i][k] * b[i][col] for i in range(alpha))
                if total != (col == j + k):
                    raise AssertionError("Winograd transform matrices are inconsistent")
    return (np.array(a_t, dtype=float), np.array(g, dtype=float), np.array(b, dtype=float))


A_T, G, B_T = toom_cook()


def fits(p: _validate.ConvParams) -> bool:
    """The forward kernel runs ``p``: a 2-D 3x3 convolution with stride 1 (any padding,
    groups; a dilated one by phases of its output, :func:`phase_params`)."""
    return p.ndim == 2 and p.kernel_size == (3, 3) and p.stride == (1, 1)


def weight_grad_fits(p: _validate.ConvParams) -> bool:
    """The weight-gradient kernels run ``p``: as :func:`fits` (a dilated one as the sum of
    its output phases' undilated weight gradients, :func:`_weight_grad_by_phases`)."""
    return fits(p)


def phase_params(p: _validate.ConvParams) -> _validate.ConvParams:
    """A dilated ``p`` (:func:`fits`) as the kernel runs it: its largest output phase, an
    undilated convolution (geo.dilation_phases), with every phase's images as the batch -
    what the blocking and the auto rule size; ``p`` itself at dilation 1."""
    if p.dilation == (1, 1):
        return p
    phases = geo.dilation_phases(p)
    ph, pw, hp, wp = (int(v) for v in phases[0, 2:6])
    ohp, owp = (int(v) for v in phases[0, 8:10])
    return dataclasses.replace(
        p, batch=p.batch * len(phases), input_shape=(hp, wp),
        padding=((ph, ohp + KERNEL - 1 - hp - ph), (pw, owp + KERNEL - 1 - wp - pw)),
        dilation=(1, 1), output_shape=(ohp, owp))


def transformed_weights(weight: np.ndarray, mr: int, n_threads: int,
                        source: np.ndarray | None = None) -> np.ndarray:
    """U[g, e] = (G w G^T)[e] (e = 6*xi + nu) of (groups, C_out/groups, C_in/groups, 3, 3)
    ``weight`` (any strides), as (groups, panels of ``mr`` output channels, 36,
    C_in/groups, mr), flat; computed in double, rounded once.

    ``source``: the C-contiguous array ``weight`` is a view of; with it the result is kept
    (``_weight_cache.KEPT``) and returned again while a later call's source has the same
    bits, so repeated calls with unchanged weights (inference) skip the transform."""
    key = None
    if source is not None:
        key = ("winograd", source.shape, source.dtype.str, weight.shape, weight.strides,
               weight.__array_interface__["data"][0] - source.__array_interface__["data"][0],
               mr)
        kept = _weight_cache.KEPT.get(key, source)
        if kept is not None:
            return kept
    groups, cog, cig = weight.shape[:3]
    panels = geo.ceil_div(cog, mr)
    u = np.empty(groups * 36 * panels * cig * mr, dtype=weight.dtype)
    _k_winograd.transform_weights(weight, G, u, mr, n_threads)
    if key is not None:
        _weight_cache.KEPT.put(key, source, u)
    return u




@functools.lru_cache(maxsize=256)
def blocking(p: _validate.ConvParams, n_threads: int) -> tuple:
    """(tile rows per work item, tiles per item rounded up to the GEMM width, blocks of the
    output channels per item, scratch elements per thread): the split with the least
    padding of the GEMMs and the best balance over the threads whose scratch fits
    WINOGRAD_SCRATCH_BYTES (or whose tiles fit one GEMM panel), the most rows among equals;
    output-channel blocks (each repeating its tiles' input transform) only when there are
    fewer blocks of tiles than threads can share evenly. Tile rows are counted over the
    batch: small images share an item. (Every tile is transformed by the same vector code
    wherever it sits in its item, so the split does not change a bit of the result.)"""
    mr, nr = _k_isa.tile_shape(p.dtype == np.float32)
    oh, ow = p.output_shape
    tiles_h, tiles_w = geo.ceil_div(oh, TILE), geo.ceil_div(ow, TILE)
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    per_tile = 36 * (cig + geo.round_up(cog, mr))
    total = p.batch * tiles_h
    panels = geo.ceil_div(cog, mr)
    best, best_score = None, -1.0
    for rows in range(1, total + 1):
        tbs = geo.round_up(rows * tiles_w, nr)
        scratch = per_tile * tbs + _k_winograd.transform_scratch(rows, tiles_w)
        if tbs > nr and scratch * p.dtype.itemsize > tuning.WINOGRAD_SCRATCH_BYTES:
            break
        for split in (1, 2, 4):
            if split > panels or (split > 1 and p.groups * geo.ceil_div(total, rows)
                                  >= 4 * n_threads):
                break
            items = p.groups * geo.ceil_div(total, rows) * split
            balance = items / (n_threads * geo.ceil_div(items, n_threads))
            # a GEMM's padding tiles, the rows past the batch in the last block, and the
            # repeated input transforms (about a tenth of an item's time each)
            score = (balance * rows * tiles_w / tbs * total / (rows * geo.ceil_div(total, rows))
                     / (1 + 0.1 * (split - 1)))
            if score >= best_score - 1e-9:
                best, best_score = (rows, tbs, split, scratch), score
    return best


def grouped_weight(p: _validate.ConvParams, weight: np.ndarray) -> np.ndarray:
    """The (C_out, C_in/groups, [1,] 3, 3) C-contiguous weight as a (groups, C_out/groups,
    C_in/groups, 3, 3) view."""
    return weight.reshape((p.groups, p.out_channels // p.groups, p.in_channels // p.groups,
                           3, 3))


def forward(p: _validate.ConvParams, n_threads: int, x5, w5, b, has_bias: bool,
            y: np.ndarray, weight_groups: np.ndarray | None = None,
            source: np.ndarray | None = None) -> None:
    """y = conv(x, w) (+ b) for ``p`` (:func:`fits`), w5 a C-contiguous (C_out, C_in/groups,
    [1,] 3, 3) weight, or ``weight_groups`` any (groups, C_out/groups, C_in/groups, 3, 3)
    view of one (read where it lies: the swapped, flipped kernel of a gradient) of the
    C-contiguous ``source`` (the transformed weights are kept per source:
    :func:`transformed_weights`); x5 (5-D) and y (N, C_out, OH, OW) each C-contiguous or in
    channels-last memory (read and written where they lie)."""
    mr = _k_isa.tile_shape(p.dtype == np.float32)[0]
    rows, tbs, split, scratch = blocking(phase_params(p), n_threads)
    kc = min(p.in_channels // p.groups, tuning.KC)
    if weight_groups is None:
        weight_groups, source = grouped_weight(p, w5), w5
    u = transformed_weights(weight_groups, mr, n_threads, source)
    work = np.empty((n_threads, scratch), dtype=p.dtype)
    offsets = np.arange(max(kc, 1), dtype=np.intp) * tbs
    x = x5.reshape(x5.shape[:2] + x5.shape[3:])
    x_last, y_last = not x.flags.c_contiguous, not y.flags.c_contiguous
    _k_winograd.winograd_forward(_flat(x, x_last), x.shape, x_last, u, _flat(y, y_last),
                                 y.shape, y_last, b, has_bias, p.groups, *p.dilation,
                                 geo.dilation_phases(p), rows, tbs, split, offsets, work,
                                 tuning.KC, n_threads)


def _flat(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """The memory of ``a`` (N, C, H, W) as a flat view: NCHW, or channels-last (N, H, W, C)."""
    return (np.moveaxis(a, 1, -1) if channels_last else a).reshape(-1)


def _weight_grad_tile(p: _validate.ConvParams) -> tuple:
    """(narrow, OB, NP, C_in/groups rounded up to NP, C_out/groups rounded up to OB): the
    channel-lane tile of the weight gradient's GEMMs, the variant that wastes fewer input
    channels."""
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    single = p.dtype == np.float32
    wide, narrow_tile = _k_isa.direct_tile_shape(single, False), _k_isa.direct_tile_shape(single, True)
    narrow = cig / geo.round_up(cig, narrow_tile[1]) > cig / geo.round_up(cig, wide[1])
    ob, npx = narrow_tile if narrow else wide
    return narrow, ob, npx, geo.round_up(cig, npx), geo.round_up(cog, ob)


def partials_pay(p: _validate.ConvParams) -> bool:
    """Per-chunk partials of the transformed gradient (each item adding its tiles into its
    chunk's whole du) while one du fits WINOGRAD_PARTIALS_MAX_BYTES; past it each item
    streams du through memory and the staged path wins (benchmarks/README.md, "Winograd
    F(4x4, 3x3)")."""
    _, _, _, cigp, cogp = _weight_grad_tile(p)
    return 36 * p.groups * cigp * cogp * p.dtype.itemsize <= tuning.WINOGRAD_PARTIALS_MAX_BYTES


def weight_grad_staged(p: _validate.ConvParams, n_threads: int, gy: np.ndarray, x5,
                       gw, gb=None) -> bool:
    """gw (C_out, C_in/groups, 3, 3, C-contiguous) = the weight gradient of ``p``
    (:func:`fits`) for grad_output ``gy`` (N, C_out, OH, OW) and the input x5 (5-D view):
    G^T [sum over the tiles of (A g A^T) . (B^T d B)] G. Each segment of tile rows (fixed
    by the shapes, its transforms fitting WINOGRAD_STAGE_BYTES) transformed once, then one
    GEMM per transform element and panel of output channels over the segment's tiles, the
    segments added in order. With ``gb``, the first stage also sums each grad_output plane
    into the bias gradient (the bits of the separate pass); returns whether it did."""
    if p.dilation != (1, 1):
        return _weight_grad_by_phases(weight_grad_staged, p, n_threads, gy, x5, gw)
    narrow, _, npx, cigp, cogp = _weight_grad_tile(p)
    tiles_h = geo.ceil_div(p.output_shape[0], TILE)
    tiles_w = geo.ceil_div(p.output_shape[1], TILE)
    total_rows = p.batch * tiles_h
    per_row = 36 * p.groups * (cigp + cogp) * tiles_w * p.dtype.itemsize
    segment_rows = max(1, min(total_rows, tuning.WINOGRAD_STAGE_BYTES // per_row))
    # transform blocks: a few per thread (the split changes no bit: every tile takes the
    # same vector code wherever it sits in its block)
    rows = max(1, geo.ceil_div(segment_rows, 4 * n_threads))
    work = np.empty((n_threads, _k_winograd.transform_scratch(rows, tiles_w)), dtype=p.dtype)
    x = x5.reshape(x5.shape[:2] + x5.shape[3:])
    # float32 GEMMs over more tiles than WINOGRAD_PARTIAL_TILES: chunks added in double
    chunk_tiles = tuning.WINOGRAD_PARTIAL_TILES if p.dtype == np.float32 else 0
    # the stage and du (tens of MB) in this thread's kept buffers: fresh, their page faults
    # cost res3x3's gradient 4.3 -> 6.6 ms
    with _threads.scratch(per_row // p.dtype.itemsize * segment_rows, p.dtype,
                          slot="winograd_stage") as stage, \
            _threads.scratch(p.groups * 36 * cigp * cogp, p.dtype, slot="winograd_du") as du:
        with geo.bias_terms(p, gb) as plane_sums:
            _k_winograd_weight.winograd_weight_grad_staged(
                x, _validate.for_kernel(gy), du, p.groups, p.padding[0][0], p.padding[1][0],
                rows, segment_rows, narrow,
                np.arange(segment_rows * tiles_w, dtype=np.intp) * npx, stage, work,
                plane_sums, gb is not None, chunk_tiles, n_threads)
        _k_winograd_weight.weight_grad_from_transformed(du, G, gw, p.groups, narrow, True,
                                                 n_threads)
    return gb is not None


def weight_grad_partials(p: _validate.ConvParams, n_threads: int, gy: np.ndarray, x5,
                         gw, gb=None) -> bool:
    """As :func:`weight_grad_staged`, the tiles' products summed on the micro-kernel in
    chunks of work items fixed by the shapes (not the threads), the chunks in order."""
    if p.dilation != (1, 1):
        return _weight_grad_by_phases(weight_grad_partials, p, n_threads, gy, x5, gw)
    # the blocks set the order of the sums over the tiles: split as for a fixed thread count
    rows, tbs = blocking(p, tuning.COL2IM_BALANCE_THREADS)[:2]
    narrow, _, _, cigp, cogp = _weight_grad_tile(p)
    tiles_w = geo.ceil_div(p.output_shape[1], TILE)
    items = p.groups * geo.ceil_div(p.batch * geo.ceil_div(p.output_shape[0], TILE), rows)
    partial = p.groups * 36 * cigp * cogp
    chunks = geo.weight_chunks(items, tuning.MAX_WEIGHT_CHUNKS // 2, partial * p.dtype.itemsize)
    scratch = 36 * (cigp + cogp) * tbs + _k_winograd.transform_scratch(rows, tiles_w)
    x = x5.reshape(x5.shape[:2] + x5.shape[3:])
    # the partials and the work rows in this thread's kept buffers (no page faults per call)
    with _threads.scratch(n_threads * scratch, p.dtype, slot="winograd_work") as work, \
            _threads.scratch(chunks * partial, p.dtype, slot="winograd_du") as partials:
        partials = partials.reshape(chunks, partial)
        with geo.bias_terms(p, gb) as plane_sums:
            _k_winograd_weight.winograd_weight_grad(x, _validate.for_kernel(gy), partials,
                                                    p.groups, p.padding[0][0], p.padding[1][0],
                                                    rows, tbs, narrow,
                                                    np.arange(tbs, dtype=np.intp),
                                                    work.reshape(n_threads, scratch),
                                                    plane_sums, gb is not None, n_threads)
        du = np.add.reduce(partials, axis=0)  # in chunk order
    _k_winograd_weight.weight_grad_from_transformed(du, G, gw, p.groups, narrow, False, n_threads)
    return gb is not None


def _weight_grad_by_phases(run, p, n_threads, gy, x5, gw) -> bool:
    """A dilated convolution's weight gradient: the sum of its output phases' (each the
    undilated 3x3 convolution of an input phase, geo.dilation_phases). The phases of one
    geometry are gathered into one batch, phase after phase, and run by ``run`` (partials
    or staged); the geometries' gradients are added in order. Returns False: the bias
    gradient is left to the separate pass (summed here it would be by phases, other bits)."""
    dh, dw = p.dilation
    geometries = {}  # geometry -> the phases' starts, in the table's order
    for row in geo.dilation_phases(p):
        h0, w0, ph, pw, hp, wp, oh0, ow0, ohp, owp = (int(v) for v in row)
        if hp and wp:  # an input phase without a pixel adds nothing
            geometries.setdefault((ph, pw, hp, wp, ohp, owp), []).append((h0, w0, oh0, ow0))
    gy5 = gy.reshape((p.batch, p.out_channels, 1) + p.output_shape)
    gw[...] = 0
    target = None
    for (ph, pw, hp, wp, ohp, owp), starts in geometries.items():
        count = len(starts)
        x_shape = (count, p.batch, p.in_channels, 1, hp, wp)
        gy_shape = (count, p.batch, p.out_channels, 1, ohp, owp)
        # the gathered phases in this thread's kept buffers (no page faults per call)
        with _threads.scratch(math.prod(x_shape), p.dtype, slot="winograd_phase_x") as xb, \
                _threads.scratch(math.prod(gy_shape), p.dtype, slot="winograd_phase_gy") as gyb:
            xb, gyb = xb.reshape(x_shape), gyb.reshape(gy_shape)
            for i, (h0, w0, oh0, ow0) in enumerate(starts):
                _k_layout.gather_phase(x5, xb[i], 0, h0, w0, 1, dh, dw, n_threads)
                _k_layout.gather_phase(gy5, gyb[i], 0, oh0, ow0, 1, dh, dw, n_threads)
            phase = dataclasses.replace(
                p, batch=count * p.batch, input_shape=(hp, wp),
                padding=((ph, ohp + KERNEL - 1 - hp - ph), (pw, owp + KERNEL - 1 - wp - pw)),
                dilation=(1, 1), output_shape=(ohp, owp))
            target = gw if target is None else np.empty_like(gw)
            run(phase, n_threads, gyb.reshape((count * p.batch, p.out_channels, ohp, owp)),
                xb.reshape((count * p.batch, p.in_channels, 1, hp, wp)), target)
        if target is not gw:
            gw += target
    return False
