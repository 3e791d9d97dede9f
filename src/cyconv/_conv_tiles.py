"""Which direct and row micro-kernel fills its tiles: the shares of real work each tile
variant (channel-lane row tiles wide/narrow, pixel-lane rows, 8-pixel row pairs, the
GEMM-shaped kernel's grid) computes for a convolution, and the rules built on them. The
forward plan (_conv_plan) and the gradient plan (_conv_grad_plan) decide with these."""
from __future__ import annotations

import math

import numpy as np

from . import _conv_geometry as geo
from . import _conv_tuning as tuning
from . import _validate
from ._kernels import _isa as _k_isa


def _computed(broadcasts: int, npx: int, narrow: bool, rows: bool) -> int:
    """Broadcast values the direct tiles of ``npx`` compute for ``broadcasts`` real ones: a
    forward row on the wide variant ends on short tiles (geo.row_tiles_width), anything
    else rounds up to whole tiles."""
    if rows and not narrow:
        return geo.row_tiles_width(broadcasts, npx, _k_isa.short_tile_pixels())
    return geo.round_up(broadcasts, npx)


def is_pointwise(p: _validate.ConvParams) -> bool:
    """A 1x1(x1) kernel, stride 1, no padding: the convolution is a GEMM on NCHW as it is."""
    return (all(k == 1 for k in p.kernel_size) and all(s == 1 for s in p.stride)
            and all(lo == 0 and hi == 0 for lo, hi in p.padding))


def implicit_useful_fraction(p: _validate.ConvParams) -> float:
    """Share of the GEMM-shaped implicit kernel's positions that are outputs (0 if strided)."""
    if any(st != 1 for st in p.stride):
        return 0.0
    return math.prod(p.output_shape) / geo.PaddedGrid.of(p).last_position()


def row_tile_useful(p: _validate.ConvParams, narrow: bool) -> float:
    """Share of the row tiles' (variant ``narrow``) computed outputs that are real: output
    channels per group in tiles of OB, each output row in the variant's tiles
    (geo.row_tiles_width for the wide one)."""
    ob, npx = _k_isa.direct_tile_shape(p.dtype == np.float32, narrow)
    width = p.output_shape[-1]
    cog = p.out_channels // p.groups
    return cog / geo.round_up(cog, ob) * width / _computed(width, npx, narrow, True)


def least_waste_variant(p: _validate.ConvParams, lanes: int, broadcasts: int,
                        broadcasts_min_useful: float, rows: bool = False):
    """(narrow, useful share) of the direct micro-kernel variant that wastes the least, or
    (None, 0.0) when none fills its tiles: ``lanes`` (output channels) in tiles of its
    vector lanes, at least CHANNEL_TILE_MIN_USEFUL real, and ``broadcasts`` (row pixels, or
    input channels for the weight gradient) in tiles of its broadcast count, at least
    ``broadcasts_min_useful`` real. ``rows``: the broadcasts are the forward row kernel's
    output rows, which the wide variant ends on short tiles (geo.row_tiles_width)."""
    best, best_useful = None, 0.0
    for narrow in (False, True):
        ob, npx = _k_isa.direct_tile_shape(p.dtype == np.float32, narrow)
        lanes_useful = lanes / geo.round_up(lanes, ob)
        broadcasts_useful = broadcasts / _computed(broadcasts, npx, narrow, rows)
        if lanes_useful >= tuning.CHANNEL_TILE_MIN_USEFUL \
                and broadcasts_useful >= broadcasts_min_useful \
                and lanes_useful * broadcasts_useful > best_useful:
            best, best_useful = narrow, lanes_useful * broadcasts_useful
    return best, best_useful


def row_tile_variant(p: _validate.ConvParams):
    """The row-tile variant (narrow: bool) with the least wasted work, or None when neither
    fills its tiles or, for stride 1, the GEMM-shaped kernel wastes clearly less."""
    cog = p.out_channels // p.groups
    best, best_useful = least_waste_variant(p, cog, p.output_shape[-1],
                                            tuning.ROW_TILE_MIN_USEFUL, rows=True)
    if best is not None and all(st == 1 for st in p.stride):
        mr = _k_isa.tile_shape(p.dtype == np.float32)[0]
        gemm_useful = implicit_useful_fraction(p) * cog / geo.round_up(cog, mr)
        if gemm_useful > tuning.TILE_SWITCH_MIN_GAIN * best_useful:
            return None
    return best


def pixel_rows_fit(p: _validate.ConvParams) -> bool:
    """The pixel-lane row kernel can run: width stride 1, AVX2 or AVX-512 built and present."""
    return p.stride[-1] == 1 and _k_isa.pixel_rows_available()


def pixel_rows_apply(p: _validate.ConvParams, row_tile_useful: float) -> bool:
    """The pixel-lane rows fill their tiles (ROW_TILE_MIN_USEFUL, and PIXEL_ROWS_MIN_SHARE of
    the channel-lane row tiles' ``row_tile_useful``, for this level and dtype: AVX-512
    float64's 24-pixel tiles lost to the row tiles) and one call's operands fit L1."""
    min_share = tuning.PIXEL_ROWS_MIN_SHARE.get((_k_isa.current_isa(), p.dtype.name))
    if min_share is None or not pixel_rows_fit(p):
        return False
    channels, tile_pixels, lanes = _k_isa.pixel_rows_tile(p.dtype == np.float32)
    cig = p.in_channels // p.groups
    kernel = geo.lift(p.kernel_size, p.ndim, 1)
    tile_input = cig * kernel[0] * kernel[1] * (tile_pixels + (kernel[2] - 1) * p.dilation[-1])
    weight_panel = cig * math.prod(kernel) * channels
    if (tile_input + weight_panel) * p.dtype.itemsize > tuning.PIXEL_ROWS_MAX_L1_BYTES:
        return False
    # a row's last tile is shorter by whole vectors
    useful = geo.useful_share(p.out_channels // p.groups, p.output_shape[-1], (channels, lanes))
    return (useful >= tuning.ROW_TILE_MIN_USEFUL
            and useful >= min_share * row_tile_useful)


def channels_last_variant(p: _validate.ConvParams):
    """The tile variant (narrow: bool) of the channels-last row kernel with the fewest
    wasted lanes and pixels (a 1x1 stride-1 unpadded kernel sees each image as one row), or
    None when the output channels per group fill too few of its lanes."""
    pixels = math.prod(p.output_shape) if is_pointwise(p) else p.output_shape[-1]
    return least_waste_variant(p, p.out_channels // p.groups, pixels, 0.0)[0]


def row_pairs_fit(p: _validate.ConvParams) -> bool:
    """The 8-pixel-row kernel can run: float32, 2-D, stride 1, outputs 8 wide and a multiple
    of 8 high, AVX-512 built and present."""
    return (p.dtype == np.float32 and p.ndim == 2 and p.output_shape[1] == 8
            and p.output_shape[0] % 8 == 0 and all(s == 1 for s in p.stride)
            and _k_isa.rowpairs_available())


def row_pairs_apply(p: _validate.ConvParams, row_tile_channels_useful: float) -> bool:
    """... and wastes clearly fewer lanes on padding channels than the row tiles."""
    cog = p.out_channels // p.groups
    return row_pairs_fit(p) and (cog / geo.round_up(cog, _k_isa.rowpairs_panel())
                                 > tuning.TILE_SWITCH_MIN_GAIN * row_tile_channels_useful)
