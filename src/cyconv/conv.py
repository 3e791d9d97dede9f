"""Public convolution ops: validate, normalize, pick an algorithm, allocate, call one kernel.

The kernels work on 5-D arrays (N, C, D, H, W); a 2-D convolution runs on a view with a
singleton depth, so one set of kernels serves every dimensionality.
"""
from __future__ import annotations

import functools
import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import _threads, _validate
from ._kernels import _conv as _k
from ._validate import ConvGrads

ALGORITHMS = ("auto", "direct", "im2col", "implicit")
# The implicit GEMM reads the zero-padded input in place; worth it while the padding columns
# it computes and drops stay a small share of the work.
IMPLICIT_MIN_USEFUL = 0.6
# The row-tiled direct kernel computes whole tiles of NP pixels per output row; below this
# share of real pixels the GEMM-shaped implicit kernel (no row tiling) is used instead.
ROW_TILE_MIN_USEFUL = 0.85
# For stride 1 the GEMM-shaped implicit kernel replaces a row tile only when it wastes
# clearly less (the row tiles' choices were measured; near-ties stay with them).
TILE_SWITCH_MIN_GAIN = 1.05
# Direct-kernel channel tiles (64 or 32 output channels) must be at least half real channels.
CHANNEL_TILE_MIN_USEFUL = 0.5
# Reduction depth (C_in/groups * taps) below which a micro-kernel call cannot amortize its
# tile's load and store; such convolutions stay on im2col (lenet1: 25 -> im2col 0.77-0.88 ms,
# implicit 0.84-0.93 ms, torch 0.83-0.87 ms).
IMPLICIT_MIN_DEPTH = 32
# ... except for kernels of 25+ taps (5x5 and up), whose lowering copies every input element
# 25+ times: one input channel, 5x5, depth 25, float32, implicit/im2col time (Zen 5, 1 and
# 2 threads, interleaved medians of 15): lenet1 64x1x28x28 -> 20: 0.76, 0.82; 64x1x32x32 ->
# 6: 0.44, 0.40; 8x1x56x56 -> 32: 0.84, 0.75; 16x1x64x64 -> 16: 0.68, 0.91. (3x3 kernels on
# 3 channels, depth 27, stay split: 1.19, 1.12 at 64 outputs, 0.71, 0.79 at 16.)
IMPLICIT_MIN_TAPS_SHALLOW = 25


def _to5d(a: np.ndarray, ndim: int) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, D, H, W) view with singleton leading spatial dims."""
    return a.reshape(a.shape[:2] + (1,) * (3 - ndim) + a.shape[2:])


def _geom(p: _validate.ConvParams) -> dict:
    """Kernel geometry in all three dims (leading dims of 1-D/2-D convs are trivial)."""
    lead = 3 - p.ndim
    pad = (0,) * lead + tuple(lo for lo, _ in p.padding)
    size = (1,) * lead + p.input_shape
    ker = (1,) * lead + p.kernel_size
    st = (1,) * lead + p.stride
    dil = (1,) * lead + p.dilation
    out = (1,) * lead + p.output_shape
    names = {"": size, "K": ker, "S": st, "P": pad, "D": dil, "O": out}
    return {prefix + axis if prefix else axis: v[i]
            for prefix, v in names.items() for i, axis in enumerate("DHW")}


def _check_algorithm(algorithm) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    return algorithm


def _implicit_useful_fraction(p: _validate.ConvParams) -> float:
    """Share of the implicit GEMM's positions that are real outputs (0 if not applicable)."""
    if any(st != 1 for st in p.stride):
        return 0.0
    padded = [i + lo + hi for i, (lo, hi) in zip(p.input_shape, p.padding)]
    span = 0  # flat index, on the padded grid, of the last output position
    for o, size in zip(p.output_shape, padded):
        span = span * size + (o - 1)
    return math.prod(p.output_shape) / (span + 1)


def _least_waste_variant(p: _validate.ConvParams, lanes: int, broadcasts: int,
                         broadcasts_min_useful: float):
    """(narrow, useful share) of the direct micro-kernel variant that wastes the least, or
    (None, 0.0) when none fills its tiles: ``lanes`` (output channels) split into tiles of
    its vector lanes, at least half real, and ``broadcasts`` (row pixels, or input channels
    for the weight gradient) into tiles of its broadcast count, at least
    ``broadcasts_min_useful`` real."""
    best, best_useful = None, 0.0
    for narrow in (False, True):
        ob, npx = _k.direct_tile_shape(p.dtype == np.float32, narrow)
        lanes_useful = lanes / (-(-lanes // ob) * ob)
        broadcasts_useful = broadcasts / (-(-broadcasts // npx) * npx)
        if lanes_useful >= CHANNEL_TILE_MIN_USEFUL \
                and broadcasts_useful >= broadcasts_min_useful \
                and lanes_useful * broadcasts_useful > best_useful:
            best, best_useful = narrow, lanes_useful * broadcasts_useful
    return best, best_useful


def _row_tile_variant(p: _validate.ConvParams):
    """The row-tiled direct kernel variant (narrow: bool) with the least wasted work, or None
    when neither fills its tiles well (rows split into pixel tiles with >= 85% real pixels,
    channel tiles at least half full) or, for stride 1, when the GEMM-shaped implicit kernel
    wastes clearly less (its MR-channel panels, the padded grid's dropped columns): with 16
    output channels a 32-lane row tile is half padding (single thread, 3x3, 64 -> 16
    channels, 8x56x56: rows 12.3 ms, GEMM-shaped 3.3 ms)."""
    cog = p.out_channels // p.groups
    best, best_useful = _least_waste_variant(p, cog, p.output_shape[-1], ROW_TILE_MIN_USEFUL)
    if best is not None and all(st == 1 for st in p.stride):
        mr = _k.tile_shape(p.dtype == np.float32)[0]
        gemm_useful = _implicit_useful_fraction(p) * cog / (-(-cog // mr) * mr)
        if gemm_useful > TILE_SWITCH_MIN_GAIN * best_useful:
            return None
    return best


def choose_algorithm(p: _validate.ConvParams) -> str:
    """The 'auto' rule, from measurements (benchmarks/README.md).

    direct when each group is tiny ((C_in/groups) * (C_out/groups) <= 4): the GEMM tiles would
    be mostly padding. implicit (no lowering) for kernels with more than one tap and a
    reduction depth (C_in/groups * taps) of at least 32 or at least 25 taps, when the
    output rows split evenly into the row-tiled direct kernel's pixel tiles (any stride), or,
    for stride 1, when at most 40% of the padded grid the GEMM-shaped implicit kernel computes
    is dropped; and for 1x1 kernels with stride 1 and no padding, which are a GEMM on NCHW
    as it is (the implicit kernel reads the input in place: res1x1 at 2 threads 200 ->
    297 GFLOP/s against im2col's copy). im2col + GEMM otherwise.
    """
    if (p.in_channels // p.groups) * (p.out_channels // p.groups) <= 4:
        return "direct"
    if _is_pointwise(p):
        return "implicit"
    taps = math.prod(p.kernel_size)
    deep = ((p.in_channels // p.groups) * taps >= IMPLICIT_MIN_DEPTH
            or taps >= IMPLICIT_MIN_TAPS_SHALLOW)
    if taps > 1 and deep and (
            _row_tile_variant(p) is not None
            or _implicit_useful_fraction(p) >= IMPLICIT_MIN_USEFUL):
        return "implicit"
    return "im2col"


# Winners of cyconv.tune for this process: configuration key -> algorithm.
_TUNED: dict = {}


def _config_key(p: _validate.ConvParams, n_threads: int) -> tuple:
    return (p.ndim, p.batch, p.in_channels, p.out_channels, p.groups, p.input_shape,
            p.kernel_size, p.stride, p.padding, p.dilation, p.dtype.str, n_threads)


def _auto(p: _validate.ConvParams, n_threads: int) -> str:
    return _TUNED.get(_config_key(p, n_threads)) or choose_algorithm(p)


def tune(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, num_threads=None,
         backward=True, repeats=3):
    """Time every algorithm on this configuration; later ``algorithm='auto'`` calls use the
    winner.

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups
        As for the convolution (1-D, 2-D or 3-D by ``x.ndim``). Only shapes and dtype matter.
    num_threads : int, optional
        The thread count to tune for (the winner is cached per thread count).
    backward : bool
        Time forward + backward (default) or the forward pass only.
    repeats : int
        Timed runs per algorithm; the median decides.

    Returns
    -------
    dict
        ``{algorithm: seconds}`` with the winner cached for the rest of the process.
    """
    import statistics
    import time
    ndim = np.ndim(x) - 2
    if not 1 <= ndim <= 3:
        raise ValueError(f"x must have a batch, a channel and 1-3 spatial dims, got shape {np.shape(x)}")
    backward = _validate.check_bool(backward, "backward")
    if not isinstance(repeats, numbers.Integral) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    p = _validate.conv_params(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, ndim=ndim)
    n_threads = _threads.resolve(num_threads)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
              num_threads=n_threads, ndim=ndim)
    gy = np.ones(p.output_array_shape, dtype=p.dtype)
    timings = {}
    for algorithm in ALGORITHMS[1:]:
        def run():
            _conv_forward(x, weight, bias, flip=False, algorithm=algorithm, out=None, **kw)
            if backward:
                _conv_backward(gy, x, weight, flip=False, need=("input", "weight", "bias"),
                               algorithm=algorithm, **kw)
        run()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        timings[algorithm] = statistics.median(times)
    _TUNED[_config_key(p, n_threads)] = min(timings, key=timings.get)
    return timings


def _prepare_weight(weight: np.ndarray, flip: bool, ndim: int) -> np.ndarray:
    if flip:
        weight = weight[(Ellipsis,) + (slice(None, None, -1),) * ndim]
    return _validate.for_kernel(weight)


def _check_out(out, shape: tuple, dtype, inputs) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out must have shape {shape} and dtype {dtype}, "
                         f"got shape {out.shape} and dtype {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable or not out.flags.aligned:
        raise ValueError("out must be a writeable, aligned, C-contiguous array")
    if any(a is not None and np.may_share_memory(out, a) for a in inputs):
        raise ValueError("out must not overlap the inputs")
    return out


# Cache-blocking targets: a work item's packed column block (forward) or gradient tile
# (backward) should stay in the 1 MiB L2 of current x86 cores with room to spare.
L2_TARGET_BYTES = 256 * 2**10
L2_BYTES = 512 * 2**10  # half of a 1 MiB L2: what one work item may keep hot
# Largest per-item padded input (one image's channel planes of a group) padded by the work
# item itself rather than in one whole copy beforehand.
PAD_PER_ITEM_BYTES = 512 * 2**10
KC = 256  # reduction depth per micro-kernel call: a packed K x NR panel slice fits L1/L2
GRAD_INPUT_FORWARD_MIN_CHANNELS = 32
# With 27+ taps (3x3x3 kernels) col2im scatters C_in/groups * taps rows per pixel block and
# loses to the forward convolution down to 4 input channels (single thread, grad_input, ms:
# 2x16x32^3 k3 -> 32 channels 48.6 vs 32.7; 4x16x16^3 15.6 vs 3.8; 2x8x32^3 14.1 vs 3.2;
# 2x4x32^3 3.5 vs 3.1).
GRAD_INPUT_FORWARD_MANY_TAPS = 27
GRAD_INPUT_FORWARD_MIN_CHANNELS_MANY_TAPS = 4
# Work items of col2im are balanced as if for this many threads (a multiple of common counts).
COL2IM_BALANCE_THREADS = 4
GRAD_INPUT_ROWS = 128  # rows of W^T (input channels x taps) per grad_input work item
WEIGHT_GRAD_BLOCK = 256  # output pixels per reduction step of the weight gradient
# Partial weight gradients (one per reduction chunk) are summed in chunk order; the chunk
# count depends on the shapes only, never on the thread count.
MAX_WEIGHT_CHUNKS = 16
PARTIAL_BYTES = 64 * 2**20


def _pack_panels(mat3: np.ndarray, mr: int) -> np.ndarray:
    """(G, rows, K) -> flat (G, ceil(rows/mr), K, mr): row panels as the micro-kernel reads them."""
    G, rows, K = mat3.shape
    pad = (-rows) % mr
    if pad:
        mat3 = np.concatenate([mat3, np.zeros((G, pad, K), dtype=mat3.dtype)], axis=1)
    return np.ascontiguousarray(mat3.reshape(G, -1, mr, K).transpose(0, 1, 3, 2)).ravel()


def _pixel_block(nr: int, row_bytes: int, P: int, items_per_block: int, n_threads: int,
                 room: int = None) -> int:
    """Output pixels per work item: a multiple of NR whose ``row_bytes``-per-pixel working
    set fits ``room`` (default: L2_TARGET_BYTES), and whose item count splits evenly enough
    over the threads (static scheduling: the busiest thread sets the time)."""
    room = L2_TARGET_BYTES if room is None else room
    largest = max(1, min(8, room // max(row_bytes * nr, 1)))
    panels_total = -(-P // nr)
    best, best_balance = largest, 0.0
    for panels in range(largest, 0, -1):
        items = items_per_block * -(-panels_total // panels)
        balance = items / (n_threads * -(-items // n_threads))
        if balance >= 0.9:
            return panels * nr
        if balance > best_balance:
            best, best_balance = panels, balance
    return best * nr


def _conv_forward(x, weight, bias, *, stride, padding, dilation, groups, flip, algorithm,
                  num_threads, out, ndim):
    p = _validate.conv_params(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, ndim=ndim)
    flip = _validate.check_bool(flip, "flip")
    algorithm = _check_algorithm(algorithm)
    n_threads = _threads.resolve(num_threads)
    shape = p.output_array_shape
    if out is None:
        y = np.empty(shape, dtype=p.dtype)
    else:
        y = _check_out(out, shape, p.dtype, (x, weight, bias))
    if p.batch == 0:
        return y
    x5 = _to5d(_validate.for_kernel(x), ndim)
    w5 = _to5d(_prepare_weight(weight, flip, ndim), ndim)
    has_bias = bias is not None
    b = _validate.for_kernel(bias) if has_bias else np.zeros(1, dtype=p.dtype)
    return _forward_kernels(p, x5, w5, b, has_bias, y, algorithm, n_threads)


def _forward_kernels(p, x5, w5, b, has_bias, y, algorithm, n_threads):
    """Run the forward convolution ``p`` (validated) on contiguous 5-D views into ``y``."""
    ndim = p.ndim
    g = _geom(p)
    if algorithm == "auto":
        algorithm = _auto(p, n_threads)
    if algorithm == "direct":
        work, _ = _depthwise_scratch(p, g, n_threads)
        _k.direct_forward(x5, w5, _to5d(y, ndim), b, has_bias, p.groups, g, work, n_threads)
        return y
    if algorithm == "implicit":
        _implicit_forward(p, x5, w5, b, has_bias, y.reshape(p.batch, p.out_channels, -1),
                          n_threads)
        return y
    _im2col_forward(p, x5, w5, b, has_bias, y.reshape(p.batch, p.out_channels, -1), g, n_threads)
    return y


def _depthwise_scratch(p, g, n_threads):
    """Per-thread scratch of the direct kernels' depthwise planes (padded input plane;
    double lanes of the weight gradient)."""
    elements, doubles = _k.depthwise_work(p.dtype == np.float32, g, p.in_channels // p.groups)
    return (np.empty((n_threads, elements), dtype=p.dtype),
            np.empty((n_threads, doubles), dtype=np.float64))


def _im2col_forward(p, x5, w5, b, has_bias, y3, g, n_threads):
    G = p.groups
    cog = p.out_channels // G
    kg = (p.in_channels // G) * math.prod(p.kernel_size)
    P = y3.shape[2]
    mr, nr = _k.tile_shape(p.dtype == np.float32)
    a = _pack_panels(w5.reshape(G, cog, kg), mr)
    kc = min(kg, KC)
    # L2 holds one KC-slice of the packed weights plus the matching slice of the column block.
    room = max(L2_BYTES - cog * kc * p.dtype.itemsize, L2_BYTES // 4)
    block = _pixel_block(nr, kc * p.dtype.itemsize, p.batch * P, G, n_threads, room)
    work = np.empty((n_threads, kc * block + block), dtype=p.dtype)
    # GEMM choice, measured on the vgg3x3 row (float32, 2 threads, Zen 4; see
    # benchmarks/README.md): im2col in prange + NumPy's matmul (OpenBLAS) per batch tile ran at
    # 51 GFLOP/s - OpenMP and OpenBLAS thread pools spin against each other on 2 cores (18 ms
    # -> 104 GFLOP/s only with OMP_WAIT_POLICY=passive, a process-wide setting we must not
    # impose). Our own packed micro-kernel (_gemm.h), run per thread on L2-sized pixel blocks
    # inside the same OpenMP region, reaches 155 GFLOP/s, needs no BLAS, and keeps results
    # independent of the thread count.
    _k.gemm_forward(x5, a, y3, b, has_bias, G, g, block, work, KC, n_threads)


@dataclass(frozen=True)
class _PaddedGrid:
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
    def of(cls, p: _validate.ConvParams) -> "_PaddedGrid":
        lead = 3 - p.ndim
        pads = ((0, 0),) * lead + p.padding
        size = (1,) * lead + p.input_shape
        return cls(pads, size, (1,) * lead + p.kernel_size, (1,) * lead + p.stride,
                   (1,) * lead + p.dilation, (1,) * lead + p.output_shape,
                   tuple(s + lo + hi for s, (lo, hi) in zip(size, pads)))

    @property
    def plane(self) -> int:
        return math.prod(self.grid)

    def shifts(self) -> np.ndarray:
        """Flat offset of every tap (row-major over kd, kh, kw) on the grid."""
        k, d, g = self.kernel, self.dilation, self.grid
        return ((np.arange(k[0])[:, None, None] * d[0] * g[1]
                 + np.arange(k[1])[None, :, None] * d[1]) * g[2]
                + np.arange(k[2])[None, None, :] * d[2]).ravel().astype(np.intp)

    def padded_input(self, x5: np.ndarray, slack: int, n_threads: int, flat=None) -> np.ndarray:
        """x zero-padded onto the grid, flat, with ``slack`` zeros after the last image (into
        ``flat``, of exactly that size, when given).

        Copied in C (row memcpy + memset of the borders: vgg3x3 forward at 2 threads
        1.16 -> 1.06 x torch's time vs NumPy's zeros + strided assignment), planes split over
        the threads: on the quiet Zen 5 machine, 2 threads, same process, median of 15,
        conv1d row 4.42 -> 4.00 ms and vgg3x3 4.96 -> 4.60 ms against one copying thread
        (when another process holds a core, a second OpenMP region can cost more than it
        saves: benchmarks/README.md "Zen 5")."""
        n, c = x5.shape[:2]
        used = n * c * self.plane
        if flat is None:
            flat = np.empty(used + slack, dtype=x5.dtype)
        flat[used:] = 0
        _k.pad_planes(np.ascontiguousarray(x5).reshape((n * c,) + self.size), flat,
                      *self.grid, *(lo for lo, _ in self.pads), n_threads)
        return flat


def _is_pointwise(p: _validate.ConvParams) -> bool:
    """A 1x1(x1) kernel, stride 1, no padding: the convolution is a GEMM on NCHW as it is."""
    return (all(k == 1 for k in p.kernel_size) and all(s == 1 for s in p.stride)
            and all(lo == 0 and hi == 0 for lo, hi in p.padding))


def _pointwise_forward(p, x5, w5, b, has_bias, y3, n_threads):
    G = p.groups
    cog = p.out_channels // G
    cig = p.in_channels // G
    P = y3.shape[2]
    mr, nr = _k.tile_shape(p.dtype == np.float32)
    a = _pack_panels(w5.reshape(G, cog, cig), mr)
    offsets = np.arange(cig, dtype=np.intp) * P
    block = _pixel_block(nr, min(cig, KC) * p.dtype.itemsize, P, p.batch * G, n_threads)
    work = np.empty((n_threads, (cig + mr) * nr), dtype=p.dtype)
    _k.pointwise_forward(x5.reshape(p.batch, p.in_channels, P), offsets, a, y3, b, has_bias,
                         G, block, work, KC, n_threads)


@functools.lru_cache(maxsize=256)
def _padded_layout(p: _validate.ConvParams):
    """(padded grid, tap shifts, per-(channel, tap) offsets, kernel geometry on the grid) of
    the implicit kernels: pure functions of the configuration, kept for repeated calls (a
    small layer's forward spent ~10 us of its Python overhead building them). The arrays are
    read-only."""
    pg = _PaddedGrid.of(p)
    grid, out, st, plane = pg.grid, pg.out, pg.stride, pg.plane
    shifts = pg.shifts()
    offsets = (np.arange(p.in_channels // p.groups)[:, None] * plane
               + shifts[None, :]).ravel().astype(np.intp)
    shifts.flags.writeable = False
    offsets.flags.writeable = False
    geom = {"D": grid[0], "H": grid[1], "W": grid[2], "KD": pg.kernel[0], "KH": pg.kernel[1],
            "KW": pg.kernel[2], "SD": st[0], "SH": st[1], "SW": st[2], "PD": 0, "PH": 0,
            "PW": 0, "DD": pg.dilation[0], "DH": pg.dilation[1], "DW": pg.dilation[2],
            "OD": out[0], "OH": out[1], "OW": out[2]}
    return pg, shifts, offsets, geom


# The channel-lane row tiles read an input padded only along its width in place when at most
# this share of each row's tiles would leave the row (those read copies of their columns):
# no padded copy.
UNPADDED_ROWS_MAX_EDGE = 0.25


@functools.lru_cache(maxsize=256)
def _unpadded_row_layout(p: _validate.ConvParams, npx: int):
    """(tap offsets, edge-tile offsets, geometry, edge row length) with which the
    channel-lane row tiles read the unpadded input itself, or None when the input is padded
    along depth or height or too many of a row's tiles would reach past its ends. The
    offsets include the leading width padding; an edge tile reads ``C/groups * KD * KH``
    rows of the returned length instead (``_conv._fill_edge_tile``)."""
    pg = _PaddedGrid.of(p)
    if any(lo or hi for lo, hi in pg.pads[:2]):
        return None
    (RD, RH, RW), (KD, KH, KW) = pg.size, pg.kernel
    (DD, DH, DW), SW, OW = pg.dilation, pg.stride[2], pg.out[2]
    pw = pg.pads[2][0]
    lb = (npx - 1) * SW + (KW - 1) * DW + 1
    first = np.arange(-(-OW // npx)) * npx * SW - pw  # first input column of each tile
    edges = np.count_nonzero((first < 0) | (first + lb > RW))
    if edges > UNPADDED_ROWS_MAX_EDGE * first.size:
        return None
    cig = p.in_channels // p.groups
    ci = np.arange(cig)[:, None, None, None]
    kd = np.arange(KD)[None, :, None, None]
    kh = np.arange(KH)[None, None, :, None]
    kw = np.arange(KW)[None, None, None, :] * DW
    offsets = (ci * (RD * RH * RW) + (kd * DD * RH + kh * DH) * RW + kw - pw).ravel()
    edge_offsets = (((ci * KD + kd) * KH + kh) * lb + kw).ravel()
    geom = dict(_padded_layout(p)[3], D=RD, H=RH, W=RW)
    offsets, edge_offsets = offsets.astype(np.intp), edge_offsets.astype(np.intp)
    offsets.flags.writeable = edge_offsets.flags.writeable = False
    return offsets, edge_offsets, geom, lb


# float32 stride-1 rows on the pixel-lane row kernel (_ukr_pixel_rows.h: no transpose, no
# reduction chunks) when its tiles waste at most this much more than the channels-on-lanes
# row tiles ...
PIXEL_ROWS = True
PIXEL_ROWS_MIN_SHARE = 0.9
# ... and one call's operands fit L1: it reduces over the whole depth unchunked, reading
# the tile's input (C_in/groups * KD * KH rows of 48 + dilated kernel width - 1 columns) and
# an 8-channel weight panel. Pixel-lane / row-tile time, 2 threads, interleaved, per-round
# ratios: conv1d 64 -> 64 k5 (13 + 10 KiB) 0.93, conv3d 16 -> 32 3x3x3 (29 + 14) 0.96,
# 1-D 128 -> 128 k3 (26 + 12) 0.97, 50 -> 50 k5 0.92, 16 -> 16 k7 0.60, 2-D 32 -> 48 3x3
# 128 wide (19 + 9) 0.93; 2-D 64 -> 64 3x3 (38 + 18) 1.04 at 64 wide, 1.00 at 112; 1-D
# 256 -> 256 k3 (51 + 25) 1.03. (float64, 24-pixel tiles: conv1d 1.15, so not for float64.)
PIXEL_ROWS_MAX_L1_BYTES = 48 * 2**10
ROWS_PIXELS = int(_k.RowKernel.ROWS_PIXELS)  # padded_forward's row_kernel for it


def _useful_share(channels: int, pixels: int, tile: tuple) -> float:
    """Share of a (channels x pixels) tiling's computed outputs that are real."""
    ob, npx = tile
    return channels / (-(-channels // ob) * ob) * pixels / (-(-pixels // npx) * npx)


def _pixel_rows_apply(p, cog, row_tile) -> bool:
    """The pixel-lane row kernel (float32, width stride 1, AVX-512) fills its tiles with at
    least ROW_TILE_MIN_USEFUL real outputs and at least PIXEL_ROWS_MIN_SHARE of the share of
    the channels-on-lanes row tile ``row_tile`` = (variant, OB, NP), and one call's input
    and weights fit PIXEL_ROWS_MAX_L1_BYTES."""
    if not (PIXEL_ROWS and p.dtype == np.float32 and p.stride[-1] == 1
            and _k.pixel_rows_available()):
        return False
    ow = p.output_shape[-1]
    channels, tile_pixels, lanes = _k.pixel_rows_tile(True)
    cig = p.in_channels // p.groups
    kernel = (1,) * (3 - p.ndim) + p.kernel_size
    tile_input = cig * kernel[0] * kernel[1] * (tile_pixels + (kernel[2] - 1) * p.dilation[-1])
    weight_panel = cig * math.prod(kernel) * channels
    if (tile_input + weight_panel) * p.dtype.itemsize > PIXEL_ROWS_MAX_L1_BYTES:
        return False
    # a row's last tile is shorter by whole vectors
    useful = _useful_share(cog, ow, (channels, lanes))
    variant, ob, npx = row_tile
    rows_useful = _useful_share(cog, ow, (ob, npx)) if variant is not None else 0.0
    return useful >= ROW_TILE_MIN_USEFUL and useful >= PIXEL_ROWS_MIN_SHARE * rows_useful


# 8-pixel-wide outputs on the row-pair kernel (_ukr_rowpairs.h) where it wastes fewer lanes:
# lenet2 (50 output channels), 2 threads, interleaved medians of 21: 0.65-0.72 ms against
# 0.75-0.86 on the 32x8 row tiles; 64x100x8x8 3x3 -> 100: 1.95-2.05 against 2.46-2.80.
ROWPAIRS = True
ROWPAIRS_MR = 6  # output channels per panel of _ukr_rowpairs.h


def _rowpairs_applies(p, cog, row_tile) -> bool:
    """The 8-pixel-row kernel (stride 1, 2-D, outputs 8 wide and a multiple of 8 high, float32
    on AVX-512), when it wastes clearly fewer lanes on padding channels than the row tiles
    (6-channel panels against 32-lane tiles)."""
    if not (p.dtype == np.float32 and p.ndim == 2 and p.output_shape[1] == 8
            and p.output_shape[0] % 8 == 0 and all(s == 1 for s in p.stride)
            and _k.rowpairs_available()):
        return False
    variant, ob, _ = row_tile
    tiles_useful = cog / (-(-cog // ob) * ob) if variant is not None else 0.0
    return cog / (-(-cog // ROWPAIRS_MR) * ROWPAIRS_MR) > TILE_SWITCH_MIN_GAIN * tiles_useful


def _implicit_forward(p, x5, w5, b, has_bias, y3, n_threads):
    if _is_pointwise(p):
        _pointwise_forward(p, x5, w5, b, has_bias, y3, n_threads)
        return
    G = p.groups
    cog = p.out_channels // G
    cig = p.in_channels // G
    kg = cig * math.prod(p.kernel_size)
    pg, shifts, offsets, geom = _padded_layout(p)
    grid, out, st, plane = pg.grid, pg.out, pg.stride, pg.plane
    image_stride = p.in_channels * plane
    mr, nr = _k.tile_shape(p.dtype == np.float32)
    variant = _row_tile_variant(p)
    # strided convolutions only have the row kernel; for stride 1 uneven tiles use the
    # GEMM-shaped kernel
    use_rows = variant is not None or any(s != 1 for s in st)
    narrow = bool(variant)
    ob, npx = _k.direct_tile_shape(p.dtype == np.float32, narrow)
    row_tile = (variant, ob, npx)
    row_kernel = int(narrow)
    if _pixel_rows_apply(p, cog, row_tile):
        use_rows, row_kernel = True, ROWS_PIXELS
        ob, npx, _ = _k.pixel_rows_tile(p.dtype == np.float32)
    kc = min(kg, KC)
    room = max(L2_BYTES - cog * kc * p.dtype.itemsize, L2_BYTES // 4)
    if use_rows:
        # a row tile's last pixel, plus the largest tap, may run past the last channel plane
        reach = -(-out[2] // npx) * npx * st[2] + int(shifts[-1])
    else:
        Q = ((out[0] - 1) * grid[1] + out[1] - 1) * grid[2] + out[2]
        block = _pixel_block(nr, -(-cog // mr) * mr * p.dtype.itemsize, Q, p.batch * G,
                             n_threads, room)
        reach = -(-Q // block) * block + int(shifts[-1])
    if ROWPAIRS and _rowpairs_applies(p, cog, row_tile):
        a = _pack_panels(w5.reshape(G, cog, kg), ROWPAIRS_MR)
        _k.rowpairs_forward(x5, tuple(lo for lo, _ in pg.pads), offsets, a, y3, b, has_bias, G,
                            geom, np.empty((n_threads, cig * plane + 16), dtype=p.dtype),
                            np.empty((n_threads, ROWPAIRS_MR * 64), dtype=p.dtype), KC,
                            n_threads)
        return
    if use_rows:
        # the channels-on-lanes kernels keep their rows' [pixel][channel] tiles in L2; the
        # pixel-lane kernel stores into y and needs none
        row_bytes = (-(-out[2] // npx) * npx * -(-cog // ob) * ob * p.dtype.itemsize
                     if row_kernel != ROWS_PIXELS else 0)
        rows_total = out[0] * out[1]
        rows = max(1, min(rows_total, room // row_bytes)) if row_bytes else rows_total
        items = p.batch * G
        while rows > 1 and items * -(-rows_total // rows) < 2 * n_threads:
            rows = -(-rows // 2)
        a = _pack_panels(w5.reshape(G, cog, kg), ob)
        work = np.empty((n_threads, max(1, rows * row_bytes // p.dtype.itemsize)),
                        dtype=p.dtype)
        # the pixel-lane kernel reads a padded copy: on the unpadded input (conv1d's channel
        # rows 4 KiB apart) it ran 0.98-1.07x the copy's time for most input arrays and
        # 1.18-1.25x for one (cache set conflicts; benchmarks/README.md)
        unpadded = _unpadded_row_layout(p, npx) if row_kernel != ROWS_PIXELS else None
        if unpadded is not None:
            # conv1d on the row tiles, 2 threads: 3.21 -> 3.09-3.14 ms (benchmarks/README.md)
            raw_offsets, edge_offsets, raw_geom, lb = unpadded
            _k.padded_forward(x5.reshape(-1), math.prod(x5.shape[1:]), raw_offsets, a, y3, b,
                              has_bias, G, p.in_channels, raw_geom, True, row_kernel, rows, work,
                              KC, n_threads, None, tuple(lo for lo, _ in pg.pads),
                              None, edge_offsets,
                              np.empty((n_threads, cig * pg.kernel[0] * pg.kernel[1] * lb),
                                       dtype=p.dtype))
            return
        if rows == rows_total and (cig * plane + reach) * p.dtype.itemsize <= PAD_PER_ITEM_BYTES:
            # one work item per image and group: each pads its own planes, in L2 (conv1d
            # forward, 1 thread, interleaved medians of 31: 6.76 -> 6.35 ms; equal at 2 threads)
            _k.padded_forward(np.zeros(1, p.dtype), image_stride, offsets, a, y3, b, has_bias,
                              G, p.in_channels, geom, True, row_kernel, rows, work, KC, n_threads,
                              x5, tuple(lo for lo, _ in pg.pads),
                              np.empty((n_threads, cig * plane + reach), dtype=p.dtype))
            return
    with _threads.scratch(p.batch * image_stride + reach, p.dtype) as buffer:
        flat = pg.padded_input(x5, reach, n_threads, buffer)
        if use_rows:
            # measured (benchmarks/README.md): res3x3 190 vs 159 GFLOP/s, vgg3x3 and dilated
            # equal
            _k.padded_forward(flat, image_stride, offsets, a, y3, b, has_bias, G,
                              p.in_channels, geom, True, row_kernel, rows, work, KC, n_threads)
            return
        a = _pack_panels(w5.reshape(G, cog, kg), mr)
        work = np.empty((n_threads, -(-cog // mr) * mr * block), dtype=p.dtype)
        _k.padded_forward(flat, image_stride, offsets, a, y3, b, has_bias, G, p.in_channels,
                          geom, False, False, block, work, KC, n_threads)


def _conv_backward(grad_output, x, weight, *, stride, padding, dilation, groups, flip, need,
                   algorithm, num_threads, ndim):
    p = _validate.conv_params(x, weight, None, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, ndim=ndim)
    flip = _validate.check_bool(flip, "flip")
    need = _validate.check_need(need)
    algorithm = _check_algorithm(algorithm)
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    n_threads = _threads.resolve(num_threads)
    gx = np.empty(x.shape, dtype=p.dtype) if "input" in need else None
    gw = np.zeros(weight.shape, dtype=p.dtype) if "weight" in need else None
    gb = np.zeros(p.out_channels, dtype=p.dtype) if "bias" in need else None
    if p.batch == 0:
        if gx is not None:
            gx[...] = 0
        return ConvGrads(gx, gw, gb)
    gy = _validate.for_kernel(gy)
    if need & {"input", "weight"}:
        if algorithm == "auto":
            algorithm = _auto(p, n_threads)
        if algorithm == "direct" and _grad_input_as_depthwise_forward(p):
            _depthwise_backward(p, gy, x, weight, gx, gw, gb, flip, n_threads)
            return ConvGrads(gx, gw, gb)
    if gb is not None:
        _k.bias_grad(gy.reshape(p.batch, p.out_channels, -1), gb, n_threads)
    if not (need & {"input", "weight"}):
        return ConvGrads(gx, gw, gb)
    if gx is not None:
        _conv_grad_input(p, gy, weight, gx, flip=flip, algorithm=algorithm, n_threads=n_threads)
    if gw is not None:
        _conv_grad_weight(p, gy, x, gw, flip=flip, algorithm=algorithm, n_threads=n_threads)
    return ConvGrads(gx, gw, gb)


def _conv_grad_input(p, gy, weight, gx, *, flip, algorithm, n_threads):
    """grad_input of the convolution ``p`` into ``gx`` (shape (N, C_in, *p.input_shape)).

    Needs only the input's shape (in ``p``), never the input itself, so the transposed
    convolution (which is this computation) calls it directly. ``gy`` is C-contiguous with
    shape ``p.output_array_shape``; ``algorithm`` is resolved (not 'auto').
    """
    ndim = p.ndim
    w5 = _to5d(_prepare_weight(weight, flip, ndim), ndim)
    if algorithm == "direct" and _grad_input_as_depthwise_forward(p):
        _grad_input_by_forward_conv(p, gy, w5, gx, n_threads)
    elif algorithm == "direct":
        _k.direct_backward_input(_to5d(gy, ndim), w5, _to5d(gx, ndim), p.groups, _geom(p),
                                 n_threads)
    elif algorithm == "implicit" and _grad_input_as_forward(p):
        _grad_input_by_forward_conv(p, gy, w5, gx, n_threads)
    elif algorithm == "implicit" and (phases := _grad_input_phases(p)) is not None:
        _grad_input_by_phases(p, gy, w5, gx, phases, n_threads)
    else:
        _im2col_grad_input(p, gy.reshape(p.batch, p.out_channels, -1), w5, _to5d(gx, ndim),
                           _geom(p), n_threads)


def _conv_grad_weight(p, gy, x, gw, *, flip, algorithm, n_threads):
    """grad_weight of the convolution ``p`` into the zeroed ``gw`` (shape of the weight, as
    passed: with ``flip`` the kernel-order gradient is flipped back). ``gy`` C-contiguous."""
    ndim = p.ndim
    x5 = _to5d(_validate.for_kernel(x), ndim)
    target = np.zeros_like(gw) if flip else gw
    gw5 = _to5d(target, ndim)
    if algorithm == "direct":
        g = _geom(p)
        work, dwork = _depthwise_scratch(p, g, n_threads)
        _k.direct_backward_weight(_to5d(gy, ndim), x5, gw5, p.groups, g, work, dwork,
                                  n_threads)
    elif (variant := _weight_grad_variant(p)) is not None:
        _padded_weight_grad(p, gy.reshape(p.batch, p.out_channels, -1), x5, gw5, variant,
                            n_threads)
    elif (phases := _weight_grad_phases(p)) is not None:
        _grad_weight_by_phases(p, gy, x5, target, phases, algorithm, n_threads)
    else:
        _im2col_grad_weight(p, gy.reshape(p.batch, p.out_channels, -1), x5, gw5, _geom(p),
                            n_threads)
    if flip:
        gw[...] = target[(Ellipsis,) + (slice(None, None, -1),) * ndim]


def _grad_input_as_forward(p: _validate.ConvParams) -> bool:
    """For stride 1, grad_input is itself a stride-1 convolution of grad_output (with the
    kernel flipped and its channel axes swapped, padded by dilation*(k-1) - padding), so the
    forward kernels serve it - when that padding is not negative and the input channels per
    group (its output channels) are enough to fill the kernels' channel tiles (fewer
    suffice with 27+ taps, where col2im's scatter dominates)."""
    many_taps = math.prod(p.kernel_size) >= GRAD_INPUT_FORWARD_MANY_TAPS
    return (all(st == 1 for st in p.stride)
            and p.in_channels // p.groups >= (GRAD_INPUT_FORWARD_MIN_CHANNELS_MANY_TAPS
                                              if many_taps else GRAD_INPUT_FORWARD_MIN_CHANNELS)
            and all(lo <= d * (k - 1) and hi <= d * (k - 1)
                    for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size)))


def _grad_input_as_depthwise_forward(p: _validate.ConvParams) -> bool:
    """A stride-1 depthwise convolution (one input and one output channel per group, 1-D or
    2-D) has a depthwise stride-1 convolution as its grad_input, which the fused depthwise
    plane kernel computes in one pass (8x128x56x56, 3x3, 1 thread: 3.4 -> 1.7 ms against
    the tap-by-tap scatter)."""
    return (p.ndim <= 2 and all(st == 1 for st in p.stride)
            and p.in_channels == p.groups and p.out_channels == p.groups
            and all(lo <= d * (k - 1) and hi <= d * (k - 1)
                    for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size)))


def _transposed_geom(p: _validate.ConvParams) -> dict:
    """Kernel geometry of grad_input as a stride-1 forward convolution of grad_output (the
    kernel flipped, padded by dilation*(k-1) - padding); p has stride 1."""
    lead = 3 - p.ndim
    pad = (0,) * lead + tuple(d * (k - 1) - lo
                              for (lo, _), d, k in zip(p.padding, p.dilation, p.kernel_size))
    names = {"": (1,) * lead + p.output_shape, "K": (1,) * lead + p.kernel_size,
             "S": (1, 1, 1), "P": pad, "D": (1,) * lead + p.dilation,
             "O": (1,) * lead + p.input_shape}
    return {prefix + axis if prefix else axis: v[i]
            for prefix, v in names.items() for i, axis in enumerate("DHW")}


def _depthwise_backward(p, gy, x, weight, gx, gw, gb, flip, n_threads):
    """Every requested gradient of a stride-1 depthwise convolution in one pass over grad_y:
    one (image, channel) plane per work item, whose grad_input, weight-tap sums and bias sum
    share the plane while it is in cache; the per-plane sums are then reduced over images in
    a fixed order. 8x128x56x56, 3x3, 2 threads, medians of 15: 2.35-2.6 ms for all three
    gradients (the tap-by-tap kernels in separate passes: ~4.8 ms)."""
    ndim = p.ndim
    taps = math.prod(p.kernel_size)
    w_eff = _prepare_weight(weight, flip, ndim).reshape(p.out_channels, taps)
    w_flipped = np.ascontiguousarray(w_eff[:, ::-1])
    g, gt = _geom(p), _transposed_geom(p)
    elements, doubles = _k.depthwise_backward_work(p.dtype == np.float32, g, gt)
    work = np.empty((n_threads, elements), dtype=p.dtype)
    dwork = np.empty((n_threads, doubles), dtype=np.float64)
    x5 = _to5d(_validate.for_kernel(x), ndim)
    gw_taps = np.empty((p.out_channels, taps), dtype=p.dtype)
    _k.depthwise_backward(_to5d(gy, ndim), x5, w_flipped,
                          _to5d(gx, ndim) if gx is not None
                          else np.empty((1,) * 5, dtype=p.dtype),
                          gw_taps, gb if gb is not None else gw_taps[0],
                          gx is not None, gw is not None, gb is not None, g, gt, work, dwork,
                          np.empty((p.batch * p.out_channels, taps + 1)), n_threads)
    if gw is not None:
        taps_shape = gw_taps.reshape(weight.shape)
        gw[...] = taps_shape[(Ellipsis,) + (slice(None, None, -1),) * ndim] if flip \
            else taps_shape


def _grad_input_phases(p: _validate.ConvParams):
    """Per dim, per phase r < stride: (first tap, tap count, pad_lo, pad_hi, size) of the
    stride-1 convolution that computes grad_input[..., r::stride] - or None when the
    decomposition does not apply or does not pay (stride 1, dilation, a negative pad, too few
    input channels per group to fill the forward kernels' channel tiles, or a kernel that is
    not a multiple, 2x or more, of the stride).

    With stride s (dilation 1), input position i = s*u + r receives grad_output[o] * w[k]
    exactly when k = k0 + s*m with k0 = (r + pad_lo) mod s, at o = u + c - m where
    c = (r + pad_lo - k0) / s: a correlation of grad_output with the taps k0, k0+s, ...
    reversed, padded by M-1-c before, whose output is that phase's U = ceil((I - r)/s)
    positions.
    """
    if all(st == 1 for st in p.stride) or any(d != 1 for d in p.dilation):
        return None
    if p.in_channels // p.groups < GRAD_INPUT_FORWARD_MIN_CHANNELS:
        return None
    # Only where every phase gets the same 2+ taps per dim (k a multiple of s, k >= 2s): with
    # k <= s the col2im scatter does not overlap and is cheaper than the phases' interleave
    # (4x4/2 phases 1.65 vs col2im 2.03 ms, 2x2/2 0.72 vs 0.58, 2 threads); with uneven
    # phases (3x3/2, the strided row's grad_input) col2im also won (11.9 vs 13.0 ms).
    if any(s > 1 and (k % s or k < 2 * s) for k, s in zip(p.kernel_size, p.stride)):
        return None
    per_dim = []
    for size, out, k, s, (lo, _) in zip(p.input_shape, p.output_shape, p.kernel_size,
                                        p.stride, p.padding):
        phases = []
        for r in range(s):
            k0 = (r + lo) % s
            taps = max(0, -(-(k - k0) // s))
            c = (r + lo - k0) // s
            extent = -(-(size - r) // s)
            pad_lo = taps - 1 - c
            pad_hi = extent - 1 + taps - out - pad_lo
            if taps and (pad_lo < 0 or pad_hi < 0 or extent < 1):
                return None
            phases.append((k0, taps, pad_lo, pad_hi, extent))
        per_dim.append(phases)
    return per_dim


def _grad_input_by_phases(p, gy, w5, gx, phases, n_threads):
    """grad_input of a strided convolution as stride**ndim stride-1 forward convolutions of
    grad_output (one per output phase, with the phase's taps of the flipped, channel-swapped
    kernel), each written into its strided slice of grad_input: the forward kernels instead
    of a GEMM and a col2im scatter (transposed convolution 4x4/2, 64 -> 32 channels,
    28x28 -> 56x56, interleaved medians of 15: 2.03 -> 1.65 ms at 2 threads, 3.85 -> 2.60
    ms at 1; torch 1.42 and 3.00)."""
    ndim, G = p.ndim, p.groups
    cog, cig = p.out_channels // G, p.in_channels // G
    kernel = w5.reshape((G, cog, cig) + p.kernel_size)
    for combo in itertools.product(*[range(s) for s in p.stride]):
        dims = [phases[d][r] for d, r in enumerate(combo)]
        view = gx[(Ellipsis,) + tuple(slice(r, None, s) for r, s in zip(combo, p.stride))]
        if any(taps == 0 for _, taps, _, _, _ in dims):
            view[...] = 0
            continue
        taps_index = tuple(slice(k0, k0 + s * (taps - 1) + 1, s)
                           for (k0, taps, _, _, _), s in zip(dims, p.stride))
        sub = kernel[(Ellipsis,) + taps_index]
        # (G, C_in/G, C_out/G, *taps), taps reversed -> the stride-1 convolution's weight
        sub = sub.swapaxes(1, 2)[(Ellipsis,) + (slice(None, None, -1),) * ndim]
        sub = np.ascontiguousarray(sub).reshape((p.in_channels, cog) + sub.shape[3:])
        extent = tuple(e for *_, e in dims)
        z = np.empty((p.batch, p.in_channels) + extent, dtype=p.dtype)
        # validated by construction: skip the public entry's checks (~40 us per phase)
        phase = _validate.ConvParams(
            ndim=ndim, batch=p.batch, in_channels=p.out_channels, out_channels=p.in_channels,
            groups=G, input_shape=p.output_shape, kernel_size=sub.shape[2:],
            stride=(1,) * ndim, padding=tuple((lo, hi) for _, _, lo, hi, _ in dims),
            dilation=(1,) * ndim, output_shape=extent, dtype=p.dtype)
        _forward_kernels(phase, _to5d(gy, ndim), _to5d(sub, ndim), np.zeros(1, p.dtype), False,
                         z, "auto", n_threads)
        lead = (0,) * (3 - ndim)
        _k.scatter_phase(_to5d(z, ndim), _to5d(gx, ndim), *(lead + tuple(combo)),
                         *((1,) * (3 - ndim) + tuple(p.stride)), n_threads)


def _grad_input_by_forward_conv(p, gy, w5, gx, n_threads):
    ndim, G = p.ndim, p.groups
    cog, cig = p.out_channels // G, p.in_channels // G
    kernel = w5.reshape((G, cog, cig) + p.kernel_size)
    # (G, C_in/G, C_out/G, *k), flipped in every spatial dim -> (C_in, C_out/G, *k)
    w_t = kernel.swapaxes(1, 2)[(Ellipsis,) + (slice(None, None, -1),) * ndim]
    w_t = np.ascontiguousarray(w_t).reshape((p.in_channels, cog) + p.kernel_size)
    pads = tuple((d * (k - 1) - lo, d * (k - 1) - hi)
                 for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size))
    _conv_forward(gy, w_t, None, stride=1, padding=pads, dilation=p.dilation, groups=G,
                  flip=False, algorithm="auto", num_threads=n_threads, out=gx, ndim=ndim)


def _weight_grad_variant(p: _validate.ConvParams):
    """The direct micro-kernel variant (narrow: bool) for the stride-1 padded weight gradient
    (output channels on the lanes, input channels broadcast) that wastes the least of its
    tiles, or None when neither fills its channel tiles at least half (then im2col runs)."""
    if any(st != 1 for st in p.stride):
        return None
    cog, cig = p.out_channels // p.groups, p.in_channels // p.groups
    return _least_waste_variant(p, cog, cig, CHANNEL_TILE_MIN_USEFUL)[0]


def _weight_grad_phases(p: _validate.ConvParams):
    """For a strided convolution (dilation 1): per phase combination, the stride-1 weight
    gradient that gives grad_weight[..., k0::s] - as (first taps, ConvParams, input slices)
    - or None when the phases would not reach the fast stride-1 kernel.

    Tap k = k0 + s*m reads input s*(o + m) + k0 - pad_lo = s*(o + m + c) + r with
    r = (k0 - pad_lo) mod s and c = (k0 - pad_lo - r) / s: the stride-1 correlation of
    grad_output with the input's phase x[r::s], shifted by c (a left pad of -c, or c
    elements cropped).
    """
    if all(st == 1 for st in p.stride) or any(d != 1 for d in p.dilation):
        return None
    per_dim = []
    for size, out, k, s, (lo, _) in zip(p.input_shape, p.output_shape, p.kernel_size,
                                        p.stride, p.padding):
        options = []
        for k0 in range(min(s, k)):
            taps = -(-(k - k0) // s)
            r = (k0 - lo) % s
            c = (k0 - lo - r) // s
            first = max(c, 0)             # first phase element used
            pad_lo = max(-c, 0)
            # the phase's elements from `first` on, as many as the outputs reach
            available = len(range(r + s * first, size, s))
            length = min(available, out + taps - 1 - pad_lo)
            if length < 1:
                return None
            pad_hi = out + taps - 1 - length - pad_lo
            options.append((k0, taps, slice(r + s * first, r + s * (first + length - 1) + 1, s),
                            length, pad_lo, pad_hi))
        per_dim.append(options)
    plans = []
    for combo in itertools.product(*per_dim):
        phase = _validate.ConvParams(
            ndim=p.ndim, batch=p.batch, in_channels=p.in_channels,
            out_channels=p.out_channels, groups=p.groups,
            input_shape=tuple(o[3] for o in combo), kernel_size=tuple(o[1] for o in combo),
            stride=(1,) * p.ndim, padding=tuple((o[4], o[5]) for o in combo),
            dilation=(1,) * p.ndim, output_shape=p.output_shape, dtype=p.dtype)
        if _weight_grad_variant(phase) is None:
            return None
        plans.append((tuple(o[0] for o in combo), phase, tuple(o[2] for o in combo)))
    return plans


def _grad_weight_by_phases(p, gy, x5, gw, plans, algorithm, n_threads):
    """grad_weight of a strided convolution as one stride-1 weight gradient per phase of the
    input (its every s-th element), each filling the taps k0, k0+s, ... of grad_weight: the
    padded stride-1 kernel instead of im2col (conv_transpose 4x4/2's weight gradient,
    interleaved medians of 11: 2.17 -> 1.80 ms at 2 threads, 4.52 -> 2.80 at 1; the strided
    3x3/2 row's: equal)."""
    ndim = p.ndim
    lead = 3 - ndim
    for first_taps, phase, slices in plans:
        x_phase = np.empty((p.batch, p.in_channels) + phase.input_shape, dtype=p.dtype)
        starts = (0,) * lead + tuple(sl.start for sl in slices)
        _k.gather_phase(x5, _to5d(x_phase, ndim), *starts, *((1,) * lead + tuple(p.stride)),
                        n_threads)
        gw_phase = np.zeros((p.out_channels, p.in_channels // p.groups) + phase.kernel_size,
                            dtype=p.dtype)
        _conv_grad_weight(phase, gy, x_phase, gw_phase, flip=False, algorithm=algorithm,
                          n_threads=n_threads)
        gw[(Ellipsis,) + tuple(slice(k0, None, s) for k0, s in zip(first_taps, p.stride))] = \
            gw_phase


def _padded_weight_grad(p, gy3, x5, gw5, narrow, n_threads):
    """grad_weight (stride 1) on the direct micro-kernel with the roles turned: grad_y laid
    on the padded grid [position][channel] (packed in C, into a per-thread scratch buffer),
    the padded input's channels broadcast, the reduction over grid positions."""
    G, N = p.groups, p.batch
    cog = p.out_channels // G
    ob, _ = _k.direct_tile_shape(p.dtype == np.float32, narrow)
    pg, shifts, _, _ = _padded_layout(p)
    grid, out = pg.grid, pg.out
    # last flat grid position of an output + 1: the reduction length
    Q = ((out[0] - 1) * grid[1] + out[1] - 1) * grid[2] + out[2]
    npan = -(-cog // ob)
    geom = {"D": grid[0], "H": grid[1], "W": grid[2], "KD": 1, "KH": 1, "KW": 1, "SD": 1,
            "SH": 1, "SW": 1, "PD": 0, "PH": 0, "PW": 0, "DD": 1, "DH": 1, "DW": 1,
            "OD": out[0], "OH": out[1], "OW": out[2]}
    with _threads.scratch(N * G * npan * Q * ob, p.dtype, slot="grad_output_grid") as gy_grid:
        _k.pack_grad_output_grid(gy3, gy_grid, geom, G, ob, Q, n_threads)
        _padded_weight_grad_kernel(p, pg, shifts, x5, gy_grid, Q, gw5, narrow, n_threads)


def _padded_weight_grad_kernel(p, pg, shifts, x5, gy_grid, Q, gw5, narrow, n_threads):
    G, N = p.groups, p.batch
    cig = p.in_channels // G
    cog = p.out_channels // G
    ob, npx = _k.direct_tile_shape(p.dtype == np.float32, narrow)
    plane = pg.plane
    image_stride = p.in_channels * plane
    npan = -(-cog // ob)
    # the last channel block may read up to NP planes past the last channel (dropped rows)
    slack = npx * plane + Q + int(shifts[-1])
    # taps per work item: all of them (grad_y streamed once per item) unless that leaves
    # fewer than two items per thread; the blocking does not change any result bit
    T = len(shifts)
    blocks = G * npan * -(-cig // npx)
    tap_block = T
    while tap_block > 1 and blocks * -(-T // tap_block) < 2 * n_threads:
        tap_block = -(-tap_block // 2)
    with _threads.scratch(N * image_stride + slack, p.dtype) as buffer:
        flat = pg.padded_input(x5, slack, n_threads, buffer)
        _k.padded_weight_grad(flat, image_stride, gy_grid, Q, shifts,
                              np.arange(KC, dtype=np.intp),
                              gw5.reshape(p.out_channels, cig, -1), G, N, plane, tap_block,
                              np.empty((n_threads, tap_block * npx * ob), p.dtype),
                              np.empty((n_threads, tap_block * npx * ob), np.float64), KC,
                              narrow, n_threads)


def _im2col_grad_input(p, gy3, w5, gx5, g, n_threads):
    G = p.groups
    cog = p.out_channels // G
    T = math.prod(p.kernel_size)
    kg = (p.in_channels // G) * T
    P = gy3.shape[2]
    mr, nr = _k.tile_shape(p.dtype == np.float32)
    size = p.dtype.itemsize
    a = _pack_panels(w5.reshape(G, cog, kg).transpose(0, 2, 1), mr)
    # Input channels per work item: a multiple of MR giving at least GRAD_INPUT_ROWS rows
    # of W^T, so each packed grad_y block feeds enough GEMM work.
    cig = p.in_channels // G
    channel_block = min(-(-cig // mr), max(1, -(-GRAD_INPUT_ROWS // (mr * T)))) * mr
    rows = channel_block * T
    # col2im adds each block's taps into the input in block order, so the block size must
    # not depend on the thread count (bitwise identical results): balance for a fixed count
    block = _pixel_block(nr, (rows + cog + 1) * size, P,
                         p.batch * G * -(-cig // channel_block), COL2IM_BALANCE_THREADS,
                         L2_BYTES)
    work = np.empty((n_threads, (cog + rows + 1) * block), dtype=p.dtype)
    _k.gemm_backward_input(gy3, a, gx5, G, g, block, channel_block, work, KC, n_threads)


def _im2col_grad_weight(p, gy3, x5, gw5, g, n_threads):
    G = p.groups
    cog = p.out_channels // G
    kg = (p.in_channels // G) * math.prod(p.kernel_size)
    P = gy3.shape[2]
    mr, nr = _k.tile_shape(p.dtype == np.float32)
    block = min(P, WEIGHT_GRAD_BLOCK)
    cog_pad = -(-cog // mr) * mr
    kg_pad = -(-kg // nr) * nr
    pieces = p.batch * -(-P // block)
    chunk_bytes = G * cog_pad * kg_pad * p.dtype.itemsize
    chunks = max(1, min(pieces, MAX_WEIGHT_CHUNKS, PARTIAL_BYTES // chunk_bytes))
    partial = np.zeros((chunks, G, cog_pad, kg_pad), dtype=p.dtype)
    work = np.empty((n_threads, (cog_pad + kg_pad + 1) * block), dtype=p.dtype)
    _k.gemm_backward_weight(gy3, x5, partial, G, g, block, work, n_threads)
    total = partial[0] if chunks == 1 else partial.sum(axis=0)
    gw5[...] = total[:, :cog, :kg].reshape(gw5.shape)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           algorithm="auto", num_threads=None, out=None):
    """2-D convolution (cross-correlation by default), as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), float32 or float64
    weight : ndarray, shape (C_out, C_in/groups, kH, kW), same dtype as x
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), ((top, bottom), (left, right)), 'valid', 'same' or 'full'
        'same' with an even kernel puts the extra element at the end (bottom/right), as
        PyTorch and TensorFlow; ``scipy.signal.convolve2d`` puts it at the start (with
        ``flip=True``, per-side pairs ``((kH//2, (kH-1)//2), (kW//2, (kW-1)//2))`` reproduce it).
    groups : int
        C_in and C_out must both be divisible by it (groups == C_in is depthwise).
    flip : bool
        True computes true convolution (kernel flipped in both spatial dims), matching
        ``scipy.signal.convolve2d`` for a single channel.
    algorithm : {'auto', 'direct', 'im2col', 'implicit'}
        'implicit' reads the zero-padded input in place (no lowering): a row-tiled direct
        kernel, or for stride 1 with uneven rows a GEMM-shaped kernel.
    num_threads : int, optional
        Threads for this call (default: :func:`cyconv.get_num_threads`).
    out : ndarray, shape (N, C_out, H_out, W_out), optional
        C-contiguous array of the result dtype to write into.

    Returns
    -------
    y : ndarray, shape (N, C_out, H_out, W_out)
        ``H_out = (H + pad_top + pad_bottom - dilation*(kH-1) - 1) // stride + 1``.
    """
    return _conv_forward(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                         out=out, ndim=2)


def conv2d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), algorithm="auto",
                    num_threads=None):
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, H_out, W_out)
        Gradient of the loss with respect to ``conv2d(x, weight, ...)``.
    x, weight, stride, padding, dilation, groups, flip, algorithm, num_threads
        As given to :func:`conv2d`. With stride 1 and 'implicit' (what 'auto' picks for most
        stride-1 convolutions) grad_input runs as a forward convolution of grad_output with
        the flipped, channel-swapped kernel; the other gradients use the im2col kernels.
    need : tuple of {'input', 'weight', 'bias'}
        Which gradients to compute; the others come back as None.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, H, W), grad_weight (C_out, C_in/groups, kH, kW),
        grad_bias (C_out,))``.
    """
    return _conv_backward(grad_output, x, weight, stride=stride, padding=padding,
                          dilation=dilation, groups=groups, flip=flip, need=need,
                          algorithm=algorithm, num_threads=num_threads, ndim=2)


def conv1d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           algorithm="auto", num_threads=None, out=None):
    """1-D convolution (cross-correlation by default), as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L), float32 or float64
    weight : ndarray, shape (C_out, C_in/groups, k), same dtype as x
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or (int,)
    padding : int, (int,), ((left, right),), 'valid', 'same', 'full' or 'causal'
        'causal' pads ``dilation*(k-1)`` zeros on the left only, so ``y[..., t]`` depends on
        ``x[..., :t+1]`` alone. 'same' with an even kernel puts the extra element at the end;
        ``numpy.convolve`` puts it at the start (``((k//2, (k-1)//2),)`` reproduces it).
    groups, flip, algorithm, num_threads
        As :func:`conv2d`; ``flip=True`` matches ``numpy.convolve`` for one channel.
    out : ndarray, shape (N, C_out, L_out), optional

    Returns
    -------
    y : ndarray, shape (N, C_out, L_out)
        ``L_out = (L + pad_left + pad_right - dilation*(k-1) - 1) // stride + 1``.
    """
    return _conv_forward(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                         out=out, ndim=1)


def conv3d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           algorithm="auto", num_threads=None, out=None):
    """3-D convolution (cross-correlation by default), as ``torch.nn.functional.conv3d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, D, H, W), float32 or float64
    weight : ndarray, shape (C_out, C_in/groups, kD, kH, kW), same dtype as x
    bias : ndarray, shape (C_out,), optional
    stride, padding, dilation, groups, flip, algorithm, num_threads
        As :func:`conv2d`, with three entries per tuple (per-side pairs: three pairs).
        ``flip=True`` matches ``scipy.signal.convolve`` for one channel (``flip=False``
        ``scipy.signal.correlate``); for 'same' with an even kernel SciPy pads the start
        more, which per-side pairs ``(k//2, (k-1)//2)`` reproduce.
    out : ndarray, shape (N, C_out, D_out, H_out, W_out), optional

    Returns
    -------
    y : ndarray, shape (N, C_out, D_out, H_out, W_out)
    """
    return _conv_forward(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                         out=out, ndim=3)


def conv1d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), algorithm="auto",
                    num_threads=None):
    """Gradients of :func:`conv1d`; as :func:`conv2d_backward` with one spatial dim.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, L), grad_weight (C_out, C_in/groups, k), grad_bias (C_out,))``;
        None where not in ``need``.
    """
    return _conv_backward(grad_output, x, weight, stride=stride, padding=padding,
                          dilation=dilation, groups=groups, flip=flip, need=need,
                          algorithm=algorithm, num_threads=num_threads, ndim=1)


def conv3d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), algorithm="auto",
                    num_threads=None):
    """Gradients of :func:`conv3d`; as :func:`conv2d_backward` with three spatial dims.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, D, H, W), grad_weight (C_out, C_in/groups, kD, kH, kW),
        grad_bias (C_out,))``; None where not in ``need``.
    """
    return _conv_backward(grad_output, x, weight, stride=stride, padding=padding,
                          dilation=dilation, groups=groups, flip=flip, need=need,
                          algorithm=algorithm, num_threads=num_threads, ndim=3)
