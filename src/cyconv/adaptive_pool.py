"""Public adaptive and global pooling ops: validate, normalize, allocate, call one kernel.

Adaptive pooling gives a fixed output size whatever the input size, with PyTorch's bins
(``cyconv._shapes.adaptive_bins``); global pooling is adaptive pooling to size 1 over every
spatial dim. All of them run on one N-d kernel over 5-D (N, C, D, H, W) views. float16
inputs rerun in float32 (``_half``), rounded to float16 once.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _half, _outputs, _shapes, _threads, _validate
from ._kernels import _adaptive_pool as _k


@functools.lru_cache(maxsize=256)
def _geometry(input_shape: tuple, output_shape: tuple) -> tuple:
    """The kernels' 3-D view of one pooling: (input (D, H, W), output (OD, OH, OW), bin
    limits (d0, d1, h0, h1, w0, w1) back to back as a read-only intp array).

    A trailing dim of output size 1 is merged into the dim before it: its one bin spans
    whole rows, so the rows of each bin of the previous dim are one contiguous run. Global
    pooling thus becomes one flat reduction per plane. Row-major order - hence tie-breaking
    and the flat per-plane indices - is unchanged.
    """
    dims = [(size, out) + _shapes.adaptive_bins(size, out)
            for size, out in zip(input_shape, output_shape)]
    while len(dims) > 1 and dims[-1][1] == 1:
        (size, out, starts, ends), inner = dims[-2], dims[-1][0]
        dims[-2:] = [(size * inner, out, tuple(s * inner for s in starts),
                      tuple(e * inner for e in ends))]
    dims = [(1, 1, (0,), (1,))] * (3 - len(dims)) + dims
    limits = np.array([v for _, _, starts, ends in dims for v in starts + ends], dtype=np.intp)
    limits.flags.writeable = False
    return tuple(d[0] for d in dims), tuple(d[1] for d in dims), limits


def _views(p: _validate.AdaptivePoolParams):
    in3, out3, limits = _geometry(p.input_shape, p.output_shape)
    lead = (p.batch, p.channels)
    return lead + in3, lead + out3, limits


def _result(out, shape, dtype, inputs) -> np.ndarray:
    """A result array: fresh, or the checked ``out``."""
    if out is None:
        return _outputs.empty(shape, dtype)
    return _validate.check_out(out, shape, dtype, inputs)


def _avg(x, output_size, num_threads, ndim, out=None, shape=None):
    """Adaptive average pooling; ``shape``: the result's shape when not the (N, C, *out)
    of the kernels (global pooling's (N, C) - the same elements in the same order)."""
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim) if ndim else (x, False)
    if unbatched:
        y = _avg(x, output_size, num_threads, ndim, _validate.unbatched_out(out))
        return y[0] if out is None else out
    try:
        p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
    except _validate.Float16Input:  # computed in float32 (free on the float32/64 path)
        return _half.rerun(lambda x: _avg(x, output_size, num_threads, ndim, None, shape),
                           {"x": x}, out)
    n_threads = _threads.resolve(num_threads)
    y = _result(out, shape or p.output_array_shape, p.dtype, (x,))
    if p.batch:
        in5, out5, limits = _views(p)
        _k.avg_forward(_validate.for_kernel(x).reshape(in5), y.reshape(out5), limits,
                       _threads.scratch_rows(n_threads, in5[-1], np.float64), n_threads)
    return y


def _avg_backward(grad_output, x, output_size, num_threads, ndim, grad_shape=None, out=None):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim) if ndim else (x, False)
    if unbatched:
        gx = _avg_backward(_validate.batched(grad_output, ndim)[0], x, output_size,
                           num_threads, ndim, out=_validate.unbatched_out(out))
        return gx[0] if out is None else out
    try:
        p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
        gy = _validate.check_grad_output(grad_output, grad_shape or p.output_array_shape,
                                         p.dtype)
    except _validate.Float16Input:
        return _half.rerun(lambda grad_output, x: _avg_backward(
            grad_output, x, output_size, num_threads, ndim, grad_shape),
            {"grad_output": grad_output, "x": x}, out)
    n_threads = _threads.resolve(num_threads)
    gx = _result(out, x.shape, p.dtype, (gy, x))
    if p.batch:
        in5, out5, limits = _views(p)
        _k.avg_backward(_validate.for_kernel(gy).reshape(out5), gx.reshape(in5), limits,
                        _threads.scratch_rows(n_threads, in5[-1], np.float64), n_threads)
    return gx


def _max(x, output_size, return_indices, num_threads, ndim, out=None, shape=None):
    """Adaptive max pooling; ``shape`` as for :func:`_avg`."""
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, ndim) if ndim else (x, False)
    if unbatched:
        result = _max(x, output_size, return_indices, num_threads, ndim,
                      _validate.unbatched_out(out))
        if out is not None:
            return out
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]
    try:
        p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
    except _validate.Float16Input:
        return _half.rerun(lambda x: _max(x, output_size, return_indices, num_threads, ndim,
                                          None, shape), {"x": x}, out)
    return_indices = _validate.check_bool(return_indices, "return_indices")
    n_threads = _threads.resolve(num_threads)
    shape = shape or p.output_array_shape
    if not return_indices:
        y, indices = _result(out, shape, p.dtype, (x,)), np.empty((1,) * 5, dtype=np.int64)
    elif out is None:
        y, indices = _outputs.empty(shape, p.dtype), _outputs.empty(shape, np.int64)
    else:
        y, indices = _validate.check_out_pair(out, shape, p.dtype, (x,))
    if p.batch:
        in5, out5, limits = _views(p)
        _k.max_forward(_validate.for_kernel(x).reshape(in5), y.reshape(out5),
                       indices.reshape(out5) if return_indices else indices, return_indices,
                       limits, n_threads)
    if out is not None:
        return out
    return (y, indices) if return_indices else y


def _max_backward(grad_output, x, output_size, indices, num_threads, ndim, grad_shape=None,
                  out=None):
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    indices = _validate.array_like(indices, "indices")
    x, unbatched = _validate.batched(x, ndim) if ndim else (x, False)
    if unbatched:
        indices = indices[None] if isinstance(indices, np.ndarray) and \
            indices.ndim == ndim + 1 else indices
        gx = _max_backward(_validate.batched(grad_output, ndim)[0], x, output_size, indices,
                           num_threads, ndim, out=_validate.unbatched_out(out))
        return gx[0] if out is None else out
    try:
        p = _validate.adaptive_pool_params(x, output_size, ndim=ndim)
        grad_shape = grad_shape or p.output_array_shape
        gy = _validate.check_grad_output(grad_output, grad_shape, p.dtype)
    except _validate.Float16Input:
        return _half.rerun(lambda grad_output, x: _max_backward(
            grad_output, x, output_size, indices, num_threads, ndim, grad_shape),
            {"grad_output": grad_output, "x": x}, out)
    n_threads = _threads.resolve(num_threads)
    if indices is not None:
        indices = _validate.check_indices(indices, grad_shape, p.input_shape)
    gx = _result(out, x.shape, p.dtype, (gy, x, indices))
    if p.batch:
        in5, out5, limits = _views(p)
        use_indices = indices is not None
        index_view = (_validate.for_kernel(indices).reshape(out5) if use_indices
                      else np.empty((1,) * 5, dtype=np.int64))
        _k.max_backward(_validate.for_kernel(x).reshape(in5),
                        _validate.for_kernel(gy).reshape(out5), index_view, use_indices,
                        gx.reshape(in5), limits, n_threads)
    return gx


# ---- global pooling: adaptive pooling to size 1 over every spatial dim ----------------------

def _global_shape(x, keepdims) -> tuple:
    keepdims = _validate.check_bool(keepdims, "keepdims")
    shape = np.shape(x)
    return shape[:2] + (1,) * (len(shape) - 2) if keepdims else shape[:2]


def global_avg_pool(x, *, keepdims=False, num_threads=None, out=None):
    """Mean over all spatial dims of each (image, channel) plane.

    Parameters
    ----------
    x : ndarray, shape (N, C, *spatial) with 1 to 3 spatial dims, float16, float32 or float64
    keepdims : bool
        Keep the spatial dims as size 1: (N, C, 1, ..., 1) instead of (N, C).
    num_threads : int, optional
    out : ndarray, shape and dtype of y, optional
        Where to write y: C-contiguous, writeable, aligned, sharing no memory with x;
        returned as given.

    Returns
    -------
    y : ndarray, shape (N, C) or (N, C, 1, ..., 1), dtype of x
        Summed in double precision for both dtypes.
    """
    x = _validate.array_like(x, "x")
    return _avg(x, 1, num_threads, None, out, _global_shape(x, keepdims))


def global_avg_pool_backward(grad_output, x, *, keepdims=False, num_threads=None, out=None):
    """Gradient of :func:`global_avg_pool` with respect to x.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C) or, with ``keepdims``, (N, C, 1, ..., 1); dtype of x
    x : ndarray, shape (N, C, *spatial), float16, float32 or float64
        The forward input (only its shape and dtype are used).
    keepdims : bool
        As in the forward call.
    num_threads : int, optional
    out : ndarray, shape and dtype of x, optional
        Where to write grad_input (checked as the forward's ``out``).

    Returns
    -------
    grad_input : ndarray, shape (N, C, *spatial)
        ``grad_output / prod(spatial)`` broadcast over each plane.
    """
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    shape = _global_shape(x, keepdims)
    return _avg_backward(grad_output, x, 1, num_threads, None, grad_shape=shape, out=out)


def global_max_pool(x, *, keepdims=False, return_indices=False, num_threads=None, out=None):
    """Maximum over all spatial dims of each (image, channel) plane.

    Parameters
    ----------
    x : ndarray, shape (N, C, *spatial) with 1 to 3 spatial dims, float16, float32 or float64
    keepdims : bool
        Keep the spatial dims as size 1: (N, C, 1, ..., 1) instead of (N, C).
    return_indices : bool
        Also return the flat per-plane input index of each maximum (int64).
    num_threads : int, optional
    out : ndarray, or (ndarray, ndarray of int64) with ``return_indices``, optional
        Where to write y (and the indices), checked as :func:`cyconv.max_pool2d`'s ``out``;
        returned as given.

    Returns
    -------
    y : ndarray, shape (N, C) or (N, C, 1, ..., 1), dtype of x
    indices : ndarray of int64, same shape as y, only with ``return_indices``
        Ties go to the first maximum in row-major order; NaN propagates (the last NaN of a
        plane is selected, as in PyTorch's max pooling).
    """
    x = _validate.array_like(x, "x")
    return _max(x, 1, return_indices, num_threads, None, out, _global_shape(x, keepdims))


def global_max_pool_backward(grad_output, x, *, keepdims=False, indices=None, num_threads=None,
                             out=None):
    """Gradient of :func:`global_max_pool` with respect to x.

    Each plane's gradient goes to its maximum, re-selected from ``x`` unless the ``indices``
    returned by the forward pass are given.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C) or, with ``keepdims``, (N, C, 1, ..., 1); dtype of x
    x : ndarray, shape (N, C, *spatial), float16, float32 or float64
        The forward input.
    keepdims : bool
        As in the forward call.
    indices : ndarray of int64, shape of grad_output, optional
        From ``global_max_pool(..., return_indices=True)``.
    num_threads : int, optional
    out : ndarray, shape and dtype of x, optional
        Where to write grad_input (checked as the forward's ``out``).

    Returns
    -------
    grad_input : ndarray, shape (N, C, *spatial)
    """
    grad_output = _validate.array_like(grad_output, "grad_output")
    x = _validate.array_like(x, "x")
    indices = _validate.array_like(indices, "indices")
    shape = _global_shape(x, keepdims)
    return _max_backward(grad_output, x, 1, indices, num_threads, None, grad_shape=shape,
                         out=out)


# ---- adaptive pooling in 1, 2 and 3 dims ---------------------------------------------------

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _make_nd(ndim: int):
    """adaptive_avg_pool / adaptive_max_pool and their gradients for ``ndim`` spatial dims."""
    dims = _SPATIAL[ndim]
    out_dims = ", ".join(d + "_out" for d in dims.split(", "))
    out_doc = ("    out : optional\n"
               "        Where to write the result (checked as :func:`cyconv.max_pool2d`'s\n"
               "        ``out``); returned as given.\n")
    pair_doc = out_doc + "        With ``return_indices``: a ``(values, indices)`` pair.\n"
    size_doc = (f"    output_size : int or tuple of {ndim} (int or None)\n"
                f"        ({out_dims}); an int for every dim, None keeps that input size. May\n"
                f"        exceed the input size (bins then overlap).\n")

    def adaptive_avg_pool(x, output_size, *, num_threads=None, out=None):
        return _avg(x, output_size, num_threads, ndim, out)

    def adaptive_max_pool(x, output_size, *, return_indices=False, num_threads=None, out=None):
        return _max(x, output_size, return_indices, num_threads, ndim, out)

    def adaptive_avg_pool_backward(grad_output, x, output_size, *, num_threads=None, out=None):
        return _avg_backward(grad_output, x, output_size, num_threads, ndim, out=out)

    def adaptive_max_pool_backward(grad_output, x, output_size, *, indices=None,
                                   num_threads=None, out=None):
        return _max_backward(grad_output, x, output_size, indices, num_threads, ndim, out=out)

    adaptive_avg_pool.__doc__ = (
        f"{ndim}-D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool{ndim}d``.\n\n"
        f"    Output element i (per dim) is the mean of the input bin\n"
        f"    ``[floor(i*L/O), ceil((i+1)*L/O))`` for input size L and output size O.\n\n"
        f"    Parameters\n    ----------\n"
        f"    x : ndarray, shape (N, C, {dims}), float16, float32 or float64\n{size_doc}"
        f"    num_threads : int, optional\n{out_doc}\n"
        f"    Returns\n    -------\n"
        f"    y : ndarray, shape (N, C, {out_dims}), dtype of x (summed in double)\n")
    adaptive_max_pool.__doc__ = (
        f"{ndim}-D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool{ndim}d``.\n\n"
        f"    Output element i (per dim) is the maximum of the input bin\n"
        f"    ``[floor(i*L/O), ceil((i+1)*L/O))`` for input size L and output size O.\n\n"
        f"    Parameters\n    ----------\n"
        f"    x : ndarray, shape (N, C, {dims}), float16, float32 or float64\n{size_doc}"
        f"    return_indices : bool\n"
        f"        Also return the flat per-plane input index of each maximum (int64).\n"
        f"    num_threads : int, optional\n{pair_doc}\n"
        f"    Returns\n    -------\n"
        f"    y : ndarray, shape (N, C, {out_dims})\n"
        f"    indices : ndarray of int64, same shape, only with ``return_indices``\n"
        f"        Ties go to the first maximum in row-major bin order; NaN propagates (the\n"
        f"        last NaN of a bin is selected, as in PyTorch).\n")
    adaptive_avg_pool_backward.__doc__ = (
        f"Gradient of :func:`adaptive_avg_pool{ndim}d` with respect to x.\n\n"
        f"    Each output's gradient, divided by its bin size, goes to every element of the\n"
        f"    bin (summed where bins overlap).\n\n"
        f"    Parameters\n    ----------\n"
        f"    grad_output : ndarray, shape (N, C, {out_dims}), dtype of x\n"
        f"    x : ndarray, shape (N, C, {dims}), float16, float32 or float64\n"
        f"        The forward input (only its shape and dtype are used).\n{size_doc}"
        f"    num_threads : int, optional\n{out_doc}\n"
        f"    Returns\n    -------\n"
        f"    grad_input : ndarray, shape (N, C, {dims})\n")
    adaptive_max_pool_backward.__doc__ = (
        f"Gradient of :func:`adaptive_max_pool{ndim}d` with respect to x.\n\n"
        f"    Each output's gradient goes to its bin's maximum (summed where bins overlap),\n"
        f"    re-selected from x unless the forward's ``indices`` are given.\n\n"
        f"    Parameters\n    ----------\n"
        f"    grad_output : ndarray, shape (N, C, {out_dims}), dtype of x\n"
        f"    x : ndarray, shape (N, C, {dims}), float16, float32 or float64\n"
        f"        The forward input.\n{size_doc}"
        f"    indices : ndarray of int64, shape (N, C, {out_dims}), optional\n"
        f"        From ``adaptive_max_pool{ndim}d(..., return_indices=True)``.\n"
        f"    num_threads : int, optional\n{out_doc}\n"
        f"    Returns\n    -------\n"
        f"    grad_input : ndarray, shape (N, C, {dims})\n")
    fns = (adaptive_avg_pool, adaptive_max_pool, adaptive_avg_pool_backward,
           adaptive_max_pool_backward)
    for fn in fns:
        base = fn.__name__.replace("_backward", "")
        fn.__name__ = fn.__qualname__ = fn.__name__.replace(base, f"{base}{ndim}d")
    return fns


(adaptive_avg_pool1d, adaptive_max_pool1d,
 adaptive_avg_pool1d_backward, adaptive_max_pool1d_backward) = _make_nd(1)
(adaptive_avg_pool2d, adaptive_max_pool2d,
 adaptive_avg_pool2d_backward, adaptive_max_pool2d_backward) = _make_nd(2)
(adaptive_avg_pool3d, adaptive_max_pool3d,
 adaptive_avg_pool3d_backward, adaptive_max_pool3d_backward) = _make_nd(3)
