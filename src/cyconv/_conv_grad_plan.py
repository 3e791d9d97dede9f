"""Gradient plans: which kernel path computes grad_input and grad_weight of a convolution.

The rules of the gradient paths (stride-1 grad_input as a forward convolution, the phase
decompositions of strided convolutions, the padded weight gradient's tile variant) and
``backward_plan``, which applies them under ``algorithm=`` or forced paths (``_conv_plan``
owns the enums, the forced-path state and the forward plans).
"""
from __future__ import annotations

import itertools
import math

from . import _conv_geometry as geo
from . import _conv_tuning as tuning
from . import _conv_winograd, _validate
from ._kernels import _isa as _k_isa
from ._conv_plan import (_FORCED, BackwardPlan, GradInputPath, GradWeightPath, _runs,
                         resolve_algorithm)
from ._conv_tiles import least_waste_variant


def grad_input_as_forward(p: _validate.ConvParams) -> bool:
    """Stride 1, padding at most dilation*(k-1), and enough input channels per group for
    the forward kernels' channel tiles (fewer with GRAD_INPUT_FORWARD_MANY_TAPS taps, and on
    levels with narrower tiles where grad_output is nearly the input's size: its forward
    then computes little on padding)."""
    many_taps = math.prod(p.kernel_size) >= tuning.GRAD_INPUT_FORWARD_MANY_TAPS
    min_channels = (tuning.GRAD_INPUT_FORWARD_MIN_CHANNELS_MANY_TAPS if many_taps
                    else tuning.GRAD_INPUT_FORWARD_MIN_CHANNELS)
    if math.prod(p.output_shape) >= tuning.GRAD_INPUT_FORWARD_SAME_SHARE * math.prod(
            p.input_shape):
        min_channels = min(min_channels, tuning.GRAD_INPUT_FORWARD_MIN_CHANNELS_SAME.get(
            _k_isa.current_isa(), min_channels))
    return (all(st == 1 for st in p.stride)
            and p.in_channels // p.groups >= min_channels
            and all(lo <= d * (k - 1) and hi <= d * (k - 1)
                    for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size)))


def depthwise_stride1(p: _validate.ConvParams) -> bool:
    """A stride-1 depthwise convolution (one input and one output channel per group, 1-D or
    2-D, padding at most dilation*(k-1)): its grad_input is a depthwise forward convolution
    and all its gradients can come from one fused pass."""
    return (p.ndim <= 2 and all(st == 1 for st in p.stride)
            and p.in_channels == p.groups and p.out_channels == p.groups
            and all(lo <= d * (k - 1) and hi <= d * (k - 1)
                    for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size)))


def grad_input_phases(p: _validate.ConvParams, min_channels: int | None = None):
    """Per dim, per phase r < stride: (first tap, tap count, pad_lo, pad_hi, size) of the
    stride-1 convolution that computes grad_input[..., r::stride] - or None when the
    decomposition does not apply or does not pay (stride 1, dilation, too few input channels
    per group, a negative pad, or a kernel that is not a multiple, 2x or more, of the stride:
    benchmarks/README.md, "grad_input by phases").

    With stride s (dilation 1), input position i = s*u + r receives grad_output[o] * w[k]
    exactly when k = k0 + s*m with k0 = (r + pad_lo) mod s, at o = u + c - m where
    c = (r + pad_lo - k0) / s: a correlation of grad_output with the taps k0, k0+s, ...
    reversed, padded by M-1-c before, whose output is that phase's U = ceil((I - r)/s)
    positions.
    """
    if all(st == 1 for st in p.stride) or any(d != 1 for d in p.dilation):
        return None
    if min_channels is None:
        min_channels = tuning.GRAD_INPUT_FORWARD_MIN_CHANNELS
    if p.in_channels // p.groups < min_channels:
        return None
    if any(s > 1 and (k % s or k < 2 * s) for k, s in zip(p.kernel_size, p.stride)):
        return None
    per_dim = []
    for size, out, k, s, (lo, _) in zip(p.input_shape, p.output_shape, p.kernel_size,
                                        p.stride, p.padding):
        phases = []
        for r in range(s):
            k0 = (r + lo) % s
            taps = max(0, geo.ceil_div(k - k0, s))
            c = (r + lo - k0) // s
            extent = geo.ceil_div(size - r, s)
            pad_lo = taps - 1 - c
            pad_hi = extent - 1 + taps - out - pad_lo
            if taps and (pad_lo < 0 or pad_hi < 0 or extent < 1):
                return None
            phases.append((k0, taps, pad_lo, pad_hi, extent))
        per_dim.append(phases)
    return per_dim


def weight_grad_variant(p: _validate.ConvParams):
    """The padded weight gradient's variant (narrow: bool) for stride 1 - output channels on
    the lanes, input channels broadcast - or None when neither fills its channel tiles."""
    if any(st != 1 for st in p.stride):
        return None
    cog, cig = p.out_channels // p.groups, p.in_channels // p.groups
    return least_waste_variant(p, cog, cig, tuning.WEIGHT_GRAD_MIN_BROADCAST_USEFUL.get(
        _k_isa.current_isa(), tuning.CHANNEL_TILE_MIN_USEFUL))[0]


def weight_grad_phases(p: _validate.ConvParams, variant=weight_grad_variant):
    """For a strided convolution (dilation 1): per phase combination, the stride-1 weight
    gradient that gives grad_weight[..., k0::s] - as (first taps, ConvParams, input slices)
    - or None when a phase would not reach the padded kernel (``variant`` None).

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
            taps = geo.ceil_div(k - k0, s)
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
        if variant(phase) is None:
            return None
        plans.append((tuple(o[0] for o in combo), phase, tuple(o[2] for o in combo)))
    return plans


def weight_grad_phases_pay(p: _validate.ConvParams) -> bool:
    """'auto' takes the phases for small images with a large lowered partial gradient (its
    GEMMs reduce over an image's few outputs at a time, reading and writing the whole
    partial for each); elsewhere the lowered gradient is 1.1-3.5x faster
    (benchmarks/README.md, "Strided gradients: col2im and the lowered weight gradient")."""
    taps = math.prod(p.kernel_size)
    partial = p.out_channels * (p.in_channels // p.groups) * taps * p.dtype.itemsize
    return (math.prod(p.output_shape) <= tuning.WEIGHT_GRAD_PHASES_MAX_OUTPUTS
            and partial >= tuning.WEIGHT_GRAD_PHASES_MIN_PARTIAL_BYTES)


def lowered_weight_grad_pays(p: _validate.ConvParams) -> bool:
    """'auto' takes the lowered (im2col) weight gradient over the padded one where most of
    the padded grid's positions have no output (small images, wide kernels: the padded
    kernel reduces over all of them) and enough output channels share each lowered panel
    (benchmarks/README.md, "The lowered weight gradient's panels packed from x")."""
    grid = math.prod(n + lo + hi for n, (lo, hi) in zip(p.input_shape, p.padding))
    return (p.out_channels // p.groups >= tuning.WEIGHT_GRAD_LOWERED_MIN_CHANNELS
            and math.prod(p.output_shape) < tuning.WEIGHT_GRAD_LOWERED_MAX_SHARE * grid)


def _padded_weight_path(narrow: bool) -> GradWeightPath:
    return GradWeightPath.PADDED_NARROW if narrow else GradWeightPath.PADDED_WIDE


def backward_plan(p: _validate.ConvParams, algorithm: str, n_threads: int, *,
                  grad_input: GradInputPath | None = None,
                  grad_weight: GradWeightPath | None = None) -> BackwardPlan:
    """The gradient paths of ``p`` under ``algorithm``, or forced.

    'direct', 'im2col', 'implicit' and 'fft' choose that family for both gradients: the
    per-tap kernels; GEMM + col2im and the lowered weight gradient; the forward kernels
    (grad_input as forward convolutions, the weight gradient on the padded micro-kernel)
    where they apply - a strided convolution's gradients by phases - and im2col elsewhere;
    FFTs. 'auto' resolves to an algorithm for grad_input and takes the padded weight
    gradient wherever it applies, except where the lowered one pays
    (:func:`lowered_weight_grad_pays`); a strided convolution's grad_input on col2im and
    its weight gradient lowered, by phases only where :func:`weight_grad_phases_pay`.
    """
    requested = algorithm
    algorithm = resolve_algorithm(p, algorithm, n_threads)
    # Winograd runs where grad_input is a forward convolution; the rest as 'implicit'
    family = "implicit" if algorithm == "winograd" else algorithm
    if grad_input is None and "grad_input" in _FORCED \
            and _runs(_check_forced_backward, p, _FORCED["grad_input"], None):
        grad_input = _FORCED["grad_input"]
    if grad_weight is None and "grad_weight" in _FORCED \
            and _runs(_check_forced_backward, p, None, _FORCED["grad_weight"]):
        grad_weight = _FORCED["grad_weight"]
    fused = (algorithm == "direct" and depthwise_stride1(p)
             and grad_input is None and grad_weight is None)
    if algorithm == "fft":
        grad_input = grad_input or GradInputPath.FFT
        grad_weight = grad_weight or GradWeightPath.FFT
    if algorithm == "winograd" and _conv_winograd.weight_grad_fits(p):
        grad_weight = grad_weight or (GradWeightPath.WINOGRAD if _conv_winograd.partials_pay(p)
                                      else GradWeightPath.WINOGRAD_STAGED)
    if grad_input is None:
        if algorithm == "direct":
            grad_input = (GradInputPath.DEPTHWISE_FORWARD if depthwise_stride1(p)
                          else GradInputPath.DIRECT)
        elif family == "implicit" and grad_input_as_forward(p):
            grad_input = GradInputPath.FORWARD
        elif requested == "implicit" and grad_input_phases(p) is not None:
            # 'auto' leaves it: col2im was 1.0-4x faster on every strided shape measured
            # (benchmarks/README.md, "Strided gradients: col2im and the lowered ...")
            grad_input = GradInputPath.PHASES
        else:
            grad_input = GradInputPath.IM2COL
    if grad_weight is None:
        if algorithm == "direct":
            grad_weight = GradWeightPath.DIRECT
        elif requested == "im2col":
            grad_weight = GradWeightPath.IM2COL
        elif (variant := weight_grad_variant(p)) is not None \
                and not (requested == "auto" and lowered_weight_grad_pays(p)):
            grad_weight = _padded_weight_path(variant)
        elif (requested == "implicit" or weight_grad_phases_pay(p)) \
                and weight_grad_phases(p) is not None:
            grad_weight = GradWeightPath.PHASES
        else:
            grad_weight = GradWeightPath.IM2COL
    _check_forced_backward(p, grad_input, grad_weight)
    return BackwardPlan(p, grad_input, grad_weight, fused, algorithm, n_threads)


def _check_forced_backward(p, grad_input, grad_weight) -> None:
    why = None
    if grad_input == GradInputPath.DEPTHWISE_FORWARD and not depthwise_stride1(p):
        why = "grad_input depthwise-forward needs a stride-1 1-D/2-D depthwise convolution"
    elif grad_input == GradInputPath.FORWARD and not (
            all(s == 1 for s in p.stride)
            and all(lo <= d * (k - 1) and hi <= d * (k - 1)
                    for (lo, hi), d, k in zip(p.padding, p.dilation, p.kernel_size))):
        why = "grad_input forward needs stride 1 and padding at most dilation*(k-1)"
    elif grad_input == GradInputPath.PHASES and grad_input_phases(p, min_channels=0) is None:
        why = "grad_input phases needs stride > 1, no dilation and kernels k*s-aligned"
    elif (grad_weight in (GradWeightPath.PADDED_WIDE, GradWeightPath.PADDED_NARROW)
          and any(s != 1 for s in p.stride)):
        why = f"grad_weight {grad_weight.value} needs stride 1"
    elif grad_weight in (GradWeightPath.WINOGRAD, GradWeightPath.WINOGRAD_STAGED) \
            and not _conv_winograd.weight_grad_fits(p):
        why = "grad_weight winograd needs a 2-D 3x3 kernel and stride 1"
    elif grad_weight == GradWeightPath.PHASES and weight_grad_phases(
            p, variant=lambda phase: True) is None:
        why = "grad_weight phases needs stride > 1 and no dilation"
    if why:
        raise ValueError(f"{why}; the convolution is {p}")
