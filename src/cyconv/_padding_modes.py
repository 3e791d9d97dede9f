"""``padding_mode`` of the convolutions: 'zeros' (the kernels' own padding) or 'reflect',
'replicate', 'circular' with PyTorch's semantics.

A mode other than 'zeros' pads the input once, by its mode, in a compiled gather
(``_kernels._padding``) - the one padded copy the zero-padding paths would otherwise make -
and the convolution then runs unpadded on it. Its gradient with respect to the input is
the gradient with respect to the padded copy folded back by the adjoint scatter-add: a
padded element that copies input element i sends its gradient to i.
"""
from __future__ import annotations

import math

import numpy as np

from . import _threads, _validate
from ._kernels import _padding as _k

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
# the same modes by NumPy's (and dask.array.pad's) names
NUMPY_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}



def check_mode(padding_mode) -> str:
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {list(PADDING_MODES)}, "
                         f"got {padding_mode!r}")
    return padding_mode


def index_map(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Input index of each of the ``lo + size + hi`` padded positions along one axis."""
    j = np.arange(-lo, size + hi, dtype=np.intp)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    if mode == "circular":
        return j % size
    # reflect: mirror about the first and last element, which are not repeated
    j = np.abs(j)
    return np.where(j > size - 1, 2 * (size - 1) - j, j)


def check_pads(input_shape: tuple, padding: tuple, mode: str, x_shape: tuple) -> None:
    """PyTorch's limits: reflect pads less than the size, circular at most the size,
    replicate needs an element to repeat."""
    for axis, (size, (lo, hi)) in enumerate(zip(input_shape, padding)):
        widest = max(lo, hi)
        if mode == "reflect" and widest >= size:
            problem = "less than"
        elif mode == "circular" and widest > size:
            problem = "at most"
        elif mode == "replicate" and size == 0 and widest > 0:
            problem = "an input of at least 1 along"
        else:
            continue
        raise ValueError(f"padding_mode={mode!r} needs padding {problem} the input size "
                         f"along each spatial dim: padding {padding} for input of shape "
                         f"{x_shape} (spatial dim {axis} has size {size})")


def check(p: _validate.ConvParams, padding_mode, x_shape: tuple) -> str:
    """``padding_mode`` of the validated call ``p``: a known mode within PyTorch's limits."""
    check_mode(padding_mode)
    if padding_mode != "zeros":
        check_pads(p.input_shape, p.padding, padding_mode, x_shape)
    return padding_mode


def checked_params(x, weight, bias, *, padding_mode, **conv) -> _validate.ConvParams:
    """The validated params of a convolution (``conv``: stride, padding, dilation, groups,
    ndim) whose padding is by ``padding_mode``; the mode is checked first."""
    check_mode(padding_mode)
    p = _validate.conv_params(x, weight, bias, **conv)
    check(p, padding_mode, x.shape)
    return p


def _maps(input_shape: tuple, padding: tuple, mode: str) -> list:
    lead = 3 - len(input_shape)
    maps = [np.zeros(1, dtype=np.intp)] * lead
    return maps + [index_map(size, lo, hi, mode)
                   for size, (lo, hi) in zip(input_shape, padding)]


def _planes(a: np.ndarray, spatial: tuple) -> np.ndarray:
    """(N, C, *spatial) as the kernels' (planes, D, H, W)."""
    return a.reshape((-1,) + (1,) * (3 - len(spatial)) + spatial)


def pad(x: np.ndarray, padding: tuple, mode: str, num_threads) -> np.ndarray:
    """``x`` (N, C, *spatial), C-contiguous and validated, padded by per-side pairs."""
    spatial = x.shape[2:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, padding))
    out = np.empty(x.shape[:2] + padded, dtype=x.dtype)
    n = _threads.for_work(_threads.resolve(num_threads), out.size,
                          _threads.SMALL_POOL_ELEMENTS)
    md, mh, mw = _maps(spatial, padding, mode)
    _k.pad_or_fold(_planes(_validate.for_kernel(x), spatial), _planes(out, padded), md, mh, mw,
                   padding[-1][0], False, n)
    return out


def fold(grad_padded: np.ndarray, x_shape: tuple, padding: tuple, mode: str,
         num_threads) -> np.ndarray:
    """The gradient with respect to x of :func:`pad`, from the padded input's gradient."""
    spatial = tuple(x_shape[2:])
    grad_x = np.empty(x_shape, dtype=grad_padded.dtype)
    if math.prod(x_shape) == 0:
        return grad_x
    n = _threads.for_work(_threads.resolve(num_threads), grad_padded.size,
                          _threads.SMALL_POOL_ELEMENTS)
    md, mh, mw = _maps(spatial, padding, mode)
    _k.pad_or_fold(_planes(_validate.for_kernel(grad_padded), grad_padded.shape[2:]),
                   _planes(grad_x, spatial), md, mh, mw, padding[-1][0], True, n)
    return grad_x
