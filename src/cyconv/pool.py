"""Public pooling ops: validate, normalize, allocate, call one kernel.

Kernels work on 5-D arrays (N, C, D, H, W); 2-D pooling runs on views with a singleton depth.
float16 inputs rerun in float32 (``_half``), rounded to float16 once.
"""
from __future__ import annotations

import numpy as np

from . import _half, _outputs, _threads, _validate
from ._pool_plan import CALLS, PoolPlan


def _validated(kind, x, kernel_size, stride, padding, dilation, ceil_mode, num_threads, ndim,
               flag=None, flag_name="", grad_output=None) -> PoolPlan:
    """The plan of a pooling call, from the cache of validated calls when its arguments were
    seen before; ``flag`` is the value of the bool argument ``flag_name`` (if any)."""
    n_threads = _threads.resolve(num_threads)
    key = _validate.call_key((x, grad_output), (kind, kernel_size, stride, padding, dilation,
                                                ceil_mode, n_threads, ndim, flag))
    plan = CALLS.get(key)
    if plan is None:
        p = _validate.pool_params(x, kernel_size, stride, padding, dilation, ceil_mode,
                                  ndim=ndim)
        if flag_name:
            _validate.check_bool(flag, flag_name)
        if grad_output is not None:
            _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
        plan = PoolPlan(p, n_threads)
        CALLS.put(key, plan)
    return plan


# the kernels' indices argument when no index is asked for (never read or written)
_NO_INDICES = np.zeros((1, 1, 1, 1, 1), dtype=np.int64)


def _given_outputs(out, p, return_indices, inputs):
    """(values, indices) of a max/min pooling forward from the checked ``out`` (without
    ``return_indices`` the kernels take a dummy indices array)."""
    shape = p.output_array_shape
    if return_indices:
        return _validate.check_out_pair(out, shape, p.dtype, inputs)
    return _validate.check_out(out, shape, p.dtype, inputs), None


def _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, num_threads,
              ndim, largest, out=None):
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        result = _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                           num_threads, ndim, largest, _validate.unbatched_out(out))
        if out is not None:
            return out
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]
    try:
        plan = _validated("extremum", x, kernel_size, stride, padding, dilation, ceil_mode,
                          num_threads, ndim, return_indices, "return_indices")
    except _validate.Float16Input:  # computed in float32 (free on the float32/64 path)
        return _half.rerun(lambda x: _extremum(x, kernel_size, stride, padding, dilation,
                                               ceil_mode, return_indices, num_threads, ndim,
                                               largest), {"x": x}, out)
    p = plan.p
    if out is None:  # the hot path: no call more than before out= existed
        y = _outputs.empty(plan.out_shape, p.dtype)
        indices = _outputs.empty(plan.out_shape, np.int64) if return_indices else None
    else:
        y, indices = _given_outputs(out, p, return_indices, (x,))
    if p.batch:
        # index outputs keep one row per plane; values alone take the plan's row layout
        layout = plan.layout(1) if return_indices else plan.main
        scratch = layout.row_scratch if return_indices else layout.values_scratch
        plan.kernels.extremum_forward(
            _validate.for_kernel(x).reshape(layout.in5), y.reshape(layout.out5),
            _NO_INDICES if indices is None else indices.reshape(layout.out5), return_indices,
            largest, layout.window, np.empty(scratch, p.dtype), np.empty(scratch, np.int32),
            plan.n_threads)
    if out is not None:
        return out
    return (y, indices) if return_indices else y


def _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
                       num_threads, ndim, largest, out=None):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    indices = _validate.array_like(indices, "indices")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        gx = _extremum_backward(_validate.batched(grad_output, ndim)[0], x, kernel_size,
                                stride, padding, dilation, ceil_mode,
                                _batched_indices(indices, ndim), num_threads, ndim,
                                largest, _validate.unbatched_out(out))
        return gx[0] if out is None else out
    try:
        plan = _validated("extremum_backward", x, kernel_size, stride, padding, dilation,
                          ceil_mode, num_threads, ndim, grad_output=grad_output)
    except _validate.Float16Input:
        return _half.rerun(lambda grad_output, x: _extremum_backward(
            grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
            num_threads, ndim, largest), {"grad_output": grad_output, "x": x}, out)
    p = plan.p
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    if indices is not None:
        indices = _validate.check_indices(indices, p.output_array_shape, p.input_shape,
                                            empty_windows=True)
    gx = _outputs.empty(x.shape, p.dtype) if out is None else _validate.check_out(
        out, x.shape, p.dtype, (gy, x, indices))
    if p.batch and indices is None:
        layout = plan.main
        plan.kernels.extremum_backward_recompute(
            _validate.for_kernel(x).reshape(layout.in5),
            _validate.for_kernel(gy).reshape(layout.out5), gx.reshape(layout.in5), largest,
            layout.window, np.empty(layout.row_scratch, p.dtype),
            np.empty(layout.row_scratch, np.int32), plan.n_threads)
    elif p.batch:
        layout = plan.layout(1)
        plan.kernels.extremum_backward(_validate.for_kernel(gy).reshape(layout.out5),
                             _validate.for_kernel(indices).reshape(layout.out5),
                             gx.reshape(layout.in5), plan.n_threads)
    return gx


def _batched_indices(indices, ndim):
    if isinstance(indices, np.ndarray) and indices.ndim == ndim + 1:
        return indices[None]
    return indices


def _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads, ndim,
         out=None):
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        y = _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads,
                 ndim, _validate.unbatched_out(out))
        return y[0] if out is None else out
    try:
        plan = _validated("avg", x, kernel_size, stride, padding, 1, ceil_mode, num_threads,
                          ndim, count_include_pad, "count_include_pad")
    except _validate.Float16Input:
        return _half.rerun(lambda x: _avg(x, kernel_size, stride, padding, ceil_mode,
                                          count_include_pad, num_threads, ndim), {"x": x}, out)
    p = plan.p
    y = _outputs.empty(plan.out_shape, p.dtype) if out is None else _validate.check_out(
        out, plan.out_shape, p.dtype, (x,))
    layout = plan.main
    if layout is not None:  # count_include_pad was checked to be a bool: the kernel takes it
        plan.kernels.avg_forward(_validate.for_kernel(x).reshape(layout.in5),
                                 y.reshape(layout.out5), layout.window, count_include_pad,
                                 layout.avg_scratch[1], plan.n_threads)
    return y


def _avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  num_threads, ndim, out=None):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim)
    if unbatched:
        gx = _avg_backward(_validate.batched(grad_output, ndim)[0], x, kernel_size, stride,
                           padding, ceil_mode, count_include_pad, num_threads, ndim,
                           _validate.unbatched_out(out))
        return gx[0] if out is None else out
    try:
        plan = _validated("avg_backward", x, kernel_size, stride, padding, 1, ceil_mode,
                          num_threads, ndim, count_include_pad, "count_include_pad",
                          grad_output=grad_output)
    except _validate.Float16Input:
        return _half.rerun(lambda grad_output, x: _avg_backward(
            grad_output, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
            num_threads, ndim), {"grad_output": grad_output, "x": x}, out)
    p = plan.p
    gy = _validate.check_grad_output(grad_output, p.output_array_shape, p.dtype)
    gx = _outputs.empty(x.shape, p.dtype) if out is None else _validate.check_out(
        out, x.shape, p.dtype, (gy, x))
    if p.batch:
        layout = plan.main
        plan.kernels.avg_backward(_validate.for_kernel(gy).reshape(layout.out5),
                                  gx.reshape(layout.in5), layout.window, bool(count_include_pad),
                                  np.zeros(layout.avg_backward_scratch, p.dtype),
                                  plan.n_threads)
    return gx


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
               return_indices=False, num_threads=None, out=None):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float16, float32 or float64
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
    out : ndarray, or (ndarray, ndarray of int64) with ``return_indices``, optional
        Where to write the result (as torch's ``out=`` of ``max_pool2d_with_indices``: the
        ``(values, indices)`` pair with ``return_indices``): exactly the result's shape and
        dtype, C-contiguous, writeable, aligned, sharing no memory with ``x``. Returned as
        given (the same object). An unbatched ``x`` takes an unbatched ``out``.

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out)
    indices : ndarray of int64, shape (N, C, H_out, W_out), only with ``return_indices``
        Ties go to the first maximum in row-major window order; NaN propagates (the last NaN
        of a window is selected, as in PyTorch).
    """
    return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     num_threads, 2, True, out=out)


def min_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
               return_indices=False, num_threads=None, out=None):
    """2-D min pooling: :func:`max_pool2d` with the minimum.

    Same parameters and return values as :func:`max_pool2d`; padding acts as +inf and is
    never selected, ties go to the first minimum in row-major window order, NaN propagates.
    """
    return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     num_threads, 2, False, out=out)


def max_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                        ceil_mode=False, indices=None, num_threads=None, out=None):
    """Gradient of :func:`max_pool2d` with respect to x.

    Each output's gradient goes to its selected input (summed where windows overlap). The
    selection is recomputed from ``x`` unless the ``indices`` returned by the forward pass
    (``return_indices=True``) are given.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, H_out, W_out), dtype of x
    x : ndarray, shape (N, C, H, W), float16, float32 or float64
        The forward input.
    kernel_size, stride, padding, dilation, ceil_mode
        As in the forward call.
    indices : ndarray of int64, shape (N, C, H_out, W_out), optional
        From ``max_pool2d(..., return_indices=True)``; skips re-selecting the maxima.
    num_threads : int, optional
    out : ndarray, shape of x, optional
        Where to write grad_input, checked as the forward's ``out`` (and sharing no memory
        with grad_output or indices); returned as given.

    Returns
    -------
    grad_input : ndarray, shape (N, C, H, W)
    """
    return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
                              indices, num_threads, 2, True, out=out)


def min_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                        ceil_mode=False, indices=None, num_threads=None, out=None):
    """Gradient of :func:`min_pool2d` with respect to x, shape (N, C, H, W).

    Parameters and return value as :func:`max_pool2d_backward`.
    """
    return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode,
                              indices, num_threads, 2, False, out=out)


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
               count_include_pad=True, num_threads=None, out=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float16, float32 or float64
    kernel_size, stride, padding, ceil_mode
        As :func:`max_pool2d` (zero padding).
    count_include_pad : bool
        True divides by the window size clipped to the padded input; False by the number of
        real input elements in the window.
    num_threads : int, optional
    out : ndarray, optional
        Where to write y, checked as :func:`max_pool2d`'s ``out``; returned as given.

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out)
    """
    return _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads, 2, out=out)


def avg_pool2d_backward(grad_output, x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                        count_include_pad=True, num_threads=None, out=None):
    """Gradient of :func:`avg_pool2d` with respect to x.

    Each output's gradient, divided by that window's divisor, goes to every real input element
    of the window.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, H_out, W_out), dtype of x
    x : ndarray, shape (N, C, H, W), float16, float32 or float64
        The forward input (only its shape and dtype are used).
    kernel_size, stride, padding, ceil_mode, count_include_pad
        As in the forward call.
    num_threads : int, optional
    out : ndarray, shape of x, optional
        Where to write grad_input, checked as :func:`max_pool2d_backward`'s ``out``.

    Returns
    -------
    grad_input : ndarray, shape (N, C, H, W)
    """
    return _avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, num_threads, 2, out=out)


_SPATIAL = {1: "L", 3: "D, H, W"}


def _make_nd(ndim: int):
    """max/min/avg pooling and their gradients for 1 or 3 spatial dims (the same kernels as
    2-D, on views with singleton leading dims); semantics and parameters as the 2-D ops."""
    dims = _SPATIAL[ndim]
    out_dims = ", ".join(d + "_out" for d in dims.split(", "))

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False, num_threads=None, out=None):
        return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                         num_threads, ndim, True, out=out)

    def min_pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False, num_threads=None, out=None):
        return _extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                         num_threads, ndim, False, out=out)

    def max_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None, num_threads=None, out=None):
        return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation,
                                  ceil_mode, indices, num_threads, ndim, True, out=out)

    def min_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None, num_threads=None, out=None):
        return _extremum_backward(grad_output, x, kernel_size, stride, padding, dilation,
                                  ceil_mode, indices, num_threads, ndim, False, out=out)

    def avg_pool(x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                 count_include_pad=True, num_threads=None, out=None):
        return _avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads,
                    ndim, out=out)

    def avg_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, *,
                          ceil_mode=False, count_include_pad=True, num_threads=None, out=None):
        return _avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode,
                             count_include_pad, num_threads, ndim, out=out)

    what = {max_pool: "max pooling", min_pool: "min pooling", avg_pool: "average pooling"}
    for fn, kind in what.items():
        fn.__name__ = fn.__qualname__ = f"{fn.__name__}{ndim}d"
        fn.__doc__ = (f"{ndim}-D {kind}, as :func:`{fn.__name__[:-2]}2d` with {ndim} spatial "
                      f"dim{'s' if ndim > 1 else ''}.\n\n"
                      f"    Parameters\n    ----------\n"
                      f"    x : ndarray, shape (N, C, {dims}), float16, float32 or float64\n"
                      f"    kernel_size, stride, padding, ...\n"
                      f"        An int or a tuple of {ndim} ints (per-side pairs: {ndim} pairs).\n"
                      f"    out : optional\n        As :func:`{fn.__name__[:-2]}2d`'s.\n\n"
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
                      f"grad_output (N, C, {out_dims}) and out (N, C, {dims}).\n\n"
                      f"    Returns\n    -------\n"
                      f"    grad_input : ndarray, shape (N, C, {dims})\n")
    return max_pool, min_pool, avg_pool, max_pool_backward, min_pool_backward, avg_pool_backward


(max_pool1d, min_pool1d, avg_pool1d,
 max_pool1d_backward, min_pool1d_backward, avg_pool1d_backward) = _make_nd(1)
(max_pool3d, min_pool3d, avg_pool3d,
 max_pool3d_backward, min_pool3d_backward, avg_pool3d_backward) = _make_nd(3)
