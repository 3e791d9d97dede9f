"""Global pooling over spatially chunked dask arrays.

Average: per-block float64 sums, tree-summed, divided by the plane size and rounded to the
dtype once (the single call also sums in float64; the order differs, so the result agrees
within the accuracy contract). Its gradient, ``grad / size`` rounded to the dtype, is the
single call's exactly. Max: each block's (max, global index), combined as the single call
chooses (first maximum, last NaN, in row-major order); bitwise, indices included. Its
gradient puts each (n, c) gradient on its argmax, in whichever block holds it.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from . import _geometry, _tasks
from ._graph import GraphBuilder, product_blocks


def _plane(p) -> int:
    return math.prod(p.input_shape)


def _keep(y, p, keepdims):
    return y.reshape(y.shape + (1,) * p.ndim) if keepdims else y


def avg(x, p, keepdims, split_every=None):
    axes = tuple(range(2, x.ndim))
    sums = x.sum(axis=axes, dtype=np.float64, split_every=split_every)
    return _keep((sums / _plane(p)).astype(p.dtype), p, keepdims)


def avg_backward(gy, x, p):
    import dask.array as da
    share = (gy.reshape(gy.shape[:2]).astype(np.float64) / _plane(p)).astype(p.dtype)
    share = share.rechunk({0: x.chunks[0], 1: -1})
    return da.broadcast_to(share.reshape(share.shape + (1,) * p.ndim), x.shape,
                           chunks=x.chunks).copy()


def max_(x, p, keepdims, return_indices):
    builder = GraphBuilder("global_max_pool", x.name, p)
    spatial = [_geometry.chunk_bounds(c) for c in x.chunks[2:]]
    batch = _geometry.chunk_bounds(x.chunks[0])
    for ni, (n0, n1) in enumerate(batch):
        parts = []
        for index, ranges in product_blocks(*spatial):
            key = (builder.name + "-block", ni) + index
            x_keys = builder.read(x, [(n0, n1), (0, p.channels)] + list(ranges))
            builder.tasks[key] = (partial(_tasks.global_max_block,
                                          origin=tuple(a for a, _ in ranges),
                                          global_shape=p.input_shape), x_keys)
            parts.append(key)
        pair = (builder.name + "-pair", ni, 0)
        builder.tasks[pair] = (_tasks.combine_global_max, *parts)
        for i, suffix in enumerate(("", "-indices")):
            builder.tasks[(builder.name + suffix, ni, 0)] = (_tasks.take, pair, i)
    chunks = (tuple(b - a for a, b in batch), (p.channels,))
    y = _keep(builder.array(chunks, p.dtype, [x], 2), p, keepdims)
    if not return_indices:
        return y
    indices = builder.array(chunks, np.int64, [x], 2, name=builder.name + "-indices")
    return y, _keep(indices, p, keepdims)


def max_backward(gy, x, p, indices):
    if indices is None:
        _, indices = max_(x, p, False, True)
    builder = GraphBuilder("global_max_pool-grad-input", gy.name, indices.name, x.name, p)
    gy2 = gy.reshape(gy.shape[:2])
    idx2 = indices.reshape(indices.shape[:2])
    spatial = [_geometry.chunk_bounds(c) for c in x.chunks[2:]]
    batch = _geometry.chunk_bounds(x.chunks[0])
    for ni, (n0, n1) in enumerate(batch):
        g_keys = builder.read(gy2, [(n0, n1), (0, p.channels)])
        i_keys = builder.read(idx2, [(n0, n1), (0, p.channels)])
        for index, ranges in product_blocks(*spatial):
            shape = (n1 - n0, p.channels) + tuple(b - a for a, b in ranges)
            builder.tasks[(builder.name, ni, 0) + index] = (
                partial(_tasks.scatter_global_max, origin=tuple(a for a, _ in ranges),
                        shape=shape, global_shape=p.input_shape), g_keys, i_keys)
    return builder.array(x.chunks, p.dtype, [gy2, idx2], x.ndim)
