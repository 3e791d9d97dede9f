"""Pure-NumPy reference convolution, forward and backward, for any number of spatial dims.

Obviously correct rather than fast: the input is padded (NumPy's pad for every
``padding_mode``), and for every kernel tap the
strided, dilated view of the padded input it sees is multiplied with that tap's weights
(one ``einsum`` per tap and group). Vectorized over batch, channels and pixels.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import _padding_modes, _validate
from .._validate import ConvGrads


def _tap_view(padded: np.ndarray, tap: tuple, p: _validate.ConvParams) -> tuple:
    """Index of the (N, C, *out) view of ``padded`` that kernel tap ``tap`` multiplies."""
    return (slice(None), slice(None)) + tuple(
        slice(t * d, t * d + s * (o - 1) + 1, s)
        for t, d, s, o in zip(tap, p.dilation, p.stride, p.output_shape))


def _flip(w: np.ndarray, ndim: int) -> np.ndarray:
    return w[(Ellipsis,) + (slice(None, None, -1),) * ndim]


def _mode_pad(x: np.ndarray, p: _validate.ConvParams, padding_mode: str) -> np.ndarray:
    """x padded as torch's padding modes are NumPy's pad modes."""
    _padding_modes.check(p, padding_mode, x.shape)
    return np.pad(x, ((0, 0), (0, 0)) + p.padding,
                  mode=_padding_modes.NUMPY_MODES[padding_mode])


def _mode_unpad(grad_padded: np.ndarray, p: _validate.ConvParams, padding_mode: str):
    """The adjoint of :func:`_mode_pad`: each padded element's gradient goes to the input
    element NumPy's pad copied into it (found by padding the input's flat indices)."""
    if padding_mode == "zeros":
        crop = (slice(None), slice(None)) + tuple(
            slice(lo, lo + size) for (lo, _), size in zip(p.padding, p.input_shape))
        return np.ascontiguousarray(grad_padded[crop])
    source = np.pad(np.arange(math.prod(p.input_shape)).reshape(p.input_shape), p.padding,
                    mode=_padding_modes.NUMPY_MODES[padding_mode])
    moved = np.moveaxis(grad_padded, (0, 1), (-2, -1)).reshape(source.size, -1)
    gx = np.zeros((math.prod(p.input_shape), moved.shape[1]), dtype=grad_padded.dtype)
    np.add.at(gx, source.ravel(), moved)
    gx = gx.reshape(p.input_shape + grad_padded.shape[:2])
    return np.ascontiguousarray(np.moveaxis(gx, (-2, -1), (0, 1)))


def conv_nd(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
            ndim=2, padding_mode="zeros"):
    """Convolution over ``ndim`` spatial dims; :func:`conv1d`/:func:`conv2d`/:func:`conv3d` wrap it.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, *spatial)
    weight : ndarray, shape (C_out, C_in/groups, *kernel)
    bias : ndarray, shape (C_out,), optional
    stride, padding, dilation, groups, flip, padding_mode
        As :func:`conv2d`, with ``ndim`` entries per tuple.
    ndim : int
        Number of spatial dims.

    Returns
    -------
    y : ndarray, shape (N, C_out, *out), dtype of x, C-contiguous
    """
    p = _validate.conv_params(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, ndim=ndim)
    flip = _validate.check_bool(flip, "flip")
    x = np.asarray(x)
    w = _flip(np.asarray(weight), ndim) if flip else np.asarray(weight)
    padded = _mode_pad(x, p, padding_mode)
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    y = np.zeros(p.output_array_shape, dtype=p.dtype)
    for tap in itertools.product(*(range(k) for k in p.kernel_size)):
        view = padded[_tap_view(padded, tap, p)]
        for g in range(p.groups):
            # y[n, o, ...] += sum_c view[n, c, ...] * w[o, c, tap]
            y[:, g * cog:(g + 1) * cog] += np.einsum(
                "nc...,oc->no...", view[:, g * cig:(g + 1) * cig],
                w[(slice(g * cog, (g + 1) * cog), slice(None)) + tap])
    if bias is not None:
        y += np.asarray(bias).reshape((1, -1) + (1,) * ndim)
    return y


def conv_nd_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                     flip=False, need=("input", "weight", "bias"), ndim=2, padding_mode="zeros"):
    """Gradients of :func:`conv_nd` for ``ndim`` spatial dims; see :func:`conv2d_backward`.

    Returns
    -------
    ConvGrads
        ``grad_input`` shaped like x, ``grad_weight`` like weight, ``grad_bias`` (C_out,);
        None where not in ``need``.
    """
    p = _validate.conv_params(x, weight, None, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, ndim=ndim)
    flip = _validate.check_bool(flip, "flip")
    need = _validate.check_need(need)
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    x = np.asarray(x)
    w = _flip(np.asarray(weight), ndim) if flip else np.asarray(weight)
    padded = _mode_pad(x, p, padding_mode)
    cig, cog = p.in_channels // p.groups, p.out_channels // p.groups
    grad_padded = np.zeros_like(padded) if "input" in need else None
    gw = np.zeros(w.shape, dtype=p.dtype) if "weight" in need else None
    for tap in itertools.product(*(range(k) for k in p.kernel_size)):
        index = _tap_view(padded, tap, p)
        view = padded[index]
        for g in range(p.groups):
            go, gi = slice(g * cog, (g + 1) * cog), slice(g * cig, (g + 1) * cig)
            if gw is not None:
                axes = [0] + list(range(2, ndim + 2))  # batch and spatial dims are summed
                gw[(go, slice(None)) + tap] = np.tensordot(gy[:, go], view[:, gi], axes=(axes, axes))
            if grad_padded is not None:
                # within one tap the view never hits a position twice, so the in-place
                # add through the strided view accumulates correctly
                grad_padded[index][:, gi] += np.einsum("no...,oc->nc...", gy[:, go],
                                                       w[(go, slice(None)) + tap])
    gx = None if grad_padded is None else _mode_unpad(grad_padded, p, padding_mode)
    if gw is not None and flip:
        gw = np.ascontiguousarray(_flip(gw, ndim))
    gb = None
    if "bias" in need:
        # pairwise float64 sum, rounded once: the reference should not be the less accurate side
        gb = gy.sum(axis=(0,) + tuple(range(2, ndim + 2)), dtype=np.float64).astype(p.dtype)
    return ConvGrads(gx, gw, gb)


def conv1d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           padding_mode="zeros"):
    """1-D convolution; as :func:`conv2d` with one spatial dim.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L)
    weight : ndarray, shape (C_out, C_in/groups, k)
    bias : ndarray, shape (C_out,), optional
    stride, padding, dilation, groups, flip
        As :func:`conv2d`; ``padding`` also accepts ``'causal'`` (``dilation*(k-1)`` zeros on
        the left only, so ``y[..., t]`` depends on ``x[..., :t+1]`` alone).

    Returns
    -------
    y : ndarray, shape (N, C_out, L_out), dtype of x
    """
    return conv_nd(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, flip=flip, ndim=1, padding_mode=padding_mode)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           padding_mode="zeros"):
    """2-D convolution (cross-correlation unless ``flip``), the oracle for :func:`cyconv.conv2d`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W)
    weight : ndarray, shape (C_out, C_in/groups, kH, kW)
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), ((top, bottom), (left, right)), 'valid', 'same' or 'full'
        Zeros added around the input. 'same' puts an even kernel's extra element at the end
        (PyTorch's rule; SciPy's ``convolve`` puts it at the start, explicit per-side pairs
        reproduce that).
    groups : int
        Input and output channels split into ``groups`` independent convolutions
        (``groups == C_in`` is depthwise).
    flip : bool
        False: cross-correlation, as ``torch.nn.functional.conv2d``. True: true convolution,
        the kernel reversed in every spatial dim (``scipy.signal.convolve2d`` for one channel).

    Returns
    -------
    y : ndarray, shape (N, C_out, H_out, W_out), dtype of x
    """
    return conv_nd(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, flip=flip, ndim=2, padding_mode=padding_mode)


def conv3d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
           padding_mode="zeros"):
    """3-D convolution; as :func:`conv2d` with three spatial dims.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, D, H, W)
    weight : ndarray, shape (C_out, C_in/groups, kD, kH, kW)
    bias : ndarray, shape (C_out,), optional
    stride, padding, dilation, groups, flip
        As :func:`conv2d`, with three entries per tuple.

    Returns
    -------
    y : ndarray, shape (N, C_out, D_out, H_out, W_out), dtype of x
    """
    return conv_nd(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, flip=flip, ndim=3, padding_mode=padding_mode)


def conv1d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), padding_mode="zeros"):
    """Gradients of :func:`conv1d`; as :func:`conv2d_backward` with one spatial dim.

    Returns
    -------
    ConvGrads
        ``grad_input`` (N, C_in, L), ``grad_weight`` (C_out, C_in/groups, k),
        ``grad_bias`` (C_out,); None where not in ``need``.
    """
    return conv_nd_backward(grad_output, x, weight, stride=stride, padding=padding,
                            dilation=dilation, groups=groups, flip=flip, need=need, ndim=1,
                            padding_mode=padding_mode)


def conv2d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), padding_mode="zeros"):
    """Gradients of :func:`conv2d`.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, H_out, W_out)
    x, weight, stride, padding, dilation, groups, flip
        As given to :func:`conv2d`.
    need : str or tuple of {'input', 'weight', 'bias'}
        Which gradients to compute. With ``flip=True`` ``grad_weight`` is still the gradient
        with respect to the ``weight`` argument as passed (not its flipped copy).

    Returns
    -------
    ConvGrads
        ``grad_input`` (N, C_in, H, W), ``grad_weight`` (C_out, C_in/groups, kH, kW),
        ``grad_bias`` (C_out,); None where not in ``need``.
    """
    return conv_nd_backward(grad_output, x, weight, stride=stride, padding=padding,
                            dilation=dilation, groups=groups, flip=flip, need=need, ndim=2,
                            padding_mode=padding_mode)


def conv3d_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                    flip=False, need=("input", "weight", "bias"), padding_mode="zeros"):
    """Gradients of :func:`conv3d`; as :func:`conv2d_backward` with three spatial dims.

    Returns
    -------
    ConvGrads
        ``grad_input`` (N, C_in, D, H, W), ``grad_weight`` (C_out, C_in/groups, kD, kH, kW),
        ``grad_bias`` (C_out,); None where not in ``need``.
    """
    return conv_nd_backward(grad_output, x, weight, stride=stride, padding=padding,
                            dilation=dilation, groups=groups, flip=flip, need=need, ndim=3,
                            padding_mode=padding_mode)
