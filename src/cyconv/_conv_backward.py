"""Executors of the gradient plans: grad_input and grad_weight by their paths, and the fused
depthwise pass. Nothing here decides a path (``_conv_plan`` does), except that the forward
convolutions the gradients are made of take their own 'auto' plans.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import _conv_fft, _conv_winograd, _outputs
from . import _conv_geometry as geo
from . import _conv_grad_plan as grad_plans
from . import _conv_plan as plans
from . import _conv_tuning as tuning
from . import _threads, _validate
from ._conv_forward import depthwise_scratch, run_forward
from ._conv_plan import BackwardPlan, GradInputPath, GradWeightPath
from ._kernels import _direct as _k_direct
from ._kernels import _im2col as _k_im2col
from ._kernels import _im2col_weight as _k_im2col_weight
from ._kernels import _isa as _k_isa
from ._kernels import _layout as _k_layout
from ._kernels import _padded_weight as _k_padded_weight


def flipped(weight: np.ndarray, flip: bool, ndim: int) -> np.ndarray:
    """The weight as the kernels use it: reversed in every spatial dim for true convolution."""
    if flip:
        weight = weight[(Ellipsis,) + (slice(None, None, -1),) * ndim]
    return _validate.for_kernel(weight)


def _forward(p: _validate.ConvParams, x, w, y, n_threads, winograd: bool = False) -> None:
    """y = conv(x, w) for the validated ``p`` (no bias), on its 'auto' plan - Winograd's
    only with ``winograd`` (the gradient of a convolution that ran it), the implicit
    kernels where 'auto' would take it otherwise."""
    algorithm = "winograd" if winograd else "auto"
    if not winograd and plans.resolve_algorithm(p, "auto", n_threads) == "winograd":
        algorithm = "implicit"
    plan = plans.planned_forward(p, algorithm, n_threads)
    run_forward(plan, geo.to5d(x, p.ndim), geo.to5d(w, p.ndim), np.zeros(1, p.dtype), False, y)


def gradient_arrays(need, given, shapes, dtype, zero_input: bool = False) -> tuple:
    """(grad_input, grad_weight, grad_bias) to compute into, None where not in ``need``: the
    ``out=`` arrays in ``given`` where there, else fresh ones; zeroed where the kernels add
    into them (grad_weight, grad_bias, and grad_input with ``zero_input``)."""
    made = []
    for name, target, shape in zip(_validate.GRAD_NAMES, given, shapes):
        zero = name != "input" or zero_input
        if name not in need:
            made.append(None)
        elif target is None:
            made.append(np.zeros(shape, dtype) if zero else _outputs.empty(shape, dtype))
        else:
            if zero:
                target.fill(0)
            made.append(target)
    return tuple(made)


def bias_grad(gy, gb, n_threads) -> None:
    """gb[c] = the sum of grad_output's channel c (each reduced in a fixed order)."""
    _k_direct.bias_grad(gy.reshape(gy.shape[0], gy.shape[1], -1), gb, n_threads)


# ---- grad_input ----------------------------------------------------------------------------

def fft_gradients(plan: BackwardPlan, gy, x, weight, gx, gw, flip: bool) -> None:
    """grad_input and grad_weight of a plan that runs both on FFTs, grad_output's spectrum
    computed once for the two."""
    p, n_threads = plan.params, plan.n_threads
    gf = _conv_fft.grad_output_spectrum(p, gy, n_threads)
    w5 = geo.to5d(flipped(weight, flip, p.ndim), p.ndim)
    _conv_fft.grad_input(p, gy, w5.reshape(p.weight_shape), gx, n_threads, gf)
    target = np.zeros_like(gw) if flip else gw
    _conv_fft.grad_weight(p, gy, geo.to5d(_validate.for_kernel(x), p.ndim).reshape(x.shape),
                          target, n_threads, gf)
    if flip:
        gw[...] = target[(Ellipsis,) + (slice(None, None, -1),) * p.ndim]


def grad_input(plan: BackwardPlan, gy, weight, gx, flip: bool) -> None:
    """grad_input of the plan's convolution into ``gx`` (N, C_in, *input). Needs only the
    input's shape, never the input, so the transposed convolution runs on it. ``gy`` is
    C-contiguous with the convolution's output shape."""
    p, n_threads, path = plan.params, plan.n_threads, plan.grad_input
    w5 = geo.to5d(flipped(weight, flip, p.ndim), p.ndim)
    if path in (GradInputPath.DEPTHWISE_FORWARD, GradInputPath.FORWARD):
        _by_forward_conv(p, gy, w5, gx, n_threads, plan.algorithm == "winograd")
    elif path == GradInputPath.DIRECT:
        _k_direct.direct_backward_input(geo.to5d(gy, p.ndim), w5, geo.to5d(gx, p.ndim), p.groups,
                                 plan.geometry, n_threads)
    elif path == GradInputPath.PHASES:
        _by_phases(p, gy, w5, gx, grad_plans.grad_input_phases(p, min_channels=0), n_threads)
    elif path == GradInputPath.FFT:
        _conv_fft.grad_input(p, gy, w5.reshape(p.weight_shape), gx, n_threads)
    else:
        _im2col_grad_input(p, gy.reshape(p.batch, p.out_channels, -1), w5,
                           geo.to5d(gx, p.ndim), n_threads)


def _swapped_kernel(p, kernel):
    """(G, C_out/G, C_in/G, *k) -> (C_in, C_out/G, *k) flipped in every spatial dim: the
    weight of grad_input as a forward convolution."""
    w_t = kernel.swapaxes(1, 2)[(Ellipsis,) + (slice(None, None, -1),) * p.ndim]
    return np.ascontiguousarray(w_t).reshape((p.in_channels, p.out_channels // p.groups)
                                             + kernel.shape[3:])


def _by_forward_conv(p, gy, w5, gx, n_threads, winograd=False):
    """Stride 1: grad_input is a stride-1 convolution of grad_output with the flipped,
    channel-swapped kernel, padded by dilation*(k-1) - padding (on Winograd's kernel with
    ``winograd``)."""
    G, cog, cig = p.groups, p.out_channels // p.groups, p.in_channels // p.groups
    kernel = w5.reshape((G, cog, cig) + p.kernel_size)
    pads = tuple((d * (k - 1) - lo, d * (k - 1) - hi)
                 for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size))
    t = _validate.ConvParams(
        ndim=p.ndim, batch=p.batch, in_channels=p.out_channels, out_channels=p.in_channels,
        groups=G, input_shape=p.output_shape, kernel_size=p.kernel_size, stride=p.stride,
        padding=pads, dilation=p.dilation, output_shape=p.input_shape, dtype=p.dtype)
    if winograd and _conv_winograd.fits(t):
        # Winograd transforms the swapped, flipped kernel where it lies (no copy of it)
        flipped = kernel.swapaxes(1, 2)[(Ellipsis,) + (slice(None, None, -1),) * p.ndim]
        _conv_winograd.forward(t, n_threads, geo.to5d(gy, p.ndim), None,
                               np.zeros(1, p.dtype), False, gx, weight_groups=flipped,
                               source=w5)
        return
    _forward(t, gy, _swapped_kernel(p, kernel), gx, n_threads, winograd)


def _by_phases(p, gy, w5, gx, phases, n_threads):
    """Strided: stride**ndim stride-1 forward convolutions of grad_output (one per output
    phase, with the phase's taps of the flipped, channel-swapped kernel), each written into
    its strided slice of grad_input (benchmarks/README.md, "grad_input by phases")."""
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
        sub = _swapped_kernel(p, kernel[(Ellipsis,) + taps_index])
        extent = tuple(e for *_, e in dims)
        z = np.empty((p.batch, p.in_channels) + extent, dtype=p.dtype)
        phase = _validate.ConvParams(
            ndim=ndim, batch=p.batch, in_channels=p.out_channels, out_channels=p.in_channels,
            groups=G, input_shape=p.output_shape, kernel_size=sub.shape[2:],
            stride=(1,) * ndim, padding=tuple((lo, hi) for _, _, lo, hi, _ in dims),
            dilation=(1,) * ndim, output_shape=extent, dtype=p.dtype)
        _forward(phase, gy, sub, z, n_threads)
        _k_layout.scatter_phase(geo.to5d(z, ndim), geo.to5d(gx, ndim), *geo.lift(combo, ndim, 0),
                         *geo.lift(p.stride, ndim, 1), n_threads)


def _im2col_grad_input(p, gy3, w5, gx5, n_threads):
    G = p.groups
    cog, cig = p.out_channels // G, p.in_channels // G
    T = math.prod(p.kernel_size)
    mr, nr = _k_isa.tile_shape(p.dtype == np.float32)
    a = geo.pack_panels(w5.reshape(G, cog, cig * T).transpose(0, 2, 1), mr)
    # input channels per work item: a multiple of MR giving at least GRAD_INPUT_ROWS rows
    channel_block = min(geo.ceil_div(cig, mr),
                        max(1, geo.ceil_div(tuning.GRAD_INPUT_ROWS, mr * T))) * mr
    rows = channel_block * T
    # col2im adds each block's taps into the input in block order, so the block size must
    # not depend on the thread count (bitwise identical results): balance for a fixed count
    block = geo.pixel_block(nr, (rows + cog) * p.dtype.itemsize, gy3.shape[2],
                            p.batch * G * geo.ceil_div(cig, channel_block),
                            tuning.COL2IM_BALANCE_THREADS, tuning.L2_BYTES)
    work = np.empty((n_threads, (cog + rows) * block), dtype=p.dtype)
    _k_im2col.gemm_backward_input(gy3, a, gx5, G, geo.conv_geometry(p), block, channel_block, work,
                           tuning.KC, n_threads)


# ---- grad_weight ---------------------------------------------------------------------------

def grad_weight(plan: BackwardPlan, gy, x, gw, flip: bool, gb=None) -> bool:
    """grad_weight of the plan's convolution into the zeroed ``gw`` (shape of the weight as
    passed: with ``flip`` the kernel-order gradient is flipped back). ``gy`` C-contiguous.
    With ``gb`` (C_out,), the paths that pack or transform grad_output (padded, by input
    phases, lowered, Winograd) also sum it into the bias gradient on the way, with
    :func:`bias_grad`'s bits; returns whether ``gb`` was filled."""
    p, n_threads, path = plan.params, plan.n_threads, plan.grad_weight
    x5 = geo.to5d(_validate.for_kernel(x), p.ndim)
    target = np.zeros_like(gw) if flip else gw
    gw5 = geo.to5d(target, p.ndim)
    gy3 = gy.reshape(p.batch, p.out_channels, -1)
    bias_done = False
    if path == GradWeightPath.DIRECT:
        g = plan.geometry
        work, dwork = depthwise_scratch(p, g, n_threads)
        _k_direct.direct_backward_weight(geo.to5d(gy, p.ndim), x5, gw5, p.groups, g, work, dwork,
                                  n_threads)
    elif path in (GradWeightPath.PADDED_WIDE, GradWeightPath.PADDED_NARROW):
        _padded_weight_grad(p, gy3, x5, gw5, path == GradWeightPath.PADDED_NARROW, n_threads,
                            gb=gb)
        bias_done = gb is not None
    elif path == GradWeightPath.PHASES:
        _by_input_phases(p, gy3, x5, target,
                         grad_plans.weight_grad_phases(p, variant=lambda phase: True), n_threads,
                         gb)
        bias_done = gb is not None
    elif path == GradWeightPath.FFT:
        _conv_fft.grad_weight(p, gy, x5.reshape(x.shape), target, n_threads)
    elif path == GradWeightPath.WINOGRAD:
        bias_done = _conv_winograd.weight_grad_partials(p, n_threads, gy, x5, target, gb)
    elif path == GradWeightPath.WINOGRAD_STAGED:
        bias_done = _conv_winograd.weight_grad_staged(p, n_threads, gy, x5, target, gb)
    else:
        _im2col_grad_weight(p, gy3, x5, gw5, n_threads, gb)
        bias_done = gb is not None
    if flip:
        gw[...] = target[(Ellipsis,) + (slice(None, None, -1),) * p.ndim]
    return bias_done


def _by_input_phases(p, gy3, x5, gw, phase_plans, n_threads, gb=None):
    """Strided (dilation 1): one stride-1 padded weight gradient per phase of the input (its
    every s-th element), each filling the taps k0, k0+s, ... of grad_weight; the first also
    the bias gradient into ``gb`` where given."""
    ndim = p.ndim
    for first_taps, phase, slices in phase_plans:
        x_phase = np.empty((p.batch, p.in_channels) + phase.input_shape, dtype=p.dtype)
        _k_layout.gather_phase(x5, geo.to5d(x_phase, ndim),
                        *geo.lift((sl.start for sl in slices), ndim, 0),
                        *geo.lift(p.stride, ndim, 1), n_threads)
        gw_phase = np.zeros((p.out_channels, p.in_channels // p.groups) + phase.kernel_size,
                            dtype=p.dtype)
        narrow = bool(grad_plans.weight_grad_variant(phase))
        _padded_weight_grad(phase, gy3, geo.to5d(x_phase, ndim), geo.to5d(gw_phase, ndim),
                            narrow, n_threads, gb=gb)
        gb = None
        gw[(Ellipsis,) + tuple(slice(k0, None, s) for k0, s in zip(first_taps, p.stride))] = \
            gw_phase


def _padded_weight_grad(p, gy3, x5, gw5, narrow, n_threads, blocking=None, gb=None):
    """grad_weight (stride 1) on the direct micro-kernel with the roles turned: grad_y laid
    on the padded grid [position][channel] (packed in C, into a per-thread scratch buffer),
    the padded input's channels broadcast, the reduction over grid positions. ``blocking``:
    (panel_block, channel_blocks, tap_block) of the work items, else
    ``geo.weight_grad_blocking``'s (any gives the same bits). With ``gb``, the packing also
    sums each grad_y plane, and ``gb`` gets the bias gradient."""
    G, N = p.groups, p.batch
    cig, cog = p.in_channels // G, p.out_channels // G
    ob, npx = _k_isa.direct_tile_shape(p.dtype == np.float32, narrow)
    pg, shifts, _, _ = geo.padded_layout(p)
    Q = pg.last_position()  # the reduction length
    npan = geo.ceil_div(cog, ob)
    grid_geom = geo.geometry(pg.grid, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), pg.out)
    # the last channel block may read up to NP planes past the last channel (dropped rows)
    slack = npx * pg.plane + Q + int(shifts[-1])
    T = len(shifts)
    panel_block, channel_blocks, tap_block = blocking or geo.weight_grad_blocking(
        npan, geo.ceil_div(cig, npx), T, G, npx * ob * (p.dtype.itemsize + 8),
        N * cig * pg.plane, N * npan * Q * ob, p.dtype.itemsize, n_threads)
    scratch = panel_block * channel_blocks * tap_block * npx * ob
    image_stride = p.in_channels * pg.plane
    # no padding: the kernel reads the input where it lies (its channel blocks stay inside
    # each group's planes when a group has NP channels or more) - no padded copy
    in_place = (all(lo == 0 and hi == 0 for lo, hi in p.padding) and cig >= npx
                and x5.flags.c_contiguous)
    with _threads.scratch(N * G * npan * Q * ob, p.dtype, slot="grad_output_grid") as gy_grid, \
            _threads.scratch(0 if in_place else N * image_stride + slack, p.dtype) as buffer:
        with geo.bias_terms(p, gb) as plane_sums:
            _k_layout.pack_grad_output_grid(gy3, gy_grid, grid_geom, G, ob, Q, plane_sums,
                                            gb is not None, n_threads)
        flat = (x5.reshape(-1) if in_place
                else pg.padded_input(x5, slack, n_threads, buffer))
        _k_padded_weight.padded_weight_grad(flat, image_stride, gy_grid, Q, pg.output_runs(), shifts,
                              np.arange(tuning.KC, dtype=np.intp),
                              gw5.reshape(p.out_channels, cig, -1), G, N, pg.plane, tap_block,
                              channel_blocks, panel_block, np.empty((n_threads, scratch), p.dtype),
                              np.empty((n_threads, scratch), np.float64),
                              tuning.KC, tuning.WEIGHT_GRAD_PARTIAL_POSITIONS,
                              narrow, n_threads)


def _im2col_grad_weight(p, gy3, x5, gw5, n_threads, gb=None):
    """grad_weight as GEMMs over (image, pixel block) pieces: grad_y panels against B panels
    packed from x; with ``gb``, each image's grad_y planes are summed into the bias gradient
    by the piece that starts it."""
    G = p.groups
    cog = p.out_channels // G
    kg = (p.in_channels // G) * math.prod(p.kernel_size)
    P = gy3.shape[2]
    mr, nr = _k_isa.tile_shape(p.dtype == np.float32)
    block = min(P, tuning.WEIGHT_GRAD_BLOCK)
    cog_pad, kg_pad = geo.round_up(cog, mr), geo.round_up(kg, nr)
    chunk_bytes = G * cog_pad * kg_pad * p.dtype.itemsize
    chunks = geo.weight_chunks(p.batch * geo.ceil_div(P, block), tuning.MAX_WEIGHT_CHUNKS,
                               chunk_bytes)
    partial = np.zeros((chunks, G, cog_pad, kg_pad), dtype=p.dtype)
    work = np.empty((n_threads, (cog_pad + kg_pad) * block), dtype=p.dtype)
    with geo.bias_terms(p, gb) as plane_sums:
        _k_im2col_weight.gemm_backward_weight(gy3, x5, partial, G, geo.conv_geometry(p), block,
                                              work, plane_sums, gb is not None, n_threads)
    total = partial[0] if chunks == 1 else partial.sum(axis=0)
    gw5[...] = total[:, :cog, :kg].reshape(gw5.shape)


# ---- all gradients of a stride-1 depthwise convolution in one pass -------------------------

def fused_depthwise(plan, gy, x, weight, gx, gw, gb, flip):
    """Every requested gradient of a stride-1 depthwise convolution in one pass over grad_y:
    one (image, channel) plane per work item, whose grad_input, weight-tap sums and bias sum
    share the plane while it is in cache; the per-plane sums are then reduced over images in
    a fixed order (benchmarks/README.md, "fused depthwise backward")."""
    p, n_threads = plan.params, plan.n_threads
    ndim = p.ndim
    taps = math.prod(p.kernel_size)
    w_eff = flipped(weight, flip, ndim).reshape(p.out_channels, taps)
    w_reversed = np.ascontiguousarray(w_eff[:, ::-1])
    g, gt = plan.geometry, plan.transposed_geometry
    elements, doubles = _k_direct.depthwise_backward_work(p.dtype == np.float32, g, gt)
    work = np.empty((n_threads, elements), dtype=p.dtype)
    dwork = np.empty((n_threads, doubles), dtype=np.float64)
    x5 = geo.to5d(_validate.for_kernel(x), ndim)
    gw_taps = np.empty((p.out_channels, taps), dtype=p.dtype)
    _k_direct.depthwise_backward(geo.to5d(gy, ndim), x5, w_reversed,
                          geo.to5d(gx, ndim) if gx is not None
                          else np.empty((1,) * 5, dtype=p.dtype),
                          gw_taps, gb if gb is not None else gw_taps[0],
                          gx is not None, gw is not None, gb is not None, g, gt, work, dwork,
                          np.empty((p.batch * p.out_channels, taps + 1)), n_threads)
    if gw is not None:
        taps_shape = gw_taps.reshape(weight.shape)
        gw[...] = taps_shape[(Ellipsis,) + (slice(None, None, -1),) * ndim] if flip \
            else taps_shape
