"""Geometry of a convolution as the kernels see it: every dimensionality lifted to three
spatial dims (leading dims of 1-D/2-D are trivial), the kernels' geometry struct, the padded
grid the implicit kernels index, and the packing and blocking of their operands.
"""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np

from . import _conv_tuning as tuning
from . import _validate
from ._kernels import _direct as _k_direct
from ._kernels import _layout as _k_layout


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_up(a: int, b: int) -> int:
    return ceil_div(a, b) * b


def to5d(a: np.ndarray, ndim: int) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, D, H, W) view with singleton leading spatial dims."""
    return a.reshape(a.shape[:2] + (1,) * (3 - ndim) + a.shape[2:])


def lift(values: tuple, ndim: int, fill) -> tuple:
    """Per-dim ``values`` of an ``ndim``-D convolution as three dims (``fill`` in front)."""
    return (fill,) * (3 - ndim) + tuple(values)


def geometry(size, kernel, stride, pads, dilation, out) -> dict:
    """The kernels' geometry struct (``Geom``) from 3-dim tuples: input size, kernel,
    stride, leading padding, dilation, output size."""
    names = {"": size, "K": kernel, "S": stride, "P": pads, "D": dilation, "O": out}
    return {prefix + axis: int(v[i]) for prefix, v in names.items()
            for i, axis in enumerate("DHW")}


def conv_geometry(p: _validate.ConvParams) -> dict:
    """Geometry struct of the convolution ``p`` on its unpadded input."""
    n = p.ndim
    return geometry(lift(p.input_shape, n, 1), lift(p.kernel_size, n, 1), lift(p.stride, n, 1),
                    lift((lo for lo, _ in p.padding), n, 0), lift(p.dilation, n, 1),
                    lift(p.output_shape, n, 1))


@functools.lru_cache(maxsize=256)
def dilation_phases(p: _validate.ConvParams) -> np.ndarray:
    """A stride-1 2-D convolution as one undilated convolution per phase of its output:
    rows (h0, w0, ph, pw, Hp, Wp, oh0, ow0, OHp, OWp), y[..., oh0::dh, ow0::dw] (OHp x OWp)
    the convolution of x[..., h0::dh, w0::dw] (Hp x Wp) with leading padding (ph, pw) (per
    dim, output r + d*i reads input r - pad + d*(i + k) = first + d*(i + k - lead)). Phases
    without outputs are left out, the largest comes first (r = 0), an empty input phase
    starts at 0; dilation 1: one row, the whole convolution."""
    per_dim = []  # (read-only: the cached table is shared)
    for size, (lo, _), d, out in zip(p.input_shape, p.padding, p.dilation, p.output_shape):
        rows = []
        for r in range(min(d, out)):
            first = (r - lo) % d
            count = ceil_div(size - first, d) if first < size else 0
            rows.append((first if count else 0, (first - (r - lo)) // d, count, r,
                         ceil_div(out - r, d)))
        per_dim.append(rows)
    table = np.array([(h[0], w[0], h[1], w[1], h[2], w[2], h[3], w[3], h[4], w[4])
                      for h in per_dim[0] for w in per_dim[1]], dtype=np.intp).reshape(-1, 10)
    table.flags.writeable = False
    return table


def transposed_geometry(p: _validate.ConvParams) -> dict:
    """Geometry of grad_input as a stride-1 forward convolution of grad_output (the kernel
    flipped, padded by dilation*(k-1) - padding); ``p`` has stride 1."""
    n = p.ndim
    pads = (d * (k - 1) - lo for (lo, _), d, k in zip(p.padding, p.dilation, p.kernel_size))
    return geometry(lift(p.output_shape, n, 1), lift(p.kernel_size, n, 1), (1, 1, 1),
                    lift(pads, n, 0), lift(p.dilation, n, 1), lift(p.input_shape, n, 1))


@dataclass(frozen=True)
class PaddedGrid:
    """A convolution lifted to 3 spatial dims on the zero-padded input grid, where every tap
    of an output position is a fixed flat offset away (the implicit/direct kernels' view)."""

    pads: tuple
    size: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    out: tuple
    grid: tuple

    @classmethod
    def of(cls, p: _validate.ConvParams) -> "PaddedGrid":
        n = p.ndim
        pads = lift(p.padding, n, (0, 0))
        size = lift(p.input_shape, n, 1)
        return cls(pads, size, lift(p.kernel_size, n, 1), lift(p.stride, n, 1),
                   lift(p.dilation, n, 1), lift(p.output_shape, n, 1),
                   tuple(s + lo + hi for s, (lo, hi) in zip(size, pads)))

    @property
    def plane(self) -> int:
        return math.prod(self.grid)

    @property
    def leading_pads(self) -> tuple:
        return tuple(lo for lo, _ in self.pads)

    def shifts(self) -> np.ndarray:
        """Flat offset of every tap (row-major over kd, kh, kw) on the grid."""
        k, d, g = self.kernel, self.dilation, self.grid
        return ((np.arange(k[0])[:, None, None] * d[0] * g[1]
                 + np.arange(k[1])[None, :, None] * d[1]) * g[2]
                + np.arange(k[2])[None, None, :] * d[2]).ravel().astype(np.intp)

    def last_position(self) -> int:
        """Flat grid position of the last output, + 1: the GEMM-shaped kernels' extent."""
        out, grid = self.out, self.grid
        return ((out[0] - 1) * grid[1] + out[1] - 1) * grid[2] + out[2]

    def output_runs(self) -> tuple:
        """(count, stride, length) of the runs of grid positions up to the last output that
        hold outputs: each output plane's rows (the rows between the planes have none)."""
        return (self.out[0], self.grid[1] * self.grid[2], self.out[1] * self.grid[2])

    def padded_input(self, x5: np.ndarray, slack: int, n_threads: int, flat=None) -> np.ndarray:
        """x zero-padded onto the grid, flat, with ``slack`` zeros after the last image (into
        ``flat``, of exactly that size, when given). Copied in C, planes split over the
        threads (benchmarks/README.md: "padded copy in C")."""
        n, c = x5.shape[:2]
        used = n * c * self.plane
        if flat is None:
            flat = np.empty(used + slack, dtype=x5.dtype)
        flat[used:] = 0
        _k_layout.pad_planes(np.ascontiguousarray(x5).reshape((n * c,) + self.size), flat,
                      *self.grid, *self.leading_pads, n_threads)
        return flat


@functools.lru_cache(maxsize=256)
def padded_layout(p: _validate.ConvParams):
    """(padded grid, tap shifts, per-(channel, tap) offsets, kernel geometry on the grid) of
    the implicit kernels: pure functions of the configuration, kept for repeated calls. The
    arrays are read-only."""
    pg = PaddedGrid.of(p)
    shifts = pg.shifts()
    offsets = (np.arange(p.in_channels // p.groups)[:, None] * pg.plane
               + shifts[None, :]).ravel().astype(np.intp)
    shifts.flags.writeable = False
    offsets.flags.writeable = False
    geom = geometry(pg.grid, pg.kernel, pg.stride, (0, 0, 0), pg.dilation, pg.out)
    return pg, shifts, offsets, geom


def unpadded_edge_share(p: _validate.ConvParams, npx: int):
    """Share of a row's ``npx``-pixel tiles that reach past its ends when the row tiles read
    an input padded along the width alone in place, or None when the input is padded along
    depth or height (then it cannot be read in place)."""
    pg = PaddedGrid.of(p)
    if any(lo or hi for lo, hi in pg.pads[:2]):
        return None
    first = np.arange(ceil_div(pg.out[2], npx)) * npx * pg.stride[2] - pg.pads[2][0]
    lb = (npx - 1) * pg.stride[2] + (pg.kernel[2] - 1) * pg.dilation[2] + 1
    return np.count_nonzero((first < 0) | (first + lb > pg.size[2])) / first.size


@functools.lru_cache(maxsize=256)
def unpadded_row_layout(p: _validate.ConvParams, npx: int):
    """(tap offsets, edge-tile offsets, geometry, edge row length) with which the
    channel-lane row tiles read the unpadded input itself (padded along the width alone).
    The offsets include the leading width padding; an edge tile reads ``C/groups * KD * KH``
    rows of the returned length instead (``_rows._fill_edge_tile``)."""
    pg = PaddedGrid.of(p)
    (RD, RH, RW), (KD, KH, KW) = pg.size, pg.kernel
    (DD, DH, DW), SW = pg.dilation, pg.stride[2]
    pw = pg.pads[2][0]
    lb = (npx - 1) * SW + (KW - 1) * DW + 1
    cig = p.in_channels // p.groups
    ci = np.arange(cig)[:, None, None, None]
    kd = np.arange(KD)[None, :, None, None]
    kh = np.arange(KH)[None, None, :, None]
    kw = np.arange(KW)[None, None, None, :] * DW
    offsets = (ci * (RD * RH * RW) + (kd * DD * RH + kh * DH) * RW + kw - pw).ravel()
    edge_offsets = (((ci * KD + kd) * KH + kh) * lb + kw).ravel()
    geom = dict(padded_layout(p)[3], D=RD, H=RH, W=RW)
    offsets, edge_offsets = offsets.astype(np.intp), edge_offsets.astype(np.intp)
    offsets.flags.writeable = edge_offsets.flags.writeable = False
    return offsets, edge_offsets, geom, lb


def pack_panels(mat3: np.ndarray, mr: int) -> np.ndarray:
    """(G, rows, K) -> flat (G, ceil(rows/mr), K, mr): row panels as the micro-kernel reads them."""
    G, rows, K = mat3.shape
    full, rest = divmod(rows, mr)
    out = np.empty((G, full + (rest > 0), K, mr), dtype=mat3.dtype)
    panels = out.transpose(0, 1, 3, 2)  # (G, panels, mr, K) view
    panels[:, :full] = mat3[:, :full * mr].reshape(G, full, mr, K)
    if rest:
        panels[:, full, :rest] = mat3[:, full * mr:]
        panels[:, full, rest:] = 0
    return out.ravel()


def pixel_block(nr: int, row_bytes: int, P: int, items_per_block: int, n_threads: int,
                room: int = None) -> int:
    """Output pixels per work item: a multiple of NR whose ``row_bytes``-per-pixel working
    set fits ``room`` (default: L2_TARGET_BYTES), and whose item count splits evenly enough
    over the threads (static scheduling: the busiest thread sets the time)."""
    room = tuning.L2_TARGET_BYTES if room is None else room
    largest = max(1, min(8, room // max(row_bytes * nr, 1)))
    panels_total = ceil_div(P, nr)
    best, best_balance = largest, 0.0
    for panels in range(largest, 0, -1):
        items = items_per_block * ceil_div(panels_total, panels)
        if items == 0:  # no images or no pixels: nothing to balance
            return largest * nr
        balance = items / (n_threads * ceil_div(items, n_threads))
        if balance >= 0.9:
            return panels * nr
        if balance > best_balance:
            best, best_balance = panels, balance
    return best * nr


def weight_grad_blocking(panels: int, blocks: int, taps: int, groups: int, tile_bytes: int,
                         input_elements: int, grad_output_elements: int, itemsize: int,
                         n_threads: int) -> tuple[int, int, int]:
    """(panel_block, channel_blocks, tap_block) of the padded weight gradient's work items:
    how many of a group's ``panels`` panels of output channels, ``blocks`` blocks of input
    channels and ``taps`` taps one item reduces.

    An item streams its input channels once for all its panels and its grad_output panels
    once for all its channel blocks, so the input is read once per panel group and
    grad_output once per channel-block group. Among the blockings whose tiles
    (``tile_bytes`` each, panels x blocks x taps of them) fit WEIGHT_GRAD_TILE_BYTES and
    that leave at least two items per thread, the one with the least of that traffic
    (``input_elements`` and ``grad_output_elements`` per group) - but one panel per item
    (grad_output's chunk used by every block and tap from L1) unless the input does not
    fit L3 (re-read from memory per panel) and several panels cut the traffic
    WEIGHT_GRAD_PANELS_MIN_CUT-fold. Without such a blocking: one panel and one block per
    item, then fewer taps, until two items per thread. Any blocking gives the same result
    bits."""
    def halvings(n):
        out = [n]
        while n > 1:
            n = ceil_div(n, 2)
            out.append(n)
        return out

    best = {}  # one panel per item / several: (traffic, panel_block, channel_blocks)
    for pb in sorted(set(halvings(panels))):
        for cb in sorted(set(halvings(blocks)), reverse=True):
            fits = pb * cb * taps * tile_bytes <= tuning.WEIGHT_GRAD_TILE_BYTES
            items = groups * ceil_div(panels, pb) * ceil_div(blocks, cb)
            if (fits or pb == cb == 1) and items >= 2 * n_threads:
                traffic = (input_elements * ceil_div(panels, pb)
                           + grad_output_elements * ceil_div(blocks, cb))
                several = pb > 1
                if several not in best or traffic < best[several][0]:
                    best[several] = (traffic, pb, cb)
    from_memory = input_elements * itemsize > tuning.L3_CACHE_BYTES
    if from_memory and True in best and (
            False not in best or best[True][0] * tuning.WEIGHT_GRAD_PANELS_MIN_CUT <= best[False][0]):
        return best[True][1], best[True][2], taps
    if False in best:
        return best[False][1], best[False][2], taps
    tap_block = taps
    while tap_block > 1 and groups * panels * blocks * ceil_div(taps, tap_block) < 2 * n_threads:
        tap_block = ceil_div(tap_block, 2)
    return 1, 1, tap_block


def row_tiles_width(width: int, npx: int, short: int) -> int:
    """Pixels the wide row tiles compute for a row of ``width``: ceil(width / npx) tiles, the
    last ones ``short`` = npx - 1 pixels where the level has them (0: none), as many as
    cover the row with the least waste (the kernels' _core._short_tiles)."""
    tiles = ceil_div(width, npx)
    if short <= 0 or short != npx - 1:
        return tiles * npx
    return tiles * npx - min(tiles, tiles * npx - width)


def weight_chunks(pieces: int, most: int, chunk_bytes: int) -> int:
    """How many partial weight gradients (each ``chunk_bytes``, summed in order afterwards)
    a reduction over ``pieces`` work pieces is split into: a power of two, at most ``most``
    and as many as fit PARTIAL_BYTES, but not fewer than MIN_WEIGHT_CHUNKS (nor than the
    pieces allow); powers of two split the pieces evenly over 2 or 4 threads (6 chunks of
    32 pieces gave one thread 18, and ran as slowly as 16). Shapes and constants alone set
    it, never the thread count (bitwise-equal results)."""
    fit = tuning.PARTIAL_BYTES // max(chunk_bytes, 1)
    chunks = max(1, min(pieces, most, max(tuning.MIN_WEIGHT_CHUNKS, fit)))
    return 1 << (chunks.bit_length() - 1)


def useful_share(channels: int, pixels: int, tile: tuple) -> float:
    """Share of a (channels x pixels) tiling's computed outputs that are real."""
    ob, npx = tile
    return channels / round_up(channels, ob) * pixels / round_up(pixels, npx)


@contextlib.contextmanager
def bias_terms(p: _validate.ConvParams, gb):
    """The (N, C_out) double plane sums a weight-gradient pass takes of grad_output while it
    packs or transforms it (a (1, 1) dummy without ``gb``); on leaving, ``gb`` = their
    sums over the images in order (``_direct.bias_grad``'s bits)."""
    sums = np.empty((p.batch, p.out_channels) if gb is not None else (1, 1))
    yield sums
    if gb is not None:
        _k_direct.bias_grad_from_plane_sums(sums, gb)
