"""``padding_mode`` on dask arrays: the input padded by its mode with ``dask.array.pad``
(NumPy's modes are torch's: reflect, edge, wrap), the convolution run unpadded on it, and the
padded input's gradient folded back axis by axis (the padding is separable, so the adjoint
of each axis' padding can be applied in turn)."""
from __future__ import annotations

from .. import _padding_modes
from . import _inputs

def padded_params(x, weight, bias, *, stride, padding, dilation, groups, ndim, padding_mode):
    """The validated params of the call (with its padding) after the mode's own checks."""
    return _padding_modes.checked_params(
        _inputs.stand_in(x), _inputs.stand_in(weight), _inputs.stand_in(bias), stride=stride,
        padding=padding, dilation=dilation, groups=groups, ndim=ndim, padding_mode=padding_mode)


def pad(x, padding: tuple, mode: str):
    da = _inputs._da()
    return da.pad(x, ((0, 0), (0, 0)) + tuple(padding), mode=_padding_modes.NUMPY_MODES[mode])


def _place(piece, axis: int, start: int, length: int):
    """``piece`` at [start, start + its length) of a zero array of ``length`` along axis."""
    da = _inputs._da()
    widths = [(0, 0)] * piece.ndim
    widths[axis] = (start, length - start - piece.shape[axis])
    return da.pad(piece, widths, mode="constant")


def _fold_axis(g, axis: int, lo: int, hi: int, size: int, mode: str):
    da = _inputs._da()
    index = [slice(None)] * g.ndim

    def part(a, b):
        index[axis] = slice(a, b)
        return g[tuple(index)]

    core = part(lo, lo + size)
    left, right = part(0, lo), part(lo + size, lo + size + hi)
    if mode == "replicate":  # every padded copy is the edge element
        pieces = [(left.sum(axis=axis, keepdims=True), 0),
                  (right.sum(axis=axis, keepdims=True), size - 1)]
    elif mode == "circular":  # the left padding copies the end, the right the start
        pieces = [(left, size - lo), (right, 0)]
    else:  # reflect: mirrored about the first and the last element
        pieces = [(da.flip(left, axis), 1), (da.flip(right, axis), size - 1 - hi)]
    for piece, start in pieces:
        if piece.shape[axis]:
            core = core + _place(piece, axis, start, size)
    return core


def fold(grad_padded, x, padding: tuple, mode: str):
    """The gradient with respect to ``x`` from the gradient with respect to its padded copy,
    chunked as ``x``."""
    g = grad_padded
    for i, (lo, hi) in enumerate(padding):
        g = _fold_axis(g, 2 + i, lo, hi, x.shape[2 + i], mode)
    return g.rechunk(x.chunks)
