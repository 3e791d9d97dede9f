"""Public transposed convolutions (a.k.a. fractionally strided convolution, "deconvolution").

A transposed convolution is the gradient of a convolution with respect to its input, so it
runs on the convolution's own kernels: the forward pass is that convolution's grad_input
(col2im GEMM, direct scatter, or for stride 1 a forward convolution with the flipped,
channel-swapped kernel), its grad_input is a forward convolution of grad_output with the same
weight, and its grad_weight is the convolution's weight gradient with the roles of the input
and grad_output swapped. The weight array is used as is: its (C_in, C_out/groups) axes are the
(C_out, C_in/groups) axes of that convolution. float16 inputs rerun in float32 (``_half``),
rounded to float16 once.
"""
from __future__ import annotations

import numpy as np

from . import _conv_backward as grads
from . import _conv_geometry as geo
from . import _conv_grad_plan, _conv_plan, _half, _outputs, _threads, _validate
from ._conv_forward import run_forward
from ._validate import ConvGrads


def _conv_input_view(a: np.ndarray, tp: _validate.ConvTransposeParams) -> np.ndarray:
    """The part of an output-shaped array that the underlying convolution's input covers
    (all of it unless output_padding reaches past the full scatter)."""
    return a[(Ellipsis,) + tuple(slice(0, s) for s in tp.conv.input_shape)]


def _conv_transpose_forward(x, weight, bias, *, stride, padding, output_padding, groups,
                            dilation, flip, algorithm, num_threads, ndim, out=None):
    x = _validate.array_like(x, "x")
    weight = _validate.array_like(weight, "weight")
    bias = _validate.array_like(bias, "bias")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        y = _conv_transpose_forward(
            x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
            groups=groups, dilation=dilation, flip=flip, algorithm=algorithm,
            num_threads=num_threads, ndim=ndim, out=_validate.unbatched_out(out))
        return y[0] if out is None else out
    try:
        tp = _validate.conv_transpose_params(x, weight, bias, stride=stride, padding=padding,
                                             output_padding=output_padding, dilation=dilation,
                                             groups=groups, ndim=ndim)
    except _validate.Float16Input:  # computed in float32 (free on the float32/64 path)
        def in_float32(x, weight, bias):
            return _conv_transpose_forward(x, weight, bias, stride=stride, padding=padding,
                                           output_padding=output_padding, groups=groups,
                                           dilation=dilation, flip=flip, algorithm=algorithm,
                                           num_threads=num_threads, ndim=ndim)
        return _half.rerun(in_float32, {"x": x, "weight": weight, "bias": bias}, out)
    flip = _validate.check_bool(flip, "flip")
    cp = tp.conv
    n_threads = _threads.for_work(_threads.resolve(num_threads), cp.flops // 2,
                                  _threads.SMALL_CONV_MACS)
    algorithm = _conv_plan.check_algorithm(algorithm)
    trimmed = any(tp.trailing_zeros)
    if out is None:
        y = (np.zeros(tp.output_array_shape, tp.dtype) if trimmed
             else _outputs.empty(tp.output_array_shape, tp.dtype))
    else:
        y = _validate.check_out(out, tp.output_array_shape, tp.dtype, (x, weight, bias))
        if trimmed:
            y.fill(0)
    if tp.batch == 0:
        return y
    if min(cp.input_shape) >= 1:
        target = np.empty((tp.batch, tp.out_channels) + cp.input_shape, tp.dtype) if trimmed else y
        grads.grad_input(_conv_grad_plan.backward_plan(cp, algorithm, n_threads),
                         _validate.for_kernel(x), weight, target, flip)
        if trimmed:
            _conv_input_view(y, tp)[...] = target
    if bias is not None:
        y += np.asarray(bias).reshape((1, -1) + (1,) * ndim)
    return y


def _checked_grad_output(grad_output, tp, weight, x) -> np.ndarray:
    """grad_output of a transposed convolution, its shape error naming where C_out is from."""
    try:
        return _validate.check_grad_output(grad_output, tp.output_array_shape, tp.dtype)
    except ValueError as err:  # name the shapes the expected one comes from
        raise ValueError(f"{err}; C_out = weight.shape[1] * groups for weight "
                         f"{np.shape(weight)}, groups={tp.groups}, x {np.shape(x)}") from None


def _conv_transpose_backward(grad_output, x, weight, *, stride, padding, output_padding, groups,
                             dilation, flip, need, algorithm, num_threads, ndim, out=None):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    weight = _validate.array_like(weight, "weight")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        gx, gw, gb = _conv_transpose_backward(
            _validate.batched(grad_output, ndim)[0], x, weight, stride=stride, padding=padding,
            output_padding=output_padding, groups=groups, dilation=dilation, flip=flip,
            need=need, algorithm=algorithm, num_threads=num_threads, ndim=ndim,
            out=_validate.unbatched_grad_out(out))
        return _validate.unbatched_grads(ConvGrads(gx, gw, gb), out)
    try:
        tp = _validate.conv_transpose_params(x, weight, None, stride=stride, padding=padding,
                                             output_padding=output_padding, dilation=dilation,
                                             groups=groups, ndim=ndim)
        gy = _checked_grad_output(grad_output, tp, weight, x)
    except _validate.Float16Input:
        def in_float32(grad_output, x, weight):
            return _conv_transpose_backward(
                grad_output, x, weight, stride=stride, padding=padding,
                output_padding=output_padding, groups=groups, dilation=dilation, flip=flip,
                need=need, algorithm=algorithm, num_threads=num_threads, ndim=ndim)
        return _half.rerun(in_float32, {"grad_output": grad_output, "x": x, "weight": weight},
                           out)
    flip = _validate.check_bool(flip, "flip")
    need = _validate.check_need(need)
    cp = tp.conv
    n_threads = _threads.for_work(_threads.resolve(num_threads), cp.flops // 2,
                                  _threads.SMALL_CONV_MACS)
    algorithm = _conv_plan.check_algorithm(algorithm)
    # every output past the full scatter (or no image at all): nothing depends on x or w
    no_conv = tp.batch == 0 or min(cp.input_shape) < 1
    shapes = (np.shape(x), np.shape(weight), (tp.out_channels,))
    given = _validate.check_grad_outs(out, need, shapes, tp.dtype, (grad_output, x, weight))
    gx, gw, gb = grads.gradient_arrays(need, given, shapes, tp.dtype, zero_input=no_conv)
    if tp.batch == 0:
        return ConvGrads(gx, gw, gb)
    gy = _validate.for_kernel(gy)
    if gb is not None:
        grads.bias_grad(gy, gb, n_threads)
    if no_conv:
        return ConvGrads(gx, gw, gb)
    # the output elements past the full scatter do not depend on x or the weight
    gy_conv = np.ascontiguousarray(_conv_input_view(gy, tp))
    if gx is not None:
        # grad_input = the convolution of grad_output with the same weight
        run_forward(_conv_plan.planned_forward(cp, algorithm, n_threads),
                    geo.to5d(gy_conv, ndim), geo.to5d(grads.flipped(weight, flip, ndim), ndim),
                    np.zeros(1, tp.dtype), False, gx)
    if gw is not None:
        # the convolution's weight gradient with x as its grad_output, grad_output as its input
        grads.grad_weight(_conv_grad_plan.backward_plan(cp, algorithm, n_threads),
                          _validate.for_kernel(x), gy_conv, gw, flip)
    return ConvGrads(gx, gw, gb)


_FORWARD_DOC = """{n}-D transposed convolution, as ``torch.nn.functional.conv_transpose{n}d``.

    The gradient of :func:`conv{n}d` with respect to its input, plus a bias: with the same
    ``weight``, stride, padding, dilation and groups, ``conv_transpose{n}d(g, weight)`` equals
    ``conv{n}d_backward(g, x, weight).grad_input`` for an ``x`` of the output's size.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, {spatial}), float16, float32 or float64
    weight : ndarray, shape (C_in, C_out/groups, {kernel}), same dtype as x
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or tuple of {n} ints
    padding : int, tuple of {n} ints, or {n} per-side pairs ``(lo, hi)``
        Elements removed from each side of the full output (strings are rejected).
    output_padding : int or tuple of {n} ints
        Elements added at the end of each dim to pick one of the ``stride`` output sizes that
        convolve down to the input's size; each must be smaller than the stride or the dilation.
    groups : int
        C_in and C_out split into ``groups`` independent transposed convolutions.
    flip : bool
        Reverse the kernel in every spatial dim first (the transpose of a true convolution).
    algorithm : {{'auto', 'direct', 'im2col', 'implicit'}}
        The algorithm of the underlying convolution's input gradient (see :func:`conv2d`).
    num_threads : int, optional
    out : ndarray, shape (N, C_out, {out}), dtype of x, optional
        Where to write y: C-contiguous, writeable, aligned, sharing no memory with x, weight
        or bias (as :func:`conv{n}d`'s ``out``); returned as given. An unbatched x takes an
        unbatched out.

    Returns
    -------
    y : ndarray, shape (N, C_out, {out})
        Per dim ``out = (in-1)*stride - pad_lo - pad_hi + dilation*(k-1) + output_padding + 1``.
    """

_BACKWARD_DOC = """Gradients of :func:`conv_transpose{n}d` with respect to x, weight and bias.

    grad_input is a forward :func:`conv{n}d` of grad_output with the same weight; grad_weight
    is the convolution's weight gradient with x and grad_output in swapped roles.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, {out})
    x, weight, stride, padding, output_padding, groups, dilation, flip, algorithm, num_threads
        As given to :func:`conv_transpose{n}d`.
    need : tuple of {{'input', 'weight', 'bias'}}
        Which gradients to compute; the others come back as None.
    out : (grad_input, grad_weight, grad_bias) tuple, optional
        Arrays to write the gradients into, as :func:`conv{n}d_backward`.

    Returns
    -------
    ConvGrads
        ``(grad_input (N, C_in, {spatial}), grad_weight (C_in, C_out/groups, {kernel}),
        grad_bias (C_out,))``.
    """


def conv_transpose1d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, flip=False, algorithm="auto", num_threads=None, out=None):
    return _conv_transpose_forward(x, weight, bias, stride=stride, padding=padding,
                                   output_padding=output_padding, groups=groups,
                                   dilation=dilation, flip=flip, algorithm=algorithm,
                                   num_threads=num_threads, ndim=1, out=out)


def conv_transpose2d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, flip=False, algorithm="auto", num_threads=None, out=None):
    return _conv_transpose_forward(x, weight, bias, stride=stride, padding=padding,
                                   output_padding=output_padding, groups=groups,
                                   dilation=dilation, flip=flip, algorithm=algorithm,
                                   num_threads=num_threads, ndim=2, out=out)


def conv_transpose3d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, flip=False, algorithm="auto", num_threads=None, out=None):
    return _conv_transpose_forward(x, weight, bias, stride=stride, padding=padding,
                                   output_padding=output_padding, groups=groups,
                                   dilation=dilation, flip=flip, algorithm=algorithm,
                                   num_threads=num_threads, ndim=3, out=out)


def conv_transpose1d_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, flip=False, need=("input", "weight", "bias"),
                              algorithm="auto", num_threads=None, out=None):
    return _conv_transpose_backward(grad_output, x, weight, stride=stride, padding=padding,
                                    output_padding=output_padding, groups=groups,
                                    dilation=dilation, flip=flip, need=need, algorithm=algorithm,
                                    num_threads=num_threads, ndim=1, out=out)


def conv_transpose2d_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, flip=False, need=("input", "weight", "bias"),
                              algorithm="auto", num_threads=None, out=None):
    return _conv_transpose_backward(grad_output, x, weight, stride=stride, padding=padding,
                                    output_padding=output_padding, groups=groups,
                                    dilation=dilation, flip=flip, need=need, algorithm=algorithm,
                                    num_threads=num_threads, ndim=2, out=out)


def conv_transpose3d_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, flip=False, need=("input", "weight", "bias"),
                              algorithm="auto", num_threads=None, out=None):
    return _conv_transpose_backward(grad_output, x, weight, stride=stride, padding=padding,
                                    output_padding=output_padding, groups=groups,
                                    dilation=dilation, flip=flip, need=need, algorithm=algorithm,
                                    num_threads=num_threads, ndim=3, out=out)


for _n, _spatial, _kernel, _out in ((1, "L", "k", "L_out"), (2, "H, W", "kH, kW", "H_out, W_out"),
                                    (3, "D, H, W", "kD, kH, kW", "D_out, H_out, W_out")):
    _fmt = dict(n=_n, spatial=_spatial, kernel=_kernel, out=_out)
    globals()[f"conv_transpose{_n}d"].__doc__ = _FORWARD_DOC.format(**_fmt)
    globals()[f"conv_transpose{_n}d_backward"].__doc__ = _BACKWARD_DOC.format(**_fmt)
del _n, _spatial, _kernel, _out, _fmt
