"""Public convolution ops: validate and normalize the arguments, take the plan, run it.

The plans (``_conv_plan``) name the kernel path of each pass; the executors
(``_conv_forward``, ``_conv_backward``) run them on 5-D views (N, C, D, H, W): a 2-D
convolution is a 3-D one with a singleton depth, so one set of kernels serves every
dimensionality.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from . import _conv_backward as grads
from . import _conv_channels_last as _channels_last
from . import _conv_grad_plan, _conv_plan, _half, _outputs, _padding_modes, _threads, _validate
from . import _conv_forward
from ._conv_forward import run_forward
from ._kernels._isa import current_isa as _isa
from ._conv_plan import (ALGORITHMS, BackwardPlan, ForwardPath, ForwardPlan,  # noqa: F401
                         GradInputPath, GradWeightPath, InputMode, choose_algorithm,
                         forced_paths)
from ._validate import ConvGrads


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
    for algorithm in _conv_plan.auto_candidates(p):
        def run():
            _forward_op(x, weight, bias, flip=False, algorithm=algorithm, out=None, **kw)
            if backward:
                _backward_op(gy, x, weight, flip=False, need=("input", "weight", "bias"),
                               algorithm=algorithm, **kw)
        run()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        timings[algorithm] = statistics.median(times)
    _conv_plan.TUNED[_conv_plan.config_key(p, n_threads)] = min(timings, key=timings.get)
    _conv_plan.clear_caches()
    return timings


class ConvPlans(NamedTuple):
    """The kernel path of each pass of a convolution (``str()`` prints them)."""

    forward: ForwardPlan
    backward: BackwardPlan

    def __str__(self) -> str:
        return f"forward {self.forward}; {self.backward}"


def plan_conv(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
              algorithm="auto", num_threads=None) -> ConvPlans:
    """The plans a convolution with these arguments runs: which kernel path computes the
    forward pass, grad_input and grad_weight (1-D, 2-D or 3-D by ``x.ndim``).

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups, algorithm, num_threads
        As for :func:`conv2d` (only shapes, dtypes and whether ``x`` is in channels-last
        memory matter).

    Returns
    -------
    ConvPlans
        ``(forward, backward)``: ``forward.path`` is a :class:`ForwardPath` (with
        ``forward.input_mode`` an :class:`InputMode` for the implicit row and GEMM
        kernels); ``backward.grad_input`` a :class:`GradInputPath`, ``backward.grad_weight``
        a :class:`GradWeightPath`.

    Examples
    --------
    >>> print(cyconv.plan_conv(np.ones((8, 64, 56, 56), np.float32),
    ...                        np.ones((64, 64, 3, 3), np.float32), padding=1))
    forward rows-wide (padded-copy); grad_input forward, grad_weight padded-narrow
    """
    x = _validate.array_like(x, "x")
    weight = _validate.array_like(weight, "weight")
    bias = _validate.array_like(bias, "bias")
    ndim = np.ndim(x) - 2
    if not 1 <= ndim <= 3:
        raise ValueError(f"x must have a batch, a channel and 1-3 spatial dims, got shape {np.shape(x)}")
    p = _validate.conv_params(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, ndim=ndim)
    algorithm = _conv_plan.check_algorithm(algorithm)
    n_threads = _threads.for_work(_threads.resolve(num_threads), p.flops // 2,
                                  _threads.SMALL_CONV_MACS)
    channels_last = isinstance(x, np.ndarray) and _validate.is_channels_last(x)
    return ConvPlans(_conv_plan.planned_forward(p, algorithm, n_threads, channels_last),
                     _conv_grad_plan.backward_plan(p, algorithm, n_threads))


# the kernels' bias argument when there is none (read-only, never read)
_NO_BIAS = {np.dtype(t).char: np.zeros(1, t) for t in (np.float32, np.float64)}
for _zero in _NO_BIAS.values():
    _zero.flags.writeable = False


def _checked(x, weight, bias, stride, padding, dilation, groups, flip, algorithm, n_threads,
             ndim):
    """(params, algorithm, thread count for the work) of a call, every argument checked."""
    p = _validate.conv_params(x, weight, bias, stride=stride, padding=padding,
                              dilation=dilation, groups=groups, ndim=ndim)
    _validate.check_bool(flip, "flip")
    algorithm = _conv_plan.check_algorithm(algorithm)
    return p, algorithm, _threads.for_work(n_threads, p.flops // 2, _threads.SMALL_CONV_MACS)


def _forward_op(x, weight, bias, *, stride, padding, dilation, groups, flip, algorithm,
                num_threads, out, ndim, padding_mode="zeros"):
    x = _validate.array_like(x, "x")
    weight = _validate.array_like(weight, "weight")
    bias = _validate.array_like(bias, "bias")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        given = out
        y = _forward_op(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                        out=None if out is None else _validate.unbatched_out(out), ndim=ndim,
                        padding_mode=padding_mode)
        return y[0] if given is None else given
    # an NCHW view of NHWC memory: read where it lies, the result in the same format
    channels_last = isinstance(x, np.ndarray) and _validate.is_channels_last(x)
    try:  # free on the float32/float64 path
        if padding_mode != "zeros":  # run unpadded on the mode's padded copy
            p = _padding_modes.checked_params(x, weight, bias, stride=stride, padding=padding,
                                              dilation=dilation, groups=groups, ndim=ndim,
                                              padding_mode=padding_mode)
            xp = _padding_modes.pad(x, p.padding, padding_mode, num_threads)
            y = _forward_op(xp, weight, bias, stride=stride, padding=0, dilation=dilation,
                            groups=groups, flip=flip, algorithm=algorithm,
                            num_threads=num_threads, out=out, ndim=ndim)
            if channels_last and out is None:
                return _channels_last.like_input(y, _threads.resolve(num_threads))
            return y
        n_threads = _threads.resolve(num_threads)
        key = _validate.call_key((x, weight, bias), ("forward", stride, padding, dilation,
                                                      groups, flip, algorithm, n_threads, ndim,
                                                      _isa(), channels_last))
        entry = _conv_plan.CALLS.get(key)
        if entry is None:
            p, algorithm, n = _checked(x, weight, bias, stride, padding, dilation, groups, flip,
                                       algorithm, n_threads, ndim)
            entry = (p, _conv_plan.planned_forward(p, algorithm, n, channels_last))
            _conv_plan.CALLS.put(key, entry)
    except _validate.Float16Input:  # computed in float32, rounded to float16 once
        return _half.rerun(
            lambda x, weight, bias: _forward_op(
                x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                out=None, ndim=ndim, padding_mode=padding_mode),
            dict(x=x, weight=weight, bias=bias), out)
    p, plan = entry
    x5_shape, w5_shape, _ = plan.shapes5
    shape = p.output_array_shape
    if out is not None:  # C-contiguous or channels-last, whatever the input's layout
        y = _validate.check_out(out, shape, p.dtype, (x, weight, bias), channels_last=True)
    elif channels_last:
        y = _channels_last.empty(shape, p.dtype)
    else:
        y = _outputs.empty(shape, p.dtype)
    if p.batch == 0:
        return y
    has_bias = bias is not None
    b = _validate.for_kernel(bias) if has_bias else _NO_BIAS[p.dtype.char]
    w = grads.flipped(weight, flip, ndim)
    if channels_last or not y.flags.c_contiguous:
        return _channels_last.run(
            plan, x, w, b, has_bias, y,
            lambda x_nchw, y_nchw: run_forward(plan, x_nchw.reshape(x5_shape),
                                               w.reshape(w5_shape), b, has_bias, y_nchw))
    return run_forward(plan, _validate.for_kernel(x).reshape(x5_shape), w.reshape(w5_shape), b,
                       has_bias, y)


def _forward_filled(fill, shape: tuple, dtype, weight, bias, *, stride, dilation, groups,
                    flip, algorithm, num_threads, ndim):
    """``conv{ndim}d`` (padding 0) of the C-contiguous (N, C, *spatial) array that
    ``fill(out)`` writes into ``out``: into the kernels' padded copy itself where the plan
    makes one, so an input assembled from pieces (``cyconv.dask``'s blocks and their halos)
    is written once, not assembled and then copied. float32/float64 arrays only."""
    template = np.broadcast_to(np.zeros((), dtype), shape)  # validation reads shapes only
    p, algorithm, n = _checked(template, weight, bias, stride, 0, dilation, groups, flip,
                               algorithm, _threads.resolve(num_threads), ndim)
    plan = _conv_plan.planned_forward(p, algorithm, n)
    y = np.empty(p.output_array_shape, dtype=p.dtype)
    has_bias = bias is not None
    b = _validate.for_kernel(bias) if has_bias else _NO_BIAS[p.dtype.char]
    w5 = grads.flipped(weight, flip, ndim).reshape(plan.shapes5[1])
    if p.batch and _conv_forward.takes_grid(plan):
        grid = np.empty(_conv_forward.grid_length(plan), dtype=p.dtype)
        used = math.prod(shape)
        grid[used:] = 0
        fill(grid[:used].reshape(shape))
        return _conv_forward.run_forward(plan, None, w5, b, has_bias, y, grid=grid)
    x = np.empty(shape, dtype=p.dtype)
    fill(x)
    if p.batch == 0:
        return y
    return _conv_forward.run_forward(plan, x.reshape(plan.shapes5[0]), w5, b, has_bias, y)


def _backward_op(grad_output, x, weight, *, stride, padding, dilation, groups, flip, need,
                 algorithm, num_threads, ndim, padding_mode="zeros", out=None):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    weight = _validate.array_like(weight, "weight")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        grad_output = _validate.batched(grad_output, ndim)[0]
        gx, gw, gb = _backward_op(grad_output, x, weight, stride=stride, padding=padding,
                                  dilation=dilation, groups=groups, flip=flip, need=need,
                                  algorithm=algorithm, num_threads=num_threads, ndim=ndim,
                                  padding_mode=padding_mode,
                                  out=_validate.unbatched_grad_out(out))
        return _validate.unbatched_grads(ConvGrads(gx, gw, gb), out)
    try:  # free on the float32/float64 path
        return _backward_checked(grad_output, x, weight, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups, flip=flip, need=need,
                                 algorithm=algorithm, num_threads=num_threads, ndim=ndim,
                                 padding_mode=padding_mode, out=out)
    except _validate.Float16Input:  # computed in float32, rounded to float16 once
        return _half.rerun(
            lambda grad_output, x, weight: _backward_op(
                grad_output, x, weight, stride=stride, padding=padding, dilation=dilation,
                groups=groups, flip=flip, need=need, algorithm=algorithm,
                num_threads=num_threads, ndim=ndim, padding_mode=padding_mode),
            dict(grad_output=grad_output, x=x, weight=weight), out)


def _backward_checked(grad_output, x, weight, *, stride, padding, dilation, groups, flip, need,
                      algorithm, num_threads, ndim, padding_mode, out):
    """_backward_op on batched array inputs."""
    if padding_mode != "zeros":
        p = _padding_modes.checked_params(x, weight, None, stride=stride, padding=padding,
                                          dilation=dilation, groups=groups, ndim=ndim,
                                          padding_mode=padding_mode)
        given = _validate.check_grad_outs(out, _validate.check_need(need),
                                          (x.shape, weight.shape, (p.out_channels,)), p.dtype,
                                          (grad_output, x, weight))
        xp = _padding_modes.pad(x, p.padding, padding_mode, num_threads)
        gx, gw, gb = _backward_op(grad_output, xp, weight, stride=stride, padding=0,
                                  dilation=dilation, groups=groups, flip=flip, need=need,
                                  algorithm=algorithm, num_threads=num_threads, ndim=ndim,
                                  out=(None, given[1], given[2]))
        if gx is not None:
            gx = _padding_modes.fold(gx, x.shape, p.padding, padding_mode, num_threads)
            if given[0] is not None:
                given[0][...] = gx
                gx = given[0]
        return ConvGrads(gx, gw, gb)
    n_threads = _threads.resolve(num_threads)
    key = _validate.call_key((grad_output, x, weight), ("backward", stride, padding, dilation,
                                                        groups, flip, need, algorithm,
                                                        n_threads, ndim, _isa()))
    entry = _conv_plan.CALLS.get(key)
    if entry is None:
        p, algorithm, n = _checked(x, weight, None, stride, padding, dilation, groups, flip,
                                   algorithm, n_threads, ndim)
        need = _validate.check_need(need)
        grad_output = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
        plan = (_conv_grad_plan.backward_plan(p, algorithm, n) if need & {"input", "weight"}
                else None)
        entry = (p, need, plan, n)
        _conv_plan.CALLS.put(key, entry)
    p, need, plan, n_threads = entry
    shapes = (x.shape, weight.shape, (p.out_channels,))
    if out is None:  # the hot path
        gx, gw, gb = grads.gradient_arrays(need, (None, None, None), shapes, p.dtype)
    else:
        gx, gw, gb = grads.gradient_arrays(need, _validate.check_grad_outs(
            out, need, shapes, p.dtype, (grad_output, x, weight)), shapes, p.dtype)
    if p.batch == 0:
        if gx is not None:
            gx[...] = 0
        return ConvGrads(gx, gw, gb)
    gy = _validate.for_kernel(grad_output)
    if plan is not None and plan.fused_depthwise:
        grads.fused_depthwise(plan, gy, x, weight, gx, gw, gb, flip)
        return ConvGrads(gx, gw, gb)
    bias_done = False
    if gx is not None and gw is not None and plan.grad_input == GradInputPath.FFT \
            and plan.grad_weight == GradWeightPath.FFT:
        grads.fft_gradients(plan, gy, x, weight, gx, gw, flip)
    else:
        if gx is not None:
            grads.grad_input(plan, gy, weight, gx, flip)
        if gw is not None:  # may sum grad_output into gb on the way (the same bits)
            bias_done = grads.grad_weight(plan, gy, x, gw, flip, gb)
    if gb is not None and not bias_done:
        grads.bias_grad(gy, gb, n_threads)
    return ConvGrads(gx, gw, gb)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           algorithm="auto", num_threads=None, out=None, padding_mode="zeros"):
    """2-D convolution (cross-correlation by default), as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), float32 or float64
        A view of channels-last memory (``x_nhwc.transpose(0, 3, 1, 2)``, torch's ``channels_last``)
        is read where it lies and the result returned in the same memory format.
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
    algorithm : {'auto', 'direct', 'im2col', 'implicit', 'fft', 'winograd'}
        'implicit' reads the zero-padded input in place (no lowering): a row-tiled direct
        kernel, or for stride 1 with uneven rows a GEMM-shaped kernel. 'fft' multiplies
        real FFTs (any kernel size; stride by decimation); 'winograd' runs F(4x4, 3x3) on
        3x3 stride-1 kernels (the implicit kernels elsewhere); both with a normwise error
        bound (README, accuracy contract).
    num_threads : int, optional
        Threads for this call (default: :func:`cyconv.get_num_threads`).
    out : ndarray, shape (N, C_out, H_out, W_out), optional
        C-contiguous array of the result dtype to write into.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        How ``padding`` extends the input, as ``torch.nn.Conv2d``: zeros, a mirror image
        without repeating the edge (padding < the input size), copies of the edge, or the
        input wrapped around (padding <= the input size).

    Returns
    -------
    y : ndarray, shape (N, C_out, H_out, W_out)
        ``H_out = (H + pad_top + pad_bottom - dilation*(kH-1) - 1) // stride + 1``.
    """
    return _forward_op(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                         out=out, ndim=2, padding_mode=padding_mode)


def conv2d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), algorithm="auto",
                    num_threads=None, padding_mode="zeros", out=None):
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, H_out, W_out)
        Gradient of the loss with respect to ``conv2d(x, weight, ...)``.
    x, weight, stride, padding, dilation, groups, flip, num_threads
        As given to :func:`conv2d`.
    algorithm : {'auto', 'direct', 'im2col', 'implicit', 'fft', 'winograd'}
        The kernel family of both gradients: 'direct' the per-tap kernels; 'im2col' GEMM +
        col2im for grad_input and the lowered weight gradient; 'implicit' the forward
        kernels where they apply (grad_input as one stride-1 forward convolution of
        grad_output, or one per phase for strided kernels a multiple of the stride; the
        weight gradient on the padded micro-kernel, by input phases when strided) and
        im2col elsewhere; 'fft' FFTs; 'winograd' as 'implicit' with grad_input of a 3x3
        stride-1 convolution on the Winograd kernel. 'auto' picks per gradient by shape;
        :func:`plan_conv` shows the paths.
    need : tuple of {'input', 'weight', 'bias'}
        Which gradients to compute; the others come back as None.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        As given to :func:`conv2d`; the gradient of every padded copy of an input element
        flows back to that element.
    out : (grad_input, grad_weight, grad_bias) tuple, optional
        Arrays to write the gradients into (each C-contiguous, of the gradient's shape and
        dtype, not overlapping the inputs or each other); None entries get fresh arrays, and
        only gradients in ``need`` may be given. The returned ConvGrads holds them.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, H, W), grad_weight (C_out, C_in/groups, kH, kW),
        grad_bias (C_out,))``.
    """
    return _backward_op(grad_output, x, weight, stride=stride, padding=padding,
                          dilation=dilation, groups=groups, flip=flip, need=need,
                          algorithm=algorithm, num_threads=num_threads, ndim=2,
                          padding_mode=padding_mode, out=out)


def conv1d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           algorithm="auto", num_threads=None, out=None, padding_mode="zeros"):
    """1-D convolution (cross-correlation by default), as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L), float32 or float64
        A view of channels-last memory (``x_nlc.transpose(0, 2, 1)``, torch's ``channels_last``)
        is read where it lies and the result returned in the same memory format.
    weight : ndarray, shape (C_out, C_in/groups, k), same dtype as x
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or (int,)
    padding : int, (int,), ((left, right),), 'valid', 'same', 'full' or 'causal'
        'causal' pads ``dilation*(k-1)`` zeros on the left only, so ``y[..., t]`` depends on
        ``x[..., :t+1]`` alone. 'same' with an even kernel puts the extra element at the end;
        ``numpy.convolve`` puts it at the start (``((k//2, (k-1)//2),)`` reproduces it).
    groups, flip, algorithm, num_threads, padding_mode
        As :func:`conv2d`; ``flip=True`` matches ``numpy.convolve`` for one channel.
    out : ndarray, shape (N, C_out, L_out), optional

    Returns
    -------
    y : ndarray, shape (N, C_out, L_out)
        ``L_out = (L + pad_left + pad_right - dilation*(k-1) - 1) // stride + 1``.
    """
    return _forward_op(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                         out=out, ndim=1, padding_mode=padding_mode)


def conv3d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           algorithm="auto", num_threads=None, out=None, padding_mode="zeros"):
    """3-D convolution (cross-correlation by default), as ``torch.nn.functional.conv3d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, D, H, W), float32 or float64
        A view of channels-last memory (``np.moveaxis(x_ndhwc, -1, 1)``, torch's ``channels_last``)
        is read where it lies and the result returned in the same memory format.
    weight : ndarray, shape (C_out, C_in/groups, kD, kH, kW), same dtype as x
    bias : ndarray, shape (C_out,), optional
    stride, padding, dilation, groups, flip, algorithm, num_threads, padding_mode
        As :func:`conv2d`, with three entries per tuple (per-side pairs: three pairs).
        ``flip=True`` matches ``scipy.signal.convolve`` for one channel (``flip=False``
        ``scipy.signal.correlate``); for 'same' with an even kernel SciPy pads the start
        more, which per-side pairs ``(k//2, (k-1)//2)`` reproduce.
    out : ndarray, shape (N, C_out, D_out, H_out, W_out), optional

    Returns
    -------
    y : ndarray, shape (N, C_out, D_out, H_out, W_out)
    """
    return _forward_op(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                         groups=groups, flip=flip, algorithm=algorithm, num_threads=num_threads,
                         out=out, ndim=3, padding_mode=padding_mode)


def conv1d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), algorithm="auto",
                    num_threads=None, padding_mode="zeros", out=None):
    """Gradients of :func:`conv1d`; as :func:`conv2d_backward` with one spatial dim.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, L), grad_weight (C_out, C_in/groups, k), grad_bias (C_out,))``;
        None where not in ``need``.
    """
    return _backward_op(grad_output, x, weight, stride=stride, padding=padding,
                          dilation=dilation, groups=groups, flip=flip, need=need,
                          algorithm=algorithm, num_threads=num_threads, ndim=1,
                          padding_mode=padding_mode, out=out)


def conv3d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), algorithm="auto",
                    num_threads=None, padding_mode="zeros", out=None):
    """Gradients of :func:`conv3d`; as :func:`conv2d_backward` with three spatial dims.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, D, H, W), grad_weight (C_out, C_in/groups, kD, kH, kW),
        grad_bias (C_out,))``; None where not in ``need``.
    """
    return _backward_op(grad_output, x, weight, stride=stride, padding=padding,
                          dilation=dilation, groups=groups, flip=flip, need=need,
                          algorithm=algorithm, num_threads=num_threads, ndim=3,
                          padding_mode=padding_mode, out=out)
