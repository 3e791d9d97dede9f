"""Convolution plans: validated parameters + thread count -> which kernel path runs each pass.

A plan names its path with an enum and carries what the path needs decided (input mode,
blocking); executors (``_conv_forward``, ``_conv_backward``) only run it. ``algorithm=``
('auto', 'direct', 'im2col', 'implicit'), ``tune()`` and forced paths all produce plans.
The gradient rules and ``backward_plan`` are in ``_conv_grad_plan``; the thresholds in
``_conv_tuning``; the measurements behind them in ``benchmarks/README.md``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import math
from dataclasses import dataclass

import numpy as np

from . import _conv_geometry as geo
from . import _conv_tuning as tuning
from . import _conv_winograd, _pool_plan, _validate, _weight_cache
from ._kernels import _direct as _k_direct
from ._kernels import _isa as _k_isa
from ._kernels import _rows as _k_rows
from ._conv_tiles import (channels_last_variant, implicit_useful_fraction, is_pointwise,
                          pixel_rows_apply, pixel_rows_fit, row_pairs_apply, row_pairs_fit,
                          row_tile_useful, row_tile_variant)

ALGORITHMS = ("auto", "direct", "im2col", "implicit", "fft", "winograd")


class ForwardPath(enum.Enum):
    """The kernel that computes a forward convolution."""

    DIRECT = "direct"                # per tap over whole planes (fused planes when depthwise)
    IM2COL = "im2col"                # lowered column blocks x packed weights
    POINTWISE = "pointwise"          # 1x1, stride 1, unpadded: a GEMM on NCHW as it is
    IMPLICIT_GEMM = "implicit-gemm"  # GEMM-shaped on the padded grid (stride 1)
    ROWS_WIDE = "rows-wide"          # row tiles, output channels on the lanes, wide tiles
    ROWS_NARROW = "rows-narrow"      # ... narrow tiles
    PIXEL_ROWS = "pixel-rows"        # row tiles, output pixels on the lanes (float32)
    ROW_PAIRS = "row-pairs"          # 8-pixel-wide output rows two per vector (float32)
    FFT = "fft"                      # real FFTs + per-frequency channel contraction
    CHANNELS_LAST = "channels-last"  # row tiles on channels-last memory, where it lies
    WINOGRAD = "winograd"            # F(4x4, 3x3): transformed tiles, 36 GEMMs (3x3, stride 1)


class InputMode(enum.Enum):
    """How the implicit row and GEMM kernels read the zero-padded input."""

    IN_PLACE = "in-place"        # the input itself (width padding only; edge tiles copied)
    PER_ITEM = "per-item"        # each work item pads its own image's planes
    PADDED_COPY = "padded-copy"  # one padded copy of the whole input beforehand


class GradInputPath(enum.Enum):
    DIRECT = "direct"                        # per-tap scatter over whole planes
    DEPTHWISE_FORWARD = "depthwise-forward"  # a depthwise stride-1 forward convolution
    FORWARD = "forward"                      # a stride-1 forward convolution of grad_output
    PHASES = "phases"                        # stride**ndim stride-1 forward convolutions
    IM2COL = "im2col"                        # GEMM + col2im scatter
    FFT = "fft"                              # FFTs of grad_output and weight, contracted


class GradWeightPath(enum.Enum):
    DIRECT = "direct"                # per (output, input channel) pair, every tap
    PADDED_WIDE = "padded-wide"      # stride 1 on the micro-kernel, roles turned, wide tiles
    PADDED_NARROW = "padded-narrow"  # ... narrow tiles
    PHASES = "phases"                # one stride-1 padded weight gradient per input phase
    IM2COL = "im2col"                # lowered columns x grad_output
    FFT = "fft"                      # FFTs of grad_output and input, contracted over the batch
    WINOGRAD = "winograd"            # transformed tiles' products summed in per-chunk partials,
    #                                  G^T (.) G (3x3, stride 1)
    WINOGRAD_STAGED = "winograd-staged"  # ... all tiles transformed first, one GEMM per element


ROW_KERNELS = {ForwardPath.ROWS_WIDE: int(_k_rows.RowKernel.ROWS_WIDE),
               ForwardPath.ROWS_NARROW: int(_k_rows.RowKernel.ROWS_NARROW),
               ForwardPath.PIXEL_ROWS: int(_k_rows.RowKernel.ROWS_PIXELS)}


@dataclass(frozen=True, eq=False)
class ForwardPlan:
    """A forward convolution: its path, input mode, and work split.

    ``rows``: output rows per work item (row paths); ``block``: output pixels per work item
    (GEMM paths); ``reach``: slack elements after a padded input (taps past the last plane).
    ``channels_last``: the call's input (and so its output) is in channels-last memory;
    ``narrow``: the channels-last path's tile variant.
    """

    params: _validate.ConvParams
    path: ForwardPath
    input_mode: InputMode | None
    n_threads: int
    rows: int = 0
    block: int = 0
    reach: int = 0
    channels_last: bool = False
    narrow: bool = False

    @functools.cached_property
    def geometry(self) -> dict:
        """The kernels' geometry struct of the unpadded input (kept with the plan)."""
        return geo.conv_geometry(self.params)

    @functools.cached_property
    def im2col_block(self) -> tuple:
        """(KC-slice depth, output pixels per work item) of the im2col GEMM: L2 holds one
        KC-slice of the packed weights and the matching slice of the column block."""
        p = self.params
        kc = min((p.in_channels // p.groups) * math.prod(p.kernel_size), tuning.KC)
        room = max(tuning.L2_BYTES - (p.out_channels // p.groups) * kc * p.dtype.itemsize,
                   tuning.L2_BYTES // 4)
        nr = _k_isa.tile_shape(p.dtype == np.float32)[1]
        return kc, geo.pixel_block(nr, kc * p.dtype.itemsize,
                                   p.batch * math.prod(p.output_shape), p.groups,
                                   self.n_threads, room)

    @functools.cached_property
    def depthwise_scratch(self) -> tuple:
        """(working-precision elements, doubles) per thread of the direct kernels' depthwise
        planes."""
        p = self.params
        return _k_direct.depthwise_work(p.dtype == np.float32, self.geometry, p.in_channels // p.groups)

    @functools.cached_property
    def shapes5(self) -> tuple:
        """The 5-D (N, C, D, H, W) shapes of x, the weight and y, as the kernels view them."""
        p = self.params
        lead = (1,) * (3 - p.ndim)
        return ((p.batch, p.in_channels) + lead + p.input_shape,
                (p.out_channels, p.in_channels // p.groups) + lead + p.kernel_size,
                (p.batch, p.out_channels) + lead + p.output_shape)

    def __str__(self) -> str:
        mode = f" ({self.input_mode.value})" if self.input_mode else ""
        copy = " on an NCHW copy" if self.channels_last and \
            self.path not in (ForwardPath.CHANNELS_LAST, ForwardPath.WINOGRAD) else ""
        return f"{self.path.value}{mode}{copy}"


@dataclass(frozen=True, eq=False)
class BackwardPlan:
    """The gradient paths of a convolution; ``fused_depthwise``: all gradients of a stride-1
    depthwise convolution in one pass over grad_output."""

    params: _validate.ConvParams
    grad_input: GradInputPath
    grad_weight: GradWeightPath
    fused_depthwise: bool
    algorithm: str
    n_threads: int

    @functools.cached_property
    def geometry(self) -> dict:
        """The kernels' geometry struct of the convolution (kept with the plan)."""
        return geo.conv_geometry(self.params)

    @functools.cached_property
    def transposed_geometry(self) -> dict:
        """Geometry of grad_input as a stride-1 forward convolution (stride-1 plans only)."""
        return geo.transposed_geometry(self.params)

    def __str__(self) -> str:
        fused = " (fused depthwise pass)" if self.fused_depthwise else ""
        return f"grad_input {self.grad_input.value}, grad_weight {self.grad_weight.value}{fused}"


def auto_candidates(p: _validate.ConvParams) -> tuple:
    """The algorithms 'auto' may run for ``p`` (and tune() times): 'fft' in float64, and in
    float32 for 2-D and 3-D kernels (its normwise bound, as Winograd's); 'winograd' where
    it applies (2-D 3x3, stride 1)."""
    return tuple(a for a in ALGORITHMS[1:] if (a != "fft" or p.dtype == np.float64
                                               or p.ndim >= 2)
                 and (a != "winograd" or _conv_winograd.fits(p)))


def check_algorithm(algorithm) -> str:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    return algorithm


# ---- shape rules ---------------------------------------------------------------------------

def winograd_pays(p: _validate.ConvParams) -> bool:
    """'auto' takes the Winograd kernel (benchmarks/README.md, "Winograd F(4x4, 3x3)"; a
    dilated convolution sized by its output's phases, "Dilated convolutions by phases")."""
    channels = (p.in_channels // p.groups, p.out_channels // p.groups)
    return (_conv_winograd.fits(p)
            and tuning.WINOGRAD_MIN_CHANNELS <= min(channels)
            and max(channels) <= tuning.WINOGRAD_MAX_CHANNELS
            and min(_conv_winograd.phase_params(p).output_shape) >= tuning.WINOGRAD_MIN_SIZE)


def fft_pays(p: _validate.ConvParams, pairs: int) -> bool:
    """'auto' takes FFTs (benchmarks/README.md, "FFT convolution"): ungrouped, stride 1 and
    a 2-D or 3-D kernel of at least FFT_MIN_TAPS taps (float32 too: the normwise bound of
    the accuracy contract), or in float64 any kernel of FFT_MIN_TAPS taps times the channel
    pairs per FFT_CHANNEL_PAIRS_PER_STEP above one (1-D: the direct kernels stay faster in
    float32; grouped and depthwise kernels: the direct and implicit ones)."""
    if any(s != 1 for s in p.stride) or p.groups != 1:
        return False
    taps = math.prod(p.kernel_size)
    if p.ndim >= 2 and taps >= tuning.FFT_MIN_TAPS:
        return True
    return p.dtype == np.float64 and taps >= tuning.FFT_MIN_TAPS * max(
        1, pairs / tuning.FFT_CHANNEL_PAIRS_PER_STEP)


def choose_algorithm(p: _validate.ConvParams) -> str:
    """The 'auto' rule (benchmarks/README.md, "The algorithm='auto' rule").

    fft where :func:`fft_pays`; winograd for 2-D 3x3 stride-1
    convolutions with WINOGRAD_MIN_CHANNELS to WINOGRAD_MAX_CHANNELS input and output
    channels per group and outputs (a dilated one's: each phase's) at least
    WINOGRAD_MIN_SIZE square;
    direct when each group is tiny ((C_in/groups) * (C_out/groups) <= 4); implicit for 1x1
    stride-1 unpadded kernels, and for kernels with more than one tap and a reduction depth
    (C_in/groups * taps) of at least 32 or at least 25 taps, when the output rows fill the
    row tiles (any stride) or, for stride 1, at least 60% of the GEMM-shaped kernel's padded
    grid is outputs; im2col otherwise. The forward pass alone widens the direct case
    (:func:`_forward_algorithm`).
    """
    pairs = (p.in_channels // p.groups) * (p.out_channels // p.groups)
    if fft_pays(p, pairs):
        return "fft"
    if winograd_pays(p):
        return "winograd"
    if pairs <= tuning.DIRECT_MAX_GROUP_PRODUCT:
        return "direct"
    if is_pointwise(p):
        return "implicit"
    taps = math.prod(p.kernel_size)
    deep = ((p.in_channels // p.groups) * taps >= tuning.IMPLICIT_MIN_DEPTH
            or taps >= tuning.IMPLICIT_MIN_TAPS_SHALLOW)
    if taps > 1 and deep and (row_tile_variant(p) is not None
                              or implicit_useful_fraction(p) >= tuning.IMPLICIT_MIN_USEFUL):
        return "implicit"
    return "im2col"


# Winners of cyconv.tune for this process: configuration key -> algorithm.
TUNED: dict = {}


def config_key(p: _validate.ConvParams, n_threads: int) -> tuple:
    return (p.ndim, p.batch, p.in_channels, p.out_channels, p.groups, p.input_shape,
            p.kernel_size, p.stride, p.padding, p.dilation, p.dtype.str, n_threads)


def resolve_algorithm(p: _validate.ConvParams, algorithm: str, n_threads: int) -> str:
    """``algorithm`` with 'auto' replaced by the tuned winner or the rule."""
    if algorithm != "auto":
        return algorithm
    return TUNED.get(config_key(p, n_threads)) or choose_algorithm(p)


def _forward_algorithm(p: _validate.ConvParams, algorithm: str, n_threads: int) -> str:
    """resolve_algorithm for the forward pass: 'auto' keeps the direct kernel up to
    FORWARD_DIRECT_MAX_GROUP_PRODUCT where the shared rule would lower to im2col."""
    resolved = resolve_algorithm(p, algorithm, n_threads)
    small = ((p.in_channels // p.groups) * (p.out_channels // p.groups)
             <= tuning.FORWARD_DIRECT_MAX_GROUP_PRODUCT)
    if algorithm == "auto" and resolved == "im2col" and small \
            and config_key(p, n_threads) not in TUNED:
        return "direct"
    return resolved


# ---- forced paths ----------------------------------------------------------------------------

# pass ("forward", "input_mode", "grad_input", "grad_weight") -> the path forced for it
_FORCED: dict = {}


@contextlib.contextmanager
def forced_paths(*, forward: ForwardPath | None = None, input_mode: InputMode | None = None,
                 grad_input: GradInputPath | None = None,
                 grad_weight: GradWeightPath | None = None,
                 pool_rows: _pool_plan.PoolRows | None = None):
    """Within the block, every convolution plan (of any call, any thread: process-wide)
    takes these paths wherever the kernels can run them, and its usual choice elsewhere:
    for tests that run each path on every shape it applies to, and for measurements.
    ``input_mode`` applies to the implicit row and GEMM kernels; ``pool_rows`` to pooling
    plans (``STACKED`` applies to 1-D pooling without index outputs).

    Examples
    --------
    >>> with cyconv.forced_paths(forward=cyconv.ForwardPath.ROWS_NARROW):
    ...     y = cyconv.conv2d(x, w, padding=1)
    """
    chosen = {"forward": forward, "input_mode": input_mode, "grad_input": grad_input,
              "grad_weight": grad_weight, "pool_rows": pool_rows}
    for name, kind in (("forward", ForwardPath), ("input_mode", InputMode),
                       ("grad_input", GradInputPath), ("grad_weight", GradWeightPath),
                       ("pool_rows", _pool_plan.PoolRows)):
        if chosen[name] is not None and not isinstance(chosen[name], kind):
            raise TypeError(f"{name} must be a {kind.__name__} or None, got {chosen[name]!r}")
    pool_rows = chosen.pop("pool_rows")
    previous, previous_pool = dict(_FORCED), dict(_pool_plan._FORCED)
    _FORCED.update({k: v for k, v in chosen.items() if v is not None})
    if pool_rows is not None:
        _pool_plan._FORCED["rows"] = pool_rows
    clear_caches()
    try:
        yield
    finally:
        _FORCED.clear()
        _FORCED.update(previous)
        _pool_plan._FORCED.clear()
        _pool_plan._FORCED.update(previous_pool)
        clear_caches()


def _runs(check, *args) -> bool:
    try:
        check(*args)
    except ValueError:
        return False
    return True


# ---- forward plans -------------------------------------------------------------------------

def _implicit_choice(p: _validate.ConvParams):
    """(path, input mode or None) that the implicit algorithm picks for ``p``."""
    if is_pointwise(p):
        return ForwardPath.POINTWISE, None
    cog = p.out_channels // p.groups
    variant = row_tile_variant(p)
    ob = _k_isa.direct_tile_shape(p.dtype == np.float32, bool(variant))[0]
    row_useful = row_tile_useful(p, bool(variant)) if variant is not None else 0.0
    if row_pairs_apply(p, cog / geo.round_up(cog, ob) if variant is not None else 0.0):
        return ForwardPath.ROW_PAIRS, None
    if pixel_rows_apply(p, row_useful):
        return ForwardPath.PIXEL_ROWS, None
    if variant is None and all(s == 1 for s in p.stride):
        return ForwardPath.IMPLICIT_GEMM, InputMode.PADDED_COPY
    return (ForwardPath.ROWS_NARROW if variant else ForwardPath.ROWS_WIDE), None


def _row_tile(p: _validate.ConvParams, path: ForwardPath) -> tuple:
    """(output channels, pixels) of one tile of the row kernel ``path``."""
    if path == ForwardPath.PIXEL_ROWS:
        return _k_isa.pixel_rows_tile(p.dtype == np.float32)[:2]
    return _k_isa.direct_tile_shape(p.dtype == np.float32, path == ForwardPath.ROWS_NARROW)


def _check_forced(p: _validate.ConvParams, path: ForwardPath, mode,
                  channels_last: bool = False) -> None:
    """A forced path (and input mode) must be one the kernels can run for ``p``."""
    strided = any(s != 1 for s in p.stride)
    why = None
    if path == ForwardPath.CHANNELS_LAST and not channels_last:
        why = "needs an input in channels-last memory"
    elif path == ForwardPath.CHANNELS_LAST and mode is not None:
        why = "reads its input one way only"
    elif path == ForwardPath.WINOGRAD and not _conv_winograd.fits(p):
        why = "needs a 2-D 3x3 kernel and stride 1"
    elif path == ForwardPath.POINTWISE and not is_pointwise(p):
        why = "needs a 1x1 kernel, stride 1 and no padding"
    elif path == ForwardPath.IMPLICIT_GEMM and strided:
        why = "needs stride 1"
    elif path == ForwardPath.PIXEL_ROWS and not pixel_rows_fit(p):
        why = "needs width stride 1 and AVX2 or AVX-512"
    elif path == ForwardPath.ROW_PAIRS and not row_pairs_fit(p):
        why = "needs float32, 2-D, stride 1, outputs 8 wide and a multiple of 8 high"
    elif mode is not None and path not in ROW_KERNELS and path != ForwardPath.IMPLICIT_GEMM:
        why = "reads its input one way only"
    elif mode == InputMode.IN_PLACE and (path not in (ForwardPath.ROWS_WIDE,
                                                      ForwardPath.ROWS_NARROW)
                                         or geo.unpadded_edge_share(p, 1) is None):
        why = "reads in place only on the channel-lane row tiles with width-only padding"
    elif mode == InputMode.PER_ITEM and path == ForwardPath.IMPLICIT_GEMM:
        why = "reads a padded copy"
    if why:
        raise ValueError(f"forward path {path.value}"
                         f"{' with input ' + mode.value if mode else ''} {why}; the "
                         f"convolution is {p}")


def forward_plan(p: _validate.ConvParams, algorithm: str, n_threads: int, *,
                 path: ForwardPath | None = None, input_mode: InputMode | None = None,
                 channels_last: bool = False) -> ForwardPlan:
    """The forward plan of ``p``: by ``algorithm`` (resolved for 'auto'), or the forced
    ``path`` (and ``input_mode`` for the implicit row and GEMM kernels).

    ``channels_last``: the input is in channels-last memory. The implicit algorithm then
    reads it where it lies (``ForwardPath.CHANNELS_LAST``) unless the output channels per
    group fill too few lanes, and so does Winograd; any other path runs on an NCHW copy.
    Either way the plan says so, and the output comes back channels-last.
    """
    if path is None and "forward" in _FORCED \
            and _runs(_check_forced, p, _FORCED["forward"], None, channels_last):
        path = _FORCED["forward"]
    if path is None and channels_last and _conv_winograd.fits(p) \
            and _forward_algorithm(p, algorithm, n_threads) == "winograd":
        # its transforms read and write rows with element strides: no copy either
        return ForwardPlan(p, ForwardPath.WINOGRAD, None, n_threads, channels_last=True)
    if path == ForwardPath.CHANNELS_LAST or (
            path is None and channels_last
            and _forward_algorithm(p, algorithm, n_threads) == "implicit"
            and channels_last_variant(p) is not None):
        _check_forced(p, ForwardPath.CHANNELS_LAST, input_mode, channels_last)
        narrow = channels_last_variant(p)
        return ForwardPlan(p, ForwardPath.CHANNELS_LAST, None, n_threads,
                           channels_last=True, narrow=bool(narrow))
    plan = _nchw_forward_plan(p, algorithm, n_threads, path, input_mode)
    if channels_last:
        plan = dataclasses.replace(plan, channels_last=True)
    return plan


def _nchw_forward_plan(p: _validate.ConvParams, algorithm: str, n_threads: int,
                       path: ForwardPath | None, input_mode: InputMode | None) -> ForwardPlan:
    """forward_plan of an NCHW input."""
    if path is not None and input_mode is None and "input_mode" in _FORCED \
            and _runs(_check_forced, p, path, _FORCED["input_mode"]):
        input_mode = _FORCED["input_mode"]
    if path is None:
        algorithm = _forward_algorithm(p, algorithm, n_threads)
        if algorithm == "direct":
            return ForwardPlan(p, ForwardPath.DIRECT, None, n_threads)
        if algorithm == "im2col":
            return ForwardPlan(p, ForwardPath.IM2COL, None, n_threads)
        if algorithm == "fft":
            return ForwardPlan(p, ForwardPath.FFT, None, n_threads)
        if algorithm == "winograd" and _conv_winograd.fits(p):
            return ForwardPlan(p, ForwardPath.WINOGRAD, None, n_threads)
        path, input_mode = _implicit_choice(p)
        forced = False
        mode = _FORCED.get("input_mode")
        if mode is not None and _runs(_check_forced, p, path, mode):
            input_mode, forced = mode, True
    else:
        _check_forced(p, path, input_mode)
        forced = True
    if path in (ForwardPath.DIRECT, ForwardPath.IM2COL, ForwardPath.POINTWISE,
                ForwardPath.ROW_PAIRS, ForwardPath.FFT, ForwardPath.WINOGRAD):
        return ForwardPlan(p, path, None, n_threads)
    pg, shifts = geo.padded_layout(p)[:2]
    itemsize = p.dtype.itemsize
    cog, cig = p.out_channels // p.groups, p.in_channels // p.groups
    kc = min(cig * math.prod(p.kernel_size), tuning.KC)
    room = max(tuning.L2_BYTES - cog * kc * itemsize, tuning.L2_BYTES // 4)
    if path == ForwardPath.IMPLICIT_GEMM:
        mr, nr = _k_isa.tile_shape(p.dtype == np.float32)
        Q = pg.last_position()
        block = geo.pixel_block(nr, geo.round_up(cog, mr) * itemsize, Q, p.batch * p.groups,
                                n_threads, room)
        return ForwardPlan(p, path, InputMode.PADDED_COPY, n_threads, block=block,
                           reach=geo.round_up(Q, block) + int(shifts[-1]))
    ob, npx = _row_tile(p, path)
    out = pg.out
    reach = geo.round_up(out[2], npx) * pg.stride[2] + int(shifts[-1])
    # the channel-lane kernels keep their rows' [pixel][channel] tiles in L2; the
    # pixel-lane kernel stores into y and needs none
    row_bytes = (geo.round_up(out[2], npx) * geo.round_up(cog, ob) * itemsize
                 if path != ForwardPath.PIXEL_ROWS else 0)
    rows_total = out[0] * out[1]
    rows = max(1, min(rows_total, room // row_bytes)) if row_bytes else rows_total
    items = p.batch * p.groups
    while rows > 1 and items * geo.ceil_div(rows_total, rows) < 2 * n_threads:
        rows = geo.ceil_div(rows, 2)
    if input_mode is None:
        share = (geo.unpadded_edge_share(p, npx) if path != ForwardPath.PIXEL_ROWS else None)
        if share is not None and share <= tuning.UNPADDED_ROWS_MAX_EDGE:
            input_mode = InputMode.IN_PLACE
        elif rows == rows_total and ((cig * pg.plane + reach) * itemsize
                                     <= tuning.PAD_PER_ITEM_BYTES):
            input_mode = InputMode.PER_ITEM
        else:
            input_mode = InputMode.PADDED_COPY
    elif input_mode == InputMode.PER_ITEM and forced:
        rows = rows_total  # one work item per image and group
    return ForwardPlan(p, path, input_mode, n_threads, rows=rows, reach=reach)


@functools.lru_cache(maxsize=512)
def cached_forward_plan(p: _validate.ConvParams, algorithm: str, n_threads: int,
                        isa: int, channels_last: bool = False) -> ForwardPlan:
    """forward_plan, kept per configuration and micro-kernel ISA (tile shapes and scratch
    sizes differ per ISA): a repeated call skips the rules."""
    return forward_plan(p, algorithm, n_threads, channels_last=channels_last)


def planned_forward(p: _validate.ConvParams, algorithm: str, n_threads: int,
                    channels_last: bool = False) -> ForwardPlan:
    """The cached forward plan, or a fresh one while paths are forced."""
    if _FORCED:
        return forward_plan(p, algorithm, n_threads, channels_last=channels_last)
    return cached_forward_plan(p, algorithm, n_threads, _k_isa.current_isa(), channels_last)


# validated calls of the public ops: call key -> (params, plan, ...); see _validate.call_key
CALLS = _validate.ValidatedCalls(keep=lambda: not _FORCED)


def clear_caches() -> None:
    """Forget cached plans (after tune() or a change of thresholds) and kept transformed
    weights."""
    cached_forward_plan.cache_clear()
    _weight_cache.KEPT.clear()
    CALLS.clear()
    _pool_plan.clear_caches()
