"""Pure-NumPy reference pooling (max, min, average), forward and backward, any number of dims.

Loops run over kernel taps only; everything else is vectorized. Independent of the kernels'
logic: windows are strided views of a padded copy, and a validity mask marks real elements.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import _validate


def _tap_index(tap: tuple, p: _validate.PoolParams) -> tuple:
    """Index of the (N, C, *out) view of the padded input that window tap ``tap`` covers."""
    return (slice(None), slice(None)) + tuple(
        slice(t * d, t * d + s * (o - 1) + 1, s)
        for t, d, s, o in zip(tap, p.dilation, p.stride, p.output_shape))


def _padded(x: np.ndarray, p: _validate.PoolParams, fill: float) -> np.ndarray:
    """x padded with ``fill``, plus enough trailing room for ceil_mode's last window."""
    extra = []
    for size, k, s, d, (lo, hi), o in zip(p.input_shape, p.kernel_size, p.stride, p.dilation,
                                          p.padding, p.output_shape):
        need = (o - 1) * s + d * (k - 1) + 1  # padded length the windows reach
        extra.append((lo, max(hi, need - lo - size)))
    return np.pad(x, ((0, 0), (0, 0)) + tuple(extra), constant_values=fill)


def _flat_input_index(tap: tuple, p: _validate.PoolParams) -> np.ndarray:
    """Flat per-plane input index (h * W + w, ...) of each output's tap, shape (*out)."""
    index = np.zeros(p.output_shape, dtype=np.int64)
    for axis, (t, d, s, (lo, _), o, size) in enumerate(zip(tap, p.dilation, p.stride, p.padding,
                                                           p.output_shape, p.input_shape)):
        pos = np.arange(o) * s + t * d - lo
        shape = [1] * p.ndim
        shape[axis] = o
        index = index * size + pos.reshape(shape)
    return index


def _extremum_nd(x, kernel_size, stride, padding, dilation, ceil_mode, ndim, *, largest):
    """(y, indices) of max (``largest``) or min pooling, PyTorch's rules.

    Padded positions never win. Ties keep the first extremum in row-major window order;
    a NaN always takes over (so the last NaN of a window wins, as in PyTorch). A window with
    no input element gives -inf (min: +inf) and index -1.
    """
    p = _validate.pool_params(x, kernel_size, stride, padding, dilation, ceil_mode, ndim=ndim)
    x = np.asarray(x)
    sentinel = -np.inf if largest else np.inf
    padded = _padded(x, p, sentinel)
    valid = _padded(np.ones(x.shape, dtype=bool), p, False)
    best = np.full(p.output_array_shape, sentinel, dtype=p.dtype)
    best_index = np.full(p.output_array_shape, -1, dtype=np.int64)
    unset = np.ones(p.output_array_shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for tap in itertools.product(*(range(k) for k in p.kernel_size)):
            index = _tap_index(tap, p)
            v, ok = padded[index], valid[index]
            better = (v > best) if largest else (v < best)
            take = ok & (unset | better | np.isnan(v))
            best = np.where(take, v, best)
            best_index = np.where(take, _flat_input_index(tap, p), best_index)
            unset &= ~ok
    return best, best_index


def _extremum_backward_nd(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
                          indices, ndim, *, largest):
    p = _validate.pool_params(x, kernel_size, stride, padding, dilation, ceil_mode, ndim=ndim)
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    if indices is None:
        _, indices = _extremum_nd(x, kernel_size, stride, padding, dilation, ceil_mode, ndim,
                                  largest=largest)
    else:
        indices = _validate.check_indices(indices, p.output_array_shape, p.input_shape,
                                            empty_windows=True)
    plane = int(np.prod(p.input_shape))
    grad = np.zeros((p.batch * p.channels, plane), dtype=p.dtype)
    rows = np.repeat(np.arange(p.batch * p.channels), int(np.prod(p.output_shape)))
    routed = indices.reshape(-1) >= 0  # -1: a window with no input element
    np.add.at(grad, (rows[routed], indices.reshape(-1)[routed]), gy.reshape(-1)[routed])
    return grad.reshape(np.shape(x))


def _avg_divisor(p: _validate.PoolParams, count_include_pad: bool) -> np.ndarray:
    """Per-output divisor (shape (*out)): window clipped to the padded input, or real count."""
    divisor = np.ones(p.output_shape, dtype=np.float64)
    for axis, (k, s, (lo, hi), o, size) in enumerate(zip(p.kernel_size, p.stride, p.padding,
                                                         p.output_shape, p.input_shape)):
        start = np.arange(o) * s - lo
        end = np.minimum(start + k, size + hi)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        shape = [1] * p.ndim
        shape[axis] = o
        divisor = divisor * (end - start).reshape(shape)
    return divisor


def _avg_nd(x, kernel_size, stride, padding, ceil_mode, count_include_pad, ndim):
    p = _validate.pool_params(x, kernel_size, stride, padding, 1, ceil_mode, ndim=ndim)
    count_include_pad = _validate.check_bool(count_include_pad, "count_include_pad")
    padded = _padded(np.asarray(x), p, 0)
    total = np.zeros(p.output_array_shape, dtype=p.dtype)
    for tap in itertools.product(*(range(k) for k in p.kernel_size)):
        total += padded[_tap_index(tap, p)]
    return (total / _avg_divisor(p, count_include_pad)).astype(p.dtype)


def _avg_backward_nd(grad_output, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     ndim):
    p = _validate.pool_params(x, kernel_size, stride, padding, 1, ceil_mode, ndim=ndim)
    count_include_pad = _validate.check_bool(count_include_pad, "count_include_pad")
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    share = (gy / _avg_divisor(p, count_include_pad)).astype(p.dtype)
    grad_padded = _padded(np.zeros(np.shape(x), dtype=p.dtype), p, 0)
    for tap in itertools.product(*(range(k) for k in p.kernel_size)):
        grad_padded[_tap_index(tap, p)] += share
    crop = (slice(None), slice(None)) + tuple(
        slice(lo, lo + size) for (lo, _), size in zip(p.padding, p.input_shape))
    return np.ascontiguousarray(grad_padded[crop])


def _make(ndim: int):
    """The public max/min/avg pooling functions for ``ndim`` spatial dims."""

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False):
        y, idx = _extremum_nd(x, kernel_size, stride, padding, dilation, ceil_mode, ndim,
                              largest=True)
        return (y, idx) if _validate.check_bool(return_indices, "return_indices") else y

    def min_pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False):
        y, idx = _extremum_nd(x, kernel_size, stride, padding, dilation, ceil_mode, ndim,
                              largest=False)
        return (y, idx) if _validate.check_bool(return_indices, "return_indices") else y

    def max_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None):
        return _extremum_backward_nd(grad_output, x, kernel_size, stride, padding, dilation,
                                     ceil_mode, indices, ndim, largest=True)

    def min_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None):
        return _extremum_backward_nd(grad_output, x, kernel_size, stride, padding, dilation,
                                     ceil_mode, indices, ndim, largest=False)

    def avg_pool(x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                 count_include_pad=True):
        return _avg_nd(x, kernel_size, stride, padding, ceil_mode, count_include_pad, ndim)

    def avg_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, *,
                          ceil_mode=False, count_include_pad=True):
        return _avg_backward_nd(grad_output, x, kernel_size, stride, padding, ceil_mode,
                                count_include_pad, ndim)

    layout = "(N, C, " + ", ".join("DHW"[3 - ndim:]) + ")"
    for fn, what in ((max_pool, "max pooling"), (min_pool, "min pooling"),
                     (avg_pool, "average pooling")):
        fn.__name__ = f"{fn.__name__}{ndim}d"
        fn.__doc__ = (f"Reference {ndim}-D {what} of x {layout}; semantics as "
                      f"cyconv.{fn.__name__}.")
    for fn in (max_pool_backward, min_pool_backward, avg_pool_backward):
        fn.__name__ = fn.__name__.replace("_backward", f"{ndim}d_backward")
        fn.__doc__ = f"Reference gradient of {fn.__name__.replace('_backward', '')} w.r.t. x."
    return max_pool, min_pool, avg_pool, max_pool_backward, min_pool_backward, avg_pool_backward


(max_pool1d, min_pool1d, avg_pool1d,
 max_pool1d_backward, min_pool1d_backward, avg_pool1d_backward) = _make(1)
(max_pool2d, min_pool2d, avg_pool2d,
 max_pool2d_backward, min_pool2d_backward, avg_pool2d_backward) = _make(2)
(max_pool3d, min_pool3d, avg_pool3d,
 max_pool3d_backward, min_pool3d_backward, avg_pool3d_backward) = _make(3)
