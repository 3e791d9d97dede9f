"""Global and adaptive pooling on dask arrays.

An adaptive bin's bounds depend on the whole spatial size, so adaptive pooling needs each
spatial dim in one chunk (a clear ValueError says how to rechunk otherwise); every batch
block then calls the single-array op on itself. Global pooling does that too when the
spatial dims are whole, and reduces across spatial chunks otherwise (``_global_pool``).
"""
from __future__ import annotations

from functools import partial

import numpy as np

import cyconv

from .. import _validate
from . import _geometry, _global_pool, _inputs, _tasks, _threads
from ._graph import GraphBuilder


def _call(*arrays, fn, names, keywords):
    """``cyconv.<fn>`` with the block's arrays passed by parameter name."""
    from ._graph import assemble
    return getattr(cyconv, fn)(**dict(zip(names, (assemble(a) for a in arrays))), **keywords)


def _per_batch(fn, x, arrays: dict, out_shape: tuple, dtype, keywords, pair=False):
    """``cyconv.<fn>`` on each N block of ``arrays`` (name -> dask array, all with N first);
    ``out_shape`` is the whole output's shape."""
    names = tuple(arrays)
    builder = GraphBuilder(fn, [a.name for a in arrays.values()], keywords)
    batch = _geometry.chunk_bounds(x.chunks[0])
    block = builder.name + ("-pair" if pair else "")
    tail = (0,) * (len(out_shape) - 1)
    for ni, (n0, n1) in enumerate(batch):
        keys = [builder.read(a, [(n0, n1)] + [(0, s) for s in a.shape[1:]])
                for a in arrays.values()]
        builder.tasks[(block, ni) + tail] = (partial(_call, fn=fn, names=names,
                                                     keywords=keywords), *keys)
        if pair:
            for i, suffix in enumerate(("", "-indices")):
                builder.tasks[(builder.name + suffix, ni) + tail] = (_tasks.take,
                                                                     (block, ni) + tail, i)
    chunks = (tuple(b - a for a, b in batch),) + tuple((s,) for s in out_shape[1:])
    deps = list(arrays.values())
    y = builder.array(chunks, dtype, deps, len(out_shape))
    if not pair:
        return y
    return y, builder.array(chunks, np.int64, deps, len(out_shape), name=builder.name + "-indices")


def _prepare(x, op, ndim, output_size, num_threads, spatial_chunks=False):
    x = _inputs.as_dask(x, "x")
    if ndim is not None:
        _inputs.check_batched(x, "x", ndim)
    if not spatial_chunks:
        _inputs.spatial_one_chunk(x, "x", op)
    p = _validate.adaptive_pool_params(_inputs.stand_in(x), output_size, ndim=ndim)
    return x, p, _threads.task_threads(num_threads, [x])


def _global_shape(p, keepdims) -> tuple:
    return (p.batch, p.channels) + ((1,) * p.ndim if keepdims else ())


def _gradient(fn, grad_output, x, p, expected, keywords, indices=None):
    gy = _checked_grad(grad_output, p, expected)
    arrays = {"grad_output": gy, "x": x}
    if indices is not None:
        arrays["indices"] = _inputs.as_dask(indices, "indices")
    return _per_batch(fn, x, arrays, x.shape, p.dtype, keywords)


def _one_spatial_chunk(x) -> bool:
    return all(len(c) == 1 for c in x.chunks[2:])


def global_avg_pool(x, *, keepdims=False, num_threads=None):
    x, p, threads = _prepare(x, "global_avg_pool", None, 1, num_threads, spatial_chunks=True)
    keepdims = _validate.check_bool(keepdims, "keepdims")
    if not _one_spatial_chunk(x):
        return _global_pool.avg(x, p, keepdims)
    return _per_batch("global_avg_pool", x, {"x": x}, _global_shape(p, keepdims), p.dtype,
                      dict(keepdims=keepdims, num_threads=threads))


def global_avg_pool_backward(grad_output, x, *, keepdims=False, num_threads=None):
    x, p, threads = _prepare(x, "global_avg_pool_backward", None, 1, num_threads,
                             spatial_chunks=True)
    keepdims = _validate.check_bool(keepdims, "keepdims")
    if not _one_spatial_chunk(x):
        gy = _checked_grad(grad_output, p, _global_shape(p, keepdims))
        return _global_pool.avg_backward(gy, x, p)
    return _gradient("global_avg_pool_backward", grad_output, x, p,
                     _global_shape(p, keepdims), dict(keepdims=keepdims, num_threads=threads))


def global_max_pool(x, *, keepdims=False, return_indices=False, num_threads=None):
    x, p, threads = _prepare(x, "global_max_pool", None, 1, num_threads, spatial_chunks=True)
    keepdims = _validate.check_bool(keepdims, "keepdims")
    return_indices = _validate.check_bool(return_indices, "return_indices")
    if not _one_spatial_chunk(x):
        return _global_pool.max_(x, p, keepdims, return_indices)
    return _per_batch("global_max_pool", x, {"x": x}, _global_shape(p, keepdims), p.dtype,
                      dict(keepdims=keepdims, return_indices=return_indices,
                           num_threads=threads), pair=return_indices)


def global_max_pool_backward(grad_output, x, *, keepdims=False, indices=None, num_threads=None):
    x, p, threads = _prepare(x, "global_max_pool_backward", None, 1, num_threads,
                             spatial_chunks=True)
    keepdims = _validate.check_bool(keepdims, "keepdims")
    if not _one_spatial_chunk(x):
        gy = _checked_grad(grad_output, p, _global_shape(p, keepdims))
        if indices is not None:
            indices = _inputs.as_dask(indices, "indices")
            if indices.dtype != np.int64 or indices.shape != gy.shape:
                raise TypeError(f"indices must be the int64 array returned with "
                                f"return_indices=True, shape {gy.shape}; got {indices.dtype} "
                                f"{indices.shape}")
        return _global_pool.max_backward(gy, x, p, indices)
    return _gradient("global_max_pool_backward", grad_output, x, p,
                     _global_shape(p, keepdims), dict(keepdims=keepdims, num_threads=threads),
                     indices)


def _checked_grad(grad_output, p, expected):
    gy = _inputs.as_dask(grad_output, "grad_output")
    _validate.check_grad_output(_inputs.stand_in(gy), expected, p.dtype)
    return gy


def _make_adaptive(ndim: int) -> dict:
    def adaptive_avg_pool(x, output_size, *, num_threads=None):
        name = f"adaptive_avg_pool{ndim}d"
        x, p, threads = _prepare(x, name, ndim, output_size, num_threads)
        return _per_batch(name, x, {"x": x}, p.output_array_shape, p.dtype,
                          dict(output_size=p.output_shape, num_threads=threads))

    def adaptive_max_pool(x, output_size, *, return_indices=False, num_threads=None):
        name = f"adaptive_max_pool{ndim}d"
        x, p, threads = _prepare(x, name, ndim, output_size, num_threads)
        keywords = dict(output_size=p.output_shape, num_threads=threads,
                        return_indices=_validate.check_bool(return_indices, "return_indices"))
        return _per_batch(name, x, {"x": x}, p.output_array_shape, p.dtype, keywords,
                          pair=keywords["return_indices"])

    def adaptive_avg_pool_backward(grad_output, x, output_size, *, num_threads=None):
        name = f"adaptive_avg_pool{ndim}d_backward"
        x, p, threads = _prepare(x, name, ndim, output_size, num_threads)
        return _gradient(name, grad_output, x, p, p.output_array_shape,
                         dict(output_size=p.output_shape, num_threads=threads))

    def adaptive_max_pool_backward(grad_output, x, output_size, *, indices=None,
                                   num_threads=None):
        name = f"adaptive_max_pool{ndim}d_backward"
        x, p, threads = _prepare(x, name, ndim, output_size, num_threads)
        return _gradient(name, grad_output, x, p, p.output_array_shape,
                         dict(output_size=p.output_shape, num_threads=threads), indices)

    fns = {}
    for fn in (adaptive_avg_pool, adaptive_max_pool, adaptive_avg_pool_backward,
               adaptive_max_pool_backward):
        name = fn.__name__.replace("_pool", f"_pool{ndim}d")
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = ((getattr(cyconv, name).__doc__ or "") + "\n    On dask arrays: chunked "
                      "along N only (each spatial dim in one chunk).\n")
        fns[name] = fn
    return fns


for _ndim in (1, 2, 3):
    globals().update(_make_adaptive(_ndim))
del _ndim

for _fn in (global_avg_pool, global_avg_pool_backward, global_max_pool, global_max_pool_backward):
    _fn.__doc__ = ((getattr(cyconv, _fn.__name__).__doc__ or "") + "\n    On dask arrays: "
                   "any chunks (spatial chunks: see cyconv.dask._global_pool).\n")
del _fn
