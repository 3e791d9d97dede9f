"""Public pooling ops: validate, normalize, allocate, call one kernel.

Kernels work on 5-D arrays (N, C, D, H, W); 2-D pooling runs on views with a singleton depth.
"""
from __future__ import annotations

import math

import numpy as np

from . import _threads, _validate
from ._kernels import _pool as _k


# scratch rows are this much longer than an output row (the kernels round rows up to whole vectors)
ROW_PAD = _k.SCRATCH_PAD


def _to5d(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.reshape(a.shape[:2] + (1,) * (3 - ndim) + a.shape[2:])


def _window(p: _validate.PoolParams) -> dict:
    lead = 3 - p.ndim
    values = {
        "": (1,) * lead + p.input_shape,
        "K": (1,) * lead + p.kernel_size,
        "S": (1,) * lead + p.stride,
        "P": (0,) * lead + tuple(lo for lo, _ in p.padding),
        "Q": (0,) * lead + tuple(hi for _, hi in p.padding),
        "D": (1,) * lead + p.dilation,
        "O": (1,) * lead + p.output_shape,
    }
    return {prefix + axis: v[i] for prefix, v in values.items() for i, axis in enumerate("DHW")}


def _stacked_rows(p: _validate.PoolParams, channels: int, n_threads: int) -> int:
    """Rows of a 1-D pooling stacked into one kernel plane (1 for 2-D/3-D).

    The kernels give each thread whole planes; a 1-D plane is a single row, whose per-plane
    setup then costs as much as the row itself (avg_pool1d k2/s2 on 32x64x1024, 2 threads:
    0.59 ms as 2048 one-row planes, 0.29 ms as 32 planes of 64 rows). The rows of one
    image's channels are independent, so up to 64 of them share a plane, leaving at least
    four planes per thread. Index outputs (per-row positions) keep one row per plane.
    """
    if p.ndim != 1:
        return 1
    best = 1
    for rows in range(2, min(channels, 64) + 1):
        if channels % rows == 0 and p.batch * (channels // rows) >= 4 * n_threads:
            best = rows
    return best


class _PoolCall:
    """A validated pooling call: its parameters, thread count, 1-D row stacking, and its
    kernel window dicts (per stacking), built once per distinct call."""

    __slots__ = ("p", "n_threads", "stacked", "_windows")

    def __init__(self, p: _validate.PoolParams, n_threads: int):
        self.p, self.n_threads = p, n_threads
        self.stacked = _stacked_rows(p, p.channels, n_threads)
        self._windows = {}

    def views(self, arrays, rows: int):
        """5-D kernel views of ``arrays`` and the window dict; with rows > 1 (1-D only) each
        view is (N*C/rows, 1, 1, rows, L) and the window pools over W alone."""
        window = self._windows.get(rows)
        if window is None:
            window = _window(self.p) if rows == 1 else dict(_window(self.p), H=rows, OH=rows)
            self._windows[rows] = window
        if rows == 1:
            return [_to5d(a, self.p.ndim) for a in arrays], window
        return [a.reshape(-1, 1, 1, rows, a.shape[-1]) for a in arrays], window


# validated calls: call key -> (params, thread count) (see _validate.call_key)
_CALLS = _validate.ValidatedCalls()


def _validated(kind, x, kernel_size, stride, padding, dilation, ceil_mode, num_threads, ndim,
               flags=(), grad_output=None):
    """The _PoolCall of a pooling call, from the cache of validated calls when its arguments
    were seen before; ``flags`` are (value, name) pairs of bool arguments."""
    n_threads = _threads.resolve(num_threads)
    key = _validate.call_key((x, grad_output), (kind, kernel_size, stride, padding, dilation,
                                                ceil_mode, n_threads, ndim)
                             + tuple(value for value, _ in flags))
    entry = _CALLS.get(key)
    if entry is None:
        p = _validate.pool_params(x, kernel_size, stride, padding, dilation, ceil_mode,
                                  ndim=ndim)
        for value, name in flags:
            _validate.check_bool(value, name)
        if grad_output is not None:
            _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
        work = p.batch * p.channels * math.prod(p.input_shape)
        entry = _PoolCall(p, _threads.for_work(n_threads, work, _threads.SMALL_POOL_ELEMENTS))
        _CALLS.put(key, entry)
    return entry


def _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, num_threads,
              ndim, largest):
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        result = _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                           num_threads, ndim, largest)
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]
    call = _validated("extremum", x, kernel_size, stride, padding, dilation, ceil_mode,
                      num_threads, ndim, ((return_indices, "return_indices"),))
    p, n_threads = call.p, call.n_threads
    return_indices = bool(return_indices)
    y = np.empty(p.output_array_shape, dtype=p.dtype)
    indices = np.empty(p.output_array_shape if return_indices else (1,) * (ndim + 2), dtype=np.int64)
    if p.batch:
        row = p.output_shape[-1] + ROW_PAD
        rows = 1 if return_indices else call.stacked
        (x5, y5), window = call.views((_validate.for_kernel(x), y), rows)
        if not return_indices:
            row = max(row, _k.forward_scratch_length(window))
        _k.extremum_forward(x5, y5, _to5d(indices, ndim), return_indices, largest, window,
                            _threads.scratch_rows(n_threads, row, p.dtype),
                            _threads.scratch_rows(n_threads, row, np.int32),
                            n_threads)
    return (y, indices) if return_indices else y


def _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
                       num_threads, ndim, largest):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    indices = _validate.array_like(indices, "indices")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        return _extremum_backward(_validate.batched(grad_output, ndim)[0], x, kernel_size,
                                  stride, padding, dilation, ceil_mode,
                                  _batched_indices(indices, ndim), num_threads, ndim,
                                  largest)[0]
    call = _validated("extremum_backward", x, kernel_size, stride, padding, dilation,
                      ceil_mode, num_threads, ndim, grad_output=grad_output)
    p, n_threads = call.p, call.n_threads
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    if indices is not None:
        indices = _validate.check_indices(indices, p.output_array_shape, p.input_shape,
                                            empty_windows=True)
    gx = np.empty(np.shape(x), dtype=p.dtype)
    if p.batch and indices is None:
        row = p.output_shape[-1] + ROW_PAD
        (x5, gy5, gx5), window = call.views(
            (_validate.for_kernel(x), _validate.for_kernel(gy), gx), call.stacked)
        _k.extremum_backward_recompute(
            x5, gy5, gx5, largest, window, _threads.scratch_rows(n_threads, row, p.dtype),
            _threads.scratch_rows(n_threads, row, np.int32), n_threads)
    elif p.batch:
        _k.extremum_backward(_to5d(_validate.for_kernel(gy), ndim),
                             _to5d(_validate.for_kernel(indices), ndim), _to5d(gx, ndim), n_threads)
    return gx


def _batched_indices(indices, ndim):
    if isinstance(indices, np.ndarray) and indices.ndim == ndim + 1:
        return indices[None]
    return indices


def _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads, ndim):
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        return _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads,
                    ndim)[0]
    call = _validated("avg", x, kernel_size, stride, padding, 1, ceil_mode, num_threads, ndim,
                      ((count_include_pad, "count_include_pad"),))
    p, n_threads = call.p, call.n_threads
    count_include_pad = bool(count_include_pad)
    y = np.empty(p.output_array_shape, dtype=p.dtype)
    if p.batch:
        (x5, y5), window = call.views((_validate.for_kernel(x), y), call.stacked)
        _k.avg_forward(x5, y5, window, count_include_pad,
                       _threads.scratch_rows(n_threads, _k.forward_scratch_length(window), p.dtype),
                       n_threads)
    return y


def _avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  num_threads, ndim):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        return _avg_backward(_validate.batched(grad_output, ndim)[0], x, kernel_size, stride,
                             padding, ceil_mode, count_include_pad, num_threads, ndim)[0]
    call = _validated("avg_backward", x, kernel_size, stride, padding, 1, ceil_mode,
                      num_threads, ndim, ((count_include_pad, "count_include_pad"),),
                      grad_output=grad_output)
    p, n_threads = call.p, call.n_threads
    count_include_pad = bool(count_include_pad)
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    gx = np.empty(np.shape(x), dtype=p.dtype)
    if p.batch:
        (gy5, gx5), window = call.views((_validate.for_kernel(gy), gx), call.stacked)
        _k.avg_backward(gy5, gx5, window, count_include_pad,
                        _threads.scratch_rows(n_threads, _k.avg_backward_scratch_length(window),
                                              p.dtype, zero=True),
                        n_threads)
    return gx


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
               return_indices=False, num_threads=None):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int, (int, int) or ((top, bottom), (left, right))
        Implicit -inf padding, at most half the kernel on each side; never selected.
    dilation : int or (int, int)
    ceil_mode : bool
        Round the output size up (the last window must start inside the input or the
        leading padding).
    return_indices : bool
        Also return the flat per-plane input index (``h * W + w``, int64) of each maximum.
    num_threads : int, optional

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out)
    indices : ndarray of int64, shape (N, C, H_out, W_out), only with ``return_indices``
        Ties go to the first maximum in row-major window order; NaN propagates (the last NaN
        of a window is selected, as in PyTorch).
    """
    return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     num_threads, 2, True)


def min_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
               return_indices=False, num_threads=None):
    """2-D min pooling: :func:`max_pool2d` with the minimum.

    Same parameters and return values as :func:`max_pool2d`; padding acts as +inf and is
    never selected, ties go to the first minimum in row-major window order, NaN propagates.
    """
    return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     num_threads, 2, False)


def max_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                        ceil_mode=False, indices=None, num_threads=None):
    """Gradient of :func:`max_pool2d` with respect to x.

    Each output's gradient goes to its selected input (summed where windows overlap). The
    selection is recomputed from ``x`` unless the ``indices`` returned by the forward pass
    (``return_indices=True``) are given.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, H_out, W_out), dtype of x
    x : ndarray, shape (N, C, H, W), float32 or float64
        The forward input.
    kernel_size, stride, padding, dilation, ceil_mode
        As in the forward call.
    indices : ndarray of int64, shape (N, C, H_out, W_out), optional
        From ``max_pool2d(..., return_indices=True)``; skips re-selecting the maxima.
    num_threads : int, optional

    Returns
    -------
    grad_input : ndarray, shape (N, C, H, W)
    """
    return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
                              indices, num_threads, 2, True)


def min_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                        ceil_mode=False, indices=None, num_threads=None):
    """Gradient of :func:`min_pool2d` with respect to x, shape (N, C, H, W).

    Parameters and return value as :func:`max_pool2d_backward`.
    """
    return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
                              indices, num_threads, 2, False)


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
               count_include_pad=True, num_threads=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel_size, stride, padding, ceil_mode
        As :func:`max_pool2d` (zero padding).
    count_include_pad : bool
        True divides by the window size clipped to the padded input; False by the number of
        real input elements in the window.
    num_threads : int, optional

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out)
    """
    return _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads, 2)


def avg_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                        count_include_pad=True, num_threads=None):
    """Gradient of :func:`avg_pool2d` with respect to x.

    Each output's gradient, divided by that window's divisor, goes to every real input element
    of the window.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, H_out, W_out), dtype of x
    x : ndarray, shape (N, C, H, W), float32 or float64
        The forward input (only its shape and dtype are used).
    kernel_size, stride, padding, ceil_mode, count_include_pad
        As in the forward call.
    num_threads : int, optional

    Returns
    -------
    grad_input : ndarray, shape (N, C, H, W)
    """
    return _avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, num_threads, 2)


_SPATIAL = {1: "L", 3: "D, H, W"}


def _make_nd(ndim: int):
    """max/min/avg pooling and their gradients for 1 or 3 spatial dims (the same kernels as
    2-D, on views with singleton leading dims); semantics and parameters as the 2-D ops."""
    dims = _SPATIAL[ndim]
    out_dims = ", ".join(d + "_out" for d in dims.split(", "))

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False, num_threads=None):
        return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                         num_threads, ndim, True)

    def min_pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False, num_threads=None):
        return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                         num_threads, ndim, False)

    def max_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None, num_threads=None):
        return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation,
                                  ceil_mode, indices, num_threads, ndim, True)

    def min_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None, num_threads=None):
        return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation,
                                  ceil_mode, indices, num_threads, ndim, False)

    def avg_pool(x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                 count_include_pad=True, num_threads=None):
        return _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads,
                    ndim)

    def avg_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, *,
                          ceil_mode=False, count_include_pad=True, num_threads=None):
        return _avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode,
                             count_include_pad, num_threads, ndim)

    what = {max_pool: "max pooling", min_pool: "min pooling", avg_pool: "average pooling"}
    for fn, kind in what.items():
        fn.__name__ = fn.__qualname__ = f"{fn.__name__}{ndim}d"
        fn.__doc__ = (f"{ndim}-D {kind}, as :func:`{fn.__name__[:-2]}2d` with {ndim} spatial "
                      f"dim{'s' if ndim > 1 else ''}.\n\n"
                      f"    Parameters\n    ----------\n"
                      f"    x : ndarray, shape (N, C, {dims}), float32 or float64\n"
                      f"    kernel_size, stride, padding, ...\n"
                      f"        An int or a tuple of {ndim} ints (per-side pairs: {ndim} pairs).\n\n"
                      f"    Returns\n    -------\n"
                      f"    y : ndarray, shape (N, C, {out_dims})\n"
                      + ("    indices : ndarray of int64, same shape, only with return_indices\n"
                         "        Flat per-plane input index of each selected element.\n"
                         if fn is not avg_pool else ""))
    for fn, fwd in ((max_pool_backward, max_pool), (min_pool_backward, min_pool),
                    (avg_pool_backward, avg_pool)):
        fn.__name__ = fn.__qualname__ = f"{fwd.__name__}_backward"
        fn.__doc__ = (f"Gradient of :func:`{fwd.__name__}` with respect to x.\n\n"
                      f"    Parameters as :func:`{fwd.__name__[:-2]}2d_backward`, with "
                      f"grad_output (N, C, {out_dims}).\n\n"
                      f"    Returns\n    -------\n"
                      f"    grad_input : ndarray, shape (N, C, {dims})\n")
    return max_pool, min_pool, avg_pool, max_pool_backward, min_pool_backward, avg_pool_backward


(max_pool1d, min_pool1d, avg_pool1d,
 max_pool1d_backward, min_pool1d_backward, avg_pool1d_backward) = _make_nd(1)
(max_pool3d, min_pool3d, avg_pool3d,
 max_pool3d_backward, min_pool3d_backward, avg_pool3d_backward) = _make_nd(3)
