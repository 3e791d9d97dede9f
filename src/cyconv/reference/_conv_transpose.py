"""Pure-NumPy reference transposed convolution, forward and backward, any number of dims.

Written from the definition, not from the convolution: every input element scatters
``x * w`` into a zero "full" output at ``i*stride + tap*dilation``; ``padding`` then removes
elements from each side of that full output and ``output_padding`` appends zeros at the end.
One ``einsum`` per kernel tap and group, added through a strided view of the full output.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import _validate
from .._validate import ConvGrads


def _full_buffer_shape(p: _validate.ConvTransposeParams) -> tuple:
    """Per dim: the full scatter length, or more when output_padding reaches past it."""
    return tuple(max((i - 1) * s + d * (k - 1) + 1, lo + o)
                 for i, s, d, k, (lo, _), o in zip(p.input_shape, p.stride, p.dilation,
                                                   p.kernel_size, p.padding, p.output_shape))


def _tap_index(tap: tuple, p: _validate.ConvTransposeParams) -> tuple:
    """Index of the (N, C, *input) strided view of the full output that tap ``tap`` writes."""
    return (slice(None), slice(None)) + tuple(
        slice(t * d, t * d + s * (i - 1) + 1, s)
        for t, d, s, i in zip(tap, p.dilation, p.stride, p.input_shape))


def _crop(p: _validate.ConvTransposeParams) -> tuple:
    return (slice(None), slice(None)) + tuple(
        slice(lo, lo + o) for (lo, _), o in zip(p.padding, p.output_shape))


def _weight(weight, flip: bool, ndim: int) -> np.ndarray:
    w = np.asarray(weight)
    return w[(Ellipsis,) + (slice(None, None, -1),) * ndim] if flip else w


def conv_transpose_nd(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                      dilation=1, flip=False, ndim=2):
    """Transposed convolution over ``ndim`` spatial dims; see :func:`conv_transpose2d`.

    Returns
    -------
    y : ndarray, shape (N, C_out, *out), dtype of x
    """
    p = _validate.conv_transpose_params(x, weight, bias, stride=stride, padding=padding,
                                        output_padding=output_padding, dilation=dilation,
                                        groups=groups, ndim=ndim)
    flip = _validate.check_bool(flip, "flip")
    x = np.asarray(x)
    w = _weight(weight, flip, ndim)
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    full = np.zeros((p.batch, p.out_channels) + _full_buffer_shape(p), dtype=p.dtype)
    for tap in itertools.product(*(range(k) for k in p.kernel_size)):
        view = full[_tap_index(tap, p)]
        for g in range(p.groups):
            gi, go = slice(g * cig, (g + 1) * cig), slice(g * cog, (g + 1) * cog)
            # full[n, o, i*s + tap*d] += sum_c x[n, c, i] * w[c, o, tap]
            view[:, go] += np.einsum("nc...,co->no...", x[:, gi], w[(gi, slice(None)) + tap])
    y = np.ascontiguousarray(full[_crop(p)])
    if bias is not None:
        y += np.asarray(bias).reshape((1, -1) + (1,) * ndim)
    return y


def conv_transpose_nd_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                               groups=1, dilation=1, flip=False,
                               need=("input", "weight", "bias"), ndim=2):
    """Gradients of :func:`conv_transpose_nd`; see :func:`conv_transpose2d_backward`."""
    p = _validate.conv_transpose_params(x, weight, None, stride=stride, padding=padding,
                                        output_padding=output_padding, dilation=dilation,
                                        groups=groups, ndim=ndim)
    flip = _validate.check_bool(flip, "flip")
    need = _validate.check_need(need)
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    x = np.asarray(x)
    w = _weight(weight, flip, ndim)
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    # grad_output placed back into the full output (the cropped-away elements get no gradient)
    gfull = np.zeros((p.batch, p.out_channels) + _full_buffer_shape(p), dtype=p.dtype)
    gfull[_crop(p)] = gy
    gx = np.zeros(x.shape, dtype=p.dtype) if "input" in need else None
    gw = np.zeros(w.shape, dtype=p.dtype) if "weight" in need else None
    spatial = list(range(2, ndim + 2))
    for tap in itertools.product(*(range(k) for k in p.kernel_size)):
        view = gfull[_tap_index(tap, p)]
        for g in range(p.groups):
            gi, go = slice(g * cig, (g + 1) * cig), slice(g * cog, (g + 1) * cog)
            if gx is not None:
                gx[:, gi] += np.einsum("no...,co->nc...", view[:, go], w[(gi, slice(None)) + tap])
            if gw is not None:
                axes = [0] + spatial
                gw[(gi, slice(None)) + tap] = np.tensordot(x[:, gi], view[:, go],
                                                           axes=(axes, axes))
    if gw is not None and flip:
        gw = np.ascontiguousarray(_weight(gw, True, ndim))
    gb = None
    if "bias" in need:
        gb = gy.sum(axis=(0,) + tuple(spatial), dtype=np.float64).astype(p.dtype)
    return ConvGrads(gx, gw, gb)


def conv_transpose1d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, flip=False):
    """1-D transposed convolution; as :func:`conv_transpose2d` with one spatial dim.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L)
    weight : ndarray, shape (C_in, C_out/groups, k)
    bias : ndarray, shape (C_out,), optional

    Returns
    -------
    y : ndarray, shape (N, C_out, L_out)
    """
    return conv_transpose_nd(x, weight, bias, stride=stride, padding=padding,
                             output_padding=output_padding, groups=groups, dilation=dilation,
                             flip=flip, ndim=1)


def conv_transpose2d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, flip=False):
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W)
    weight : ndarray, shape (C_in, C_out/groups, kH, kW)
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int) or ((top, bottom), (left, right))
        Elements removed from each side of the full output.
    output_padding : int or (int, int)
        Elements added at the end of each dim (each < stride or < dilation).
    groups : int
    flip : bool
        Reverse the kernel in every spatial dim first.

    Returns
    -------
    y : ndarray, shape (N, C_out, H_out, W_out)
        ``H_out = (H-1)*stride - top - bottom + dilation*(kH-1) + output_padding + 1``.
    """
    return conv_transpose_nd(x, weight, bias, stride=stride, padding=padding,
                             output_padding=output_padding, groups=groups, dilation=dilation,
                             flip=flip, ndim=2)


def conv_transpose3d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, flip=False):
    """3-D transposed convolution; as :func:`conv_transpose2d` with three spatial dims.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, D, H, W)
    weight : ndarray, shape (C_in, C_out/groups, kD, kH, kW)
    bias : ndarray, shape (C_out,), optional

    Returns
    -------
    y : ndarray, shape (N, C_out, D_out, H_out, W_out)
    """
    return conv_transpose_nd(x, weight, bias, stride=stride, padding=padding,
                             output_padding=output_padding, groups=groups, dilation=dilation,
                             flip=flip, ndim=3)


def conv_transpose1d_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, flip=False,
                              need=("input", "weight", "bias")):
    """Gradients of :func:`conv_transpose1d`.

    Returns
    -------
    ConvGrads
        ``grad_input`` (N, C_in, L), ``grad_weight`` (C_in, C_out/groups, k),
        ``grad_bias`` (C_out,); None where not in ``need``.
    """
    return conv_transpose_nd_backward(grad_output, x, weight, stride=stride, padding=padding,
                                      output_padding=output_padding, groups=groups,
                                      dilation=dilation, flip=flip, need=need, ndim=1)


def conv_transpose2d_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, flip=False,
                              need=("input", "weight", "bias")):
    """Gradients of :func:`conv_transpose2d`.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, H_out, W_out)
    x, weight, stride, padding, output_padding, groups, dilation, flip
        As given to :func:`conv_transpose2d`.
    need : str or tuple of {'input', 'weight', 'bias'}

    Returns
    -------
    ConvGrads
        ``grad_input`` (N, C_in, H, W), ``grad_weight`` (C_in, C_out/groups, kH, kW),
        ``grad_bias`` (C_out,); None where not in ``need``.
    """
    return conv_transpose_nd_backward(grad_output, x, weight, stride=stride, padding=padding,
                                      output_padding=output_padding, groups=groups,
                                      dilation=dilation, flip=flip, need=need, ndim=2)


def conv_transpose3d_backward(grad_output, x, weight, *, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, flip=False,
                              need=("input", "weight", "bias")):
    """Gradients of :func:`conv_transpose3d`.

    Returns
    -------
    ConvGrads
        ``grad_input`` (N, C_in, D, H, W), ``grad_weight`` (C_in, C_out/groups, kD, kH, kW),
        ``grad_bias`` (C_out,); None where not in ``need``.
    """
    return conv_transpose_nd_backward(grad_output, x, weight, stride=stride, padding=padding,
                                      output_padding=output_padding, groups=groups,
                                      dilation=dilation, flip=flip, need=need, ndim=3)
