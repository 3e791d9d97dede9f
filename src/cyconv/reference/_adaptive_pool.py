"""Pure-NumPy reference adaptive and global pooling (average and max), forward and backward.

Loops run over output positions only; each bin is a slice of x (vectorized over batch and
channels). Independent of the kernels' logic: no merging of dims, no row buffers; the bins
come from ``cyconv._shapes.adaptive_bins``, the one definition of PyTorch's rule.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import _shapes, _validate


def _bins(p: _validate.AdaptivePoolParams):
    """Yield (output position, slices of the bin, bin starts, bin shape) in row-major order."""
    per_dim = [_shapes.adaptive_bins(size, out) for size, out in zip(p.input_shape, p.output_shape)]
    for position in itertools.product(*(range(o) for o in p.output_shape)):
        starts = tuple(per_dim[a][0][i] for a, i in enumerate(position))
        ends = tuple(per_dim[a][1][i] for a, i in enumerate(position))
        yield (position, tuple(slice(s, e) for s, e in zip(starts, ends)), starts,
               tuple(e - s for s, e in zip(starts, ends)))


def _avg(x, output_size, ndim):
    p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
    x = np.asarray(x)
    y = np.empty(p.output_array_shape, dtype=p.dtype)
    spatial = tuple(range(2, 2 + p.ndim))
    for position, window, _, _ in _bins(p):
        y[(Ellipsis,) + position] = x[(Ellipsis,) + window].mean(axis=spatial, dtype=np.float64)
    return y


def _avg_backward(grad_output, x, output_size, ndim, grad_shape=None):
    p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
    gy = _validate.check_grad_output(grad_output, grad_shape or p.output_array_shape, p.dtype)
    gy = gy.reshape(p.output_array_shape).astype(np.float64)
    grad = np.zeros(np.shape(x), dtype=np.float64)
    expand = (Ellipsis,) + (None,) * p.ndim
    for position, window, _, shape in _bins(p):
        grad[(Ellipsis,) + window] += gy[(Ellipsis,) + position][expand] / np.prod(shape)
    return grad.astype(p.dtype)


def _argmax(x, p: _validate.AdaptivePoolParams):
    """(y, flat per-plane indices): first maximum of each bin in row-major order, except that
    a NaN wins, and of several NaNs the last (PyTorch's rule)."""
    y = np.empty(p.output_array_shape, dtype=p.dtype)
    indices = np.empty(p.output_array_shape, dtype=np.int64)
    lead = p.output_array_shape[:2]
    for position, window, starts, shape in _bins(p):
        values = x[(Ellipsis,) + window].reshape(lead + (int(np.prod(shape)),))
        nan = np.isnan(values)
        last_nan = values.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
        with np.errstate(invalid="ignore"):
            local = np.where(nan.any(axis=-1), last_nan, np.argmax(values, axis=-1))
        coords = np.unravel_index(local, shape)
        flat = np.zeros(lead, dtype=np.int64)
        for c, s, size in zip(coords, starts, p.input_shape):
            flat = flat * size + (c + s)
        y[(Ellipsis,) + position] = np.take_along_axis(values, local[..., None], -1)[..., 0]
        indices[(Ellipsis,) + position] = flat
    return y, indices


def _max(x, output_size, return_indices, ndim):
    p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
    y, indices = _argmax(np.asarray(x), p)
    return (y, indices) if _validate.check_bool(return_indices, "return_indices") else y


def _max_backward(grad_output, x, output_size, indices, ndim, grad_shape=None):
    p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
    grad_shape = grad_shape or p.output_array_shape
    gy = _validate.check_grad_output(grad_output, grad_shape, p.dtype)
    if indices is None:
        _, indices = _argmax(np.asarray(x), p)
    else:
        indices = _validate.check_indices(indices, grad_shape, p.input_shape)
    planes = p.batch * p.channels
    grad = np.zeros((planes, int(np.prod(p.input_shape))), dtype=p.dtype)
    rows = np.repeat(np.arange(planes), int(np.prod(p.output_shape)))
    np.add.at(grad, (rows, indices.reshape(-1)), gy.reshape(-1))
    return grad.reshape(np.shape(x))


def _global_shape(x, keepdims) -> tuple:
    shape = np.shape(x)
    keep = _validate.check_bool(keepdims, "keepdims")
    return shape[:2] + (1,) * (len(shape) - 2) if keep else shape[:2]


def global_avg_pool(x, *, keepdims=False):
    """Reference mean over all spatial dims of x (N, C, *spatial); as cyconv.global_avg_pool."""
    shape = _global_shape(x, keepdims)
    return _avg(x, 1, None).reshape(shape)


def global_avg_pool_backward(grad_output, x, *, keepdims=False):
    """Reference gradient of global_avg_pool w.r.t. x."""
    return _avg_backward(grad_output, x, 1, None, grad_shape=_global_shape(x, keepdims))


def global_max_pool(x, *, keepdims=False, return_indices=False):
    """Reference maximum over all spatial dims of x (N, C, *spatial); as cyconv.global_max_pool."""
    shape = _global_shape(x, keepdims)
    result = _max(x, 1, return_indices, None)
    if isinstance(result, tuple):
        return result[0].reshape(shape), result[1].reshape(shape)
    return result.reshape(shape)


def global_max_pool_backward(grad_output, x, *, keepdims=False, indices=None):
    """Reference gradient of global_max_pool w.r.t. x."""
    return _max_backward(grad_output, x, 1, indices, None, grad_shape=_global_shape(x, keepdims))


def _make(ndim: int):
    """The reference adaptive pooling functions for ``ndim`` spatial dims."""

    def adaptive_avg_pool(x, output_size):
        return _avg(x, output_size, ndim)

    def adaptive_max_pool(x, output_size, *, return_indices=False):
        return _max(x, output_size, return_indices, ndim)

    def adaptive_avg_pool_backward(grad_output, x, output_size):
        return _avg_backward(grad_output, x, output_size, ndim)

    def adaptive_max_pool_backward(grad_output, x, output_size, *, indices=None):
        return _max_backward(grad_output, x, output_size, indices, ndim)

    fns = (adaptive_avg_pool, adaptive_max_pool, adaptive_avg_pool_backward,
           adaptive_max_pool_backward)
    for fn in fns:
        base = fn.__name__.replace("_backward", "")
        fn.__name__ = fn.__qualname__ = fn.__name__.replace(base, f"{base}{ndim}d")
        fn.__doc__ = f"Reference {fn.__name__}; semantics as cyconv.{fn.__name__}."
    return fns


(adaptive_avg_pool1d, adaptive_max_pool1d,
 adaptive_avg_pool1d_backward, adaptive_max_pool1d_backward) = _make(1)
(adaptive_avg_pool2d, adaptive_max_pool2d,
 adaptive_avg_pool2d_backward, adaptive_max_pool2d_backward) = _make(2)
(adaptive_avg_pool3d, adaptive_max_pool3d,
 adaptive_avg_pool3d_backward, adaptive_max_pool3d_backward) = _make(3)
