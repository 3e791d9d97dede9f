"""Convolution on channels-last memory: an (N, C, *spatial) view of C-contiguous
(N, *spatial, C) memory - what ``x.transpose(0, 2, 3, 1)`` of an NHWC array gives, and what
PyTorch calls ``channels_last`` - read where it lies, the output written in the same memory
format.

The result arrays; the layout of the channels-last row kernel for a convolution (work
split, in place or banded input, tap offsets); and the executor of a plan for a
channels-last input. The plan (``_conv_plan``) decides whether the kernel runs; the layout
test is ``_validate.is_channels_last``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from . import _conv_geometry as geo
from . import _conv_winograd
from . import _conv_tuning as tuning
from . import _validate
from ._kernels import _channels_last as _k_channels_last
from ._conv_plan import ForwardPath, ForwardPlan
from ._conv_tiles import is_pointwise
from ._kernels import _isa as _k_isa
from ._kernels import _layout as _k_layout


def _last(a: np.ndarray) -> np.ndarray:
    """The (N, pixels, C) view of channels-last ``a``."""
    return np.moveaxis(a, 1, -1).reshape(a.shape[0], -1, a.shape[1])


def _first(a: np.ndarray) -> np.ndarray:
    """The (N, C, pixels) view of C-contiguous ``a``."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def like_input(y: np.ndarray, n_threads: int) -> np.ndarray:
    """``y`` in channels-last memory: itself when it is, else a copy."""
    if np.moveaxis(y, 1, -1).flags.c_contiguous:
        return y
    out = empty(y.shape, y.dtype)
    _k_layout.swap_last_axes(_first(_validate.for_kernel(y)), _last(out), n_threads)
    return out


def to_nchw(x: np.ndarray, n_threads: int) -> np.ndarray:
    """A C-contiguous copy of channels-last ``x``."""
    out = np.empty(x.shape, x.dtype)
    _k_layout.swap_last_axes(_last(x), _first(out), n_threads)
    return out


def empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised (N, C, *spatial) array in channels-last memory."""
    return np.moveaxis(np.empty((shape[0],) + tuple(shape[2:]) + (shape[1],), dtype), -1, 1)


@dataclass(frozen=True, eq=False)
class Layout:
    """How the channels-last row kernel runs one convolution.

    ``geometry``: the kernel's ``Geom`` (a 1x1 stride-1 unpadded convolution sees each
    image as one row of D*H*W pixels); ``narrow``: the tile variant; ``rows``/``span``:
    output rows and pixels per row of a work item; ``band``: (BD, BH, BW) pixels of the
    zero-padded input rows each work item copies, or None to read the input in place;
    ``offsets``: tap k = (tap, ci) as an element offset from an output pixel's first
    input element; ``work``: scratch elements per thread.
    """

    geometry: dict
    narrow: bool
    rows: int
    span: int
    band: tuple | None
    offsets: np.ndarray
    work: int


@functools.lru_cache(maxsize=256)
def layout(p: _validate.ConvParams, narrow: bool, n_threads: int) -> Layout:
    """The channels-last kernel's layout of ``p`` with tile variant ``narrow``."""
    g = geo.conv_geometry(p)
    if is_pointwise(p):  # 1x1, stride 1, unpadded: each image one row of pixels
        size = math.prod(p.input_shape)
        g = dict(g, D=1, H=1, W=size, OD=1, OH=1, OW=size)
    ob, npx = _k_isa.direct_tile_shape(p.dtype == np.float32, narrow)
    C, itemsize = p.in_channels, p.dtype.itemsize
    reach_w = (g["KW"] - 1) * g["DW"] + 1
    padded = any(lo or hi for lo, hi in p.padding)
    in_place = not padded and g["OW"] >= npx
    BD = (g["KD"] - 1) * g["DD"] + 1
    BW = max(g["W"] + sum(p.padding[-1]), (npx - 1) * g["SW"] + reach_w)
    items = p.batch * g["OD"]

    def band_rows(rows):
        return (rows - 1) * g["SH"] + (g["KH"] - 1) * g["DH"] + 1

    def item_bytes(rows):  # the input rows a work item reads
        return BD * band_rows(rows) * (g["W"] if in_place else BW) * C * itemsize

    span = g["OW"]
    if in_place and items * g["OH"] < 2 * n_threads:
        # too few rows to share: split each row into spans of whole tiles
        span = geo.round_up(geo.ceil_div(g["OW"], geo.ceil_div(2 * n_threads, items)), npx)
    chunks = geo.ceil_div(g["OW"], span)
    rows = max(1, min(g["OH"], tuning.L2_TARGET_BYTES // max(item_bytes(1), 1)))
    best, best_balance = rows, 0.0
    for r in range(rows, 0, -1):  # static scheduling: the busiest thread sets the time
        count = items * chunks * geo.ceil_div(g["OH"], r)
        balance = count / (n_threads * geo.ceil_div(count, n_threads)) if count else 1.0
        if balance >= 0.9:
            best = r
            break
        if balance > best_balance:
            best, best_balance = r, balance
    rows = best
    band = None if in_place else (BD, band_rows(rows), BW)
    H_s, W_s = (g["H"], g["W"]) if in_place else band[1:]
    cig = C // p.groups
    kd = np.arange(g["KD"])[:, None, None, None] * g["DD"]
    kh = np.arange(g["KH"])[None, :, None, None] * g["DH"]
    kw = np.arange(g["KW"])[None, None, :, None] * g["DW"]
    ci = np.arange(cig)[None, None, None, :]
    offsets = (((kd * H_s + kh) * W_s + kw) * C + ci).ravel().astype(np.intp)
    offsets.flags.writeable = False
    work = (0 if in_place else math.prod(band) * C) + ob * npx
    return Layout(g, narrow, rows, span, band, offsets, work)


def run(plan: ForwardPlan, x: np.ndarray, weight: np.ndarray, bias, has_bias: bool,
        y: np.ndarray, run_nchw) -> np.ndarray:
    """y = conv(x, weight) (+ bias) by ``plan`` for ``x`` and ``y`` each C-contiguous or in
    channels-last memory (``x`` channels-last on the CHANNELS_LAST path); ``weight``
    (C_out, C_in/groups, *kernel). Other paths run ``run_nchw(x, y)`` on C-contiguous
    arrays (copies where they are not)."""
    p = plan.params
    if plan.path == ForwardPath.WINOGRAD and _validate.is_channels_last(x):
        # reads and writes either memory format where it lies
        _conv_winograd.forward(p, plan.n_threads, x[:, :, None], weight, bias, has_bias, y)
        return y
    if plan.path != ForwardPath.CHANNELS_LAST:
        y_nchw = y if y.flags.c_contiguous else np.empty(y.shape, y.dtype)
        run_nchw(to_nchw(x, plan.n_threads) if _validate.is_channels_last(x)
                 else _validate.for_kernel(x), y_nchw)
        if y_nchw is not y:
            _k_layout.swap_last_axes(_first(y_nchw), _last(y), plan.n_threads)
        return y
    target = y if np.moveaxis(y, 1, -1).flags.c_contiguous else empty(y.shape, y.dtype)
    lay = layout(p, plan.narrow, plan.n_threads)
    ob = _k_isa.direct_tile_shape(p.dtype == np.float32, plan.narrow)[0]
    G, cog, cig = p.groups, p.out_channels // p.groups, p.in_channels // p.groups
    # k = tap * C/groups + ci: consecutive k read consecutive channels of one pixel
    a = geo.pack_panels(weight.reshape(G, cog, cig, -1).transpose(0, 1, 3, 2)
                        .reshape(G, cog, -1), ob)
    work = np.empty((plan.n_threads, lay.work), dtype=p.dtype)
    _k_channels_last.channels_last_forward(
        np.moveaxis(x, 1, -1).reshape(-1), p.batch, p.in_channels, a, lay.offsets,
        np.moveaxis(target, 1, -1).reshape(-1), p.out_channels, bias, has_bias, G,
        lay.geometry, plan.narrow, lay.rows, lay.span, lay.band, work, plan.n_threads)
    if target is not y:
        _k_layout.swap_last_axes(_last(target), _first(y), plan.n_threads)
    return y
