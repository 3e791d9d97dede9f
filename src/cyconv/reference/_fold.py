"""Pure-NumPy reference unfold / fold (im2col / col2im), forward and backward, 1-D to 3-D.

Independent of the kernels' logic: the blocks are strided views of a zero-padded copy, one
view per kernel position (loops run over kernel positions only). Unbatched inputs are the
batched call's ``[0]``.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import _fold_params, _validate


def _taps(p: _fold_params.FoldParams):
    """(kernel position index, index of the padded image's (N, C, *blocks) view it covers)."""
    for k, tap in enumerate(itertools.product(*(range(k) for k in p.kernel_size))):
        yield k, (slice(None), slice(None)) + tuple(
            slice(t * d, t * d + s * (b - 1) + 1, s)
            for t, d, s, b in zip(tap, p.dilation, p.stride, p.blocks))


def _padded_shape(p: _fold_params.FoldParams) -> tuple:
    return p.image_array_shape[:2] + tuple(size + lo + hi for size, (lo, hi)
                                           in zip(p.image_shape, p.padding))


def _unfold(x: np.ndarray, p: _fold_params.FoldParams) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0)) + p.padding)
    length = math.prod(p.blocks)
    cols = np.empty(p.image_array_shape[:2] + (math.prod(p.kernel_size), length), p.dtype)
    for k, index in _taps(p):
        cols[:, :, k] = padded[index].reshape(p.batch, p.channels, length)
    return cols.reshape(p.cols_array_shape)


def _fold(cols: np.ndarray, p: _fold_params.FoldParams) -> np.ndarray:
    padded = np.zeros(_padded_shape(p), p.dtype)
    per_channel = cols.reshape(p.batch, p.channels, math.prod(p.kernel_size), cols.shape[-1])
    for k, index in _taps(p):
        padded[index] += per_channel[:, :, k].reshape(padded[index].shape)
    inside = tuple(slice(lo, lo + size) for size, (lo, _) in zip(p.image_shape, p.padding))
    return padded[(slice(None), slice(None)) + inside]


def _batched(x, ndim: int):
    return _validate.batched(_validate.array_like(x, "x"), ndim)


def _grad(grad_output, unbatched: bool, ndim: int):
    gy = _validate.array_like(grad_output, "grad_output")
    return _validate.batched(gy, ndim)[0] if unbatched else gy


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Reference :func:`cyconv.unfold`: (N, C, *spatial) -> (N, C*prod(kernel_size), L)."""
    x, unbatched = _batched(x, _fold_params.spatial_rank(kernel_size))
    p = _fold_params.unfold_params(x, kernel_size, dilation, padding, stride)
    cols = _unfold(x, p)
    return cols[0] if unbatched else cols


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Reference :func:`cyconv.fold`: (N, C*prod(kernel_size), L) -> (N, C, *output_size)."""
    x, unbatched = _batched(x, 1)
    p = _fold_params.fold_params(x, output_size, kernel_size, dilation, padding, stride)
    y = _fold(x, p)
    return y[0] if unbatched else y


def unfold_backward(grad_output, x, kernel_size, dilation=1, padding=0, stride=1):
    """Reference :func:`cyconv.unfold_backward`: grad_output folded into x's shape."""
    x, unbatched = _batched(x, _fold_params.spatial_rank(kernel_size))
    gy = _grad(grad_output, unbatched, 1)
    p = _fold_params.unfold_params(x, kernel_size, dilation, padding, stride)
    gy = _fold_params.check_grad_output(gy, p, p.cols_array_shape, "unfold")
    gx = _fold(gy, p)
    return gx[0] if unbatched else gx


def fold_backward(grad_output, x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Reference :func:`cyconv.fold_backward`: grad_output unfolded into x's shape."""
    x, unbatched = _batched(x, 1)
    ndim = _fold_params.spatial_rank(kernel_size, output_size)
    gy = _grad(grad_output, unbatched, ndim)
    p = _fold_params.fold_params(x, output_size, kernel_size, dilation, padding, stride)
    gy = _fold_params.check_grad_output(gy, p, p.image_array_shape, "fold")
    gx = _unfold(gy, p)
    return gx[0] if unbatched else gx
