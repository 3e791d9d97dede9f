"""Executors of forward convolution plans: one function per path, each allocating its
scratch and calling its kernel. Nothing here decides a path (``_conv_plan`` does).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from . import _conv_fft, _conv_winograd
from . import _conv_geometry as geo
from . import _conv_tuning as tuning
from . import _threads
from ._conv_plan import ROW_KERNELS, ForwardPath, ForwardPlan, InputMode
from ._kernels import _direct as _k_direct
from ._kernels import _im2col as _k_im2col
from ._kernels import _isa as _k_isa
from ._kernels import _pointwise as _k_pointwise
from ._kernels import _rows as _k_rows


def run_forward(plan: ForwardPlan, x5, w5, b, has_bias: bool, y: np.ndarray,
                grid: np.ndarray | None = None) -> np.ndarray:
    """y = conv(x, w) (+ b) by ``plan``; ``x5``/``w5`` contiguous 5-D views, ``b`` a bias
    array (ignored without ``has_bias``), ``y`` C-contiguous (N, C_out, *out).

    ``grid``: for a plan whose input mode is PADDED_COPY, the flat padded copy it would make
    (the input on the padded grid, then ``plan.reach`` zeros), already written by the caller
    (see :func:`takes_grid`); ``x5`` is then unused."""
    path = plan.path
    if path == ForwardPath.DIRECT:
        _direct(plan, x5, w5, b, has_bias, y)
        return y
    if path == ForwardPath.FFT:
        p = plan.params
        _conv_fft.forward(p, x5.reshape((p.batch, p.in_channels) + p.input_shape),
                          w5.reshape(p.weight_shape), b, has_bias, y, plan.n_threads)
        return y
    if path == ForwardPath.WINOGRAD:
        _conv_winograd.forward(plan.params, plan.n_threads, x5, w5, b, has_bias, y)
        return y
    y3 = y.reshape(plan.params.batch, plan.params.out_channels, -1)
    if path == ForwardPath.IM2COL:
        _im2col(plan, x5, w5, b, has_bias, y3)
    elif path == ForwardPath.POINTWISE:
        _pointwise(plan, x5, w5, b, has_bias, y3)
    elif path == ForwardPath.ROW_PAIRS:
        _row_pairs(plan, x5, w5, b, has_bias, y3)
    elif path == ForwardPath.IMPLICIT_GEMM:
        _implicit_gemm(plan, x5, w5, b, has_bias, y3, grid)
    else:
        _rows(plan, x5, w5, b, has_bias, y3, grid)
    return y


def takes_grid(plan: ForwardPlan) -> bool:
    """The plan copies its input onto the zero-padded grid: a caller that builds its input
    anyway can write it there directly (``run_forward(..., grid=)``) and save the copy."""
    return plan.input_mode == InputMode.PADDED_COPY and (
        plan.path == ForwardPath.IMPLICIT_GEMM or plan.path in ROW_KERNELS)


def grid_length(plan: ForwardPlan) -> int:
    """Elements of the padded grid of ``plan`` (:func:`takes_grid`) with its slack."""
    p = plan.params
    return p.batch * p.in_channels * geo.padded_layout(p)[0].plane + plan.reach


def depthwise_scratch(p, g, n_threads):
    """Per-thread scratch of the direct kernels' depthwise planes (padded input plane;
    double lanes of the weight gradient)."""
    elements, doubles = _k_direct.depthwise_work(p.dtype == np.float32, g, p.in_channels // p.groups)
    return (np.empty((n_threads, elements), dtype=p.dtype),
            np.empty((n_threads, doubles), dtype=np.float64))


def _direct(plan, x5, w5, b, has_bias, y):
    p, n_threads = plan.params, plan.n_threads
    work = np.empty((n_threads, plan.depthwise_scratch[0]), dtype=p.dtype)
    _k_direct.direct_forward(x5, w5, y.reshape(plan.shapes5[2]), b, has_bias, p.groups,
                             plan.geometry, work, n_threads)


def _weight_panels(p, w5, mr):
    return geo.pack_panels(w5.reshape(p.groups, p.out_channels // p.groups, -1), mr)


def _im2col(plan, x5, w5, b, has_bias, y3):
    # GEMM choice: our packed micro-kernel per thread on L2-sized pixel blocks inside the
    # OpenMP region, not NumPy's matmul (benchmarks/README.md, "Which GEMM")
    p, n_threads = plan.params, plan.n_threads
    a = _weight_panels(p, w5, _k_isa.tile_shape(p.dtype == np.float32)[0])
    kc, block = plan.im2col_block
    work = np.empty((n_threads, kc * block + block), dtype=p.dtype)
    _k_im2col.gemm_forward(x5, a, y3, b, has_bias, p.groups, plan.geometry, block, work,
                    tuning.KC, n_threads)


def _pointwise(plan, x5, w5, b, has_bias, y3):
    p, n_threads = plan.params, plan.n_threads
    cig = p.in_channels // p.groups
    P = y3.shape[2]
    mr, nr = _k_isa.tile_shape(p.dtype == np.float32)
    a = _weight_panels(p, w5, mr)
    offsets = np.arange(cig, dtype=np.intp) * P
    block = geo.pixel_block(nr, min(cig, tuning.KC) * p.dtype.itemsize, P, p.batch * p.groups,
                            n_threads)
    work = np.empty((n_threads, _k_pointwise.pointwise_work_length(cig, block, tuning.KC,
                                                                 p.dtype == np.float32)),
                    dtype=p.dtype)
    _k_pointwise.pointwise_forward(x5.reshape(p.batch, p.in_channels, P), offsets, a, y3, b, has_bias,
                         p.groups, block, work, tuning.KC, tuning.POINTWISE_ROWS_AHEAD,
                         n_threads)


def _row_pairs(plan, x5, w5, b, has_bias, y3):
    p, n_threads = plan.params, plan.n_threads
    pg, _, offsets, geom = geo.padded_layout(p)
    mr = _k_isa.rowpairs_panel()
    _k_rows.rowpairs_forward(x5, pg.leading_pads, offsets, _weight_panels(p, w5, mr), y3, b,
                        has_bias, p.groups, geom,
                        np.empty((n_threads, (p.in_channels // p.groups) * pg.plane + 16),
                                 dtype=p.dtype),
                        np.empty((n_threads, mr * 64), dtype=p.dtype), tuning.KC, n_threads)


def _implicit_gemm(plan, x5, w5, b, has_bias, y3, grid=None):
    p, n_threads = plan.params, plan.n_threads
    pg, _, offsets, geom = geo.padded_layout(p)
    mr = _k_isa.tile_shape(p.dtype == np.float32)[0]
    image_stride = p.in_channels * pg.plane
    copy = (_threads.scratch(p.batch * image_stride + plan.reach, p.dtype) if grid is None
            else contextlib.nullcontext())
    with copy as buffer:
        flat = grid if grid is not None else pg.padded_input(x5, plan.reach, n_threads, buffer)
        work = np.empty((n_threads, geo.round_up(p.out_channels // p.groups, mr) * plan.block),
                        dtype=p.dtype)
        _k_rows.padded_forward(flat, image_stride, offsets, _weight_panels(p, w5, mr), y3, b,
                          has_bias, p.groups, p.in_channels, geom, False, False, plan.block,
                          work, tuning.KC, n_threads)


def _rows(plan, x5, w5, b, has_bias, y3, grid=None):
    """The row kernels (channel-lane tiles wide/narrow, or pixel-lane) in the plan's input
    mode: the input itself, padded per work item, or one padded copy."""
    p, n_threads = plan.params, plan.n_threads
    pg, _, offsets, geom = geo.padded_layout(p)
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    row_kernel = ROW_KERNELS[plan.path]
    if plan.path == ForwardPath.PIXEL_ROWS:
        ob, npx, _ = _k_isa.pixel_rows_tile(p.dtype == np.float32)
        row_bytes = 0  # stores straight into y
    else:
        ob, npx = _k_isa.direct_tile_shape(p.dtype == np.float32, plan.path == ForwardPath.ROWS_NARROW)
        row_bytes = geo.round_up(pg.out[2], npx) * geo.round_up(cog, ob) * p.dtype.itemsize
    a = _weight_panels(p, w5, ob)
    work = np.empty((n_threads, max(1, plan.rows * row_bytes // p.dtype.itemsize)),
                    dtype=p.dtype)
    image_stride = p.in_channels * pg.plane
    common = (a, y3, b, has_bias, p.groups, p.in_channels)
    if plan.input_mode == InputMode.IN_PLACE:
        raw_offsets, edge_offsets, raw_geom, lb = geo.unpadded_row_layout(p, npx)
        edge_work = np.empty((n_threads, cig * pg.kernel[0] * pg.kernel[1] * lb), dtype=p.dtype)
        _k_rows.padded_forward(x5.reshape(-1), math.prod(x5.shape[1:]), raw_offsets, *common,
                          raw_geom, True, row_kernel, plan.rows, work, tuning.KC, n_threads,
                          None, pg.leading_pads, None, edge_offsets, edge_work)
    elif plan.input_mode == InputMode.PER_ITEM:
        _k_rows.padded_forward(np.zeros(1, p.dtype), image_stride, offsets, *common, geom, True,
                          row_kernel, plan.rows, work, tuning.KC, n_threads, x5,
                          pg.leading_pads,
                          np.empty((n_threads, cig * pg.plane + plan.reach), dtype=p.dtype))
    elif grid is not None:
        _k_rows.padded_forward(grid, image_stride, offsets, *common, geom, True, row_kernel,
                               plan.rows, work, tuning.KC, n_threads)
    else:
        with _threads.scratch(p.batch * image_stride + plan.reach, p.dtype) as buffer:
            flat = pg.padded_input(x5, plan.reach, n_threads, buffer)
            _k_rows.padded_forward(flat, image_stride, offsets, *common, geom, True, row_kernel,
                              plan.rows, work, tuning.KC, n_threads)
