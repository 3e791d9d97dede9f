"""Max, min and average pooling on dask arrays, forward and backward.

Forward: each output block reads its windows' inputs (``_geometry.span``) and calls the
single-array op with its own padding and the call's ``ceil_mode`` (the block that holds the
last output keeps the array's trailing padding, so clipped ``ceil_mode`` windows and their
divisors match the single call). Backward: each input block takes the outputs whose windows
touch it, runs the single-array backward on their read range and keeps its own part.
Indices are flat per-plane positions in the whole input, as the single call returns them.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .. import _validate
from . import _geometry, _inputs, _tasks, _threads
from ._graph import GraphBuilder, product_blocks


def _windows(p) -> list:
    return [_geometry.Window(*args) for args in zip(p.input_shape, p.kernel_size, p.stride,
                                                    p.dilation, p.padding, p.output_shape)]


def _params(x, kernel_size, stride, padding, dilation, ceil_mode, ndim):
    x = _inputs.as_dask(x, "x")
    _inputs.check_batched(x, "x", ndim)
    p = _validate.pool_params(_inputs.stand_in(x), kernel_size, stride, padding, dilation,
                              ceil_mode, ndim=ndim)
    return x, p


def _forward(op, x, p, keywords):
    """The pooled array (or ``(y, indices)`` with ``keywords['return_indices']``)."""
    windows = _windows(p)
    with_indices = keywords.get("return_indices", False)
    builder = GraphBuilder(f"{op}{p.ndim}d", x.name, keywords, p)
    out_ranges = [_geometry.owned_outputs(w, c) for w, c in zip(windows, x.chunks[2:])]
    block_name = builder.name + ("-pair" if with_indices else "")
    batch = _geometry.chunk_bounds(x.chunks[0])
    for ni, (n0, n1) in enumerate(batch):
        for index, ranges in product_blocks(*out_ranges):
            spans = [_geometry.span(w, o0, o1) for w, (o0, o1) in zip(windows, ranges)]
            x_keys = builder.read(x, [(n0, n1), (0, p.channels)] + [(s.r0, s.r1) for s in spans])
            block_kw = dict(keywords, padding=tuple(s.pad for s in spans))
            key = (block_name, ni, 0) + index
            builder.tasks[key] = (partial(_tasks.pool_forward, op=op, ndim=p.ndim,
                                          keywords=block_kw, origin=tuple(s.r0 for s in spans),
                                          global_shape=p.input_shape), x_keys)
            if with_indices:
                for i, suffix in enumerate(("", "-indices")):
                    builder.tasks[(builder.name + suffix, ni, 0) + index] = (_tasks.take, key, i)
    chunks = (tuple(b - a for a, b in batch), (p.channels,)) + tuple(
        tuple(o1 - o0 for o0, o1 in r) for r in out_ranges)
    y = builder.array(chunks, p.dtype, [x], p.ndim + 2)
    if not with_indices:
        return y
    return y, builder.array(chunks, np.int64, [x], p.ndim + 2, name=builder.name + "-indices")


def _backward(kind, op, grad_output, x, p, keywords, indices=None):
    """grad_input blocks chunked as ``x``: each takes the outputs whose windows touch it."""
    windows = _windows(p)
    gy = _inputs.as_dask(grad_output, "grad_output")
    _validate.check_grad_output(_inputs.stand_in(gy), p.output_array_shape, p.dtype)
    deps = [gy] + ([x] if kind == "extremum" else [])
    if indices is not None:
        indices = _inputs.as_dask(indices, "indices")
        if indices.dtype != np.int64 or indices.shape != p.output_array_shape:
            raise TypeError(f"indices must be the int64 array returned with return_indices=True, "
                            f"shape {p.output_array_shape}; got {indices.dtype} {indices.shape}")
        deps.append(indices)
    builder = GraphBuilder(f"{op}{p.ndim}d-grad-input", [d.name for d in deps], keywords, p)
    target_ranges = [_geometry.chunk_bounds(c) for c in x.chunks[2:]]
    batch = _geometry.chunk_bounds(x.chunks[0])
    for ni, (n0, n1) in enumerate(batch):
        for index, ranges in product_blocks(*target_ranges):
            shape = (n1 - n0, p.channels) + tuple(b - a for a, b in ranges)
            key = (builder.name, ni, 0) + index
            sources = [_geometry.contributing_outputs(w, a, b)
                       for w, (a, b) in zip(windows, ranges)]
            if any(p1 <= p0 for p0, p1 in sources):
                builder.tasks[key] = (_tasks.zeros, shape, p.dtype)
                continue
            spans = [_geometry.span(w, p0, p1) for w, (p0, p1) in zip(windows, sources)]
            window = (slice(None), slice(None)) + tuple(
                slice(max(a, s.r0) - s.r0, min(b, s.r1) - s.r0) for s, (a, b) in zip(spans, ranges))
            offsets = tuple(max(a, s.r0) - a for s, (a, b) in zip(spans, ranges))
            g_keys = builder.read(gy, [(n0, n1), (0, p.channels)] + sources)
            block_kw = dict(keywords, padding=tuple(s.pad for s in spans))
            common = dict(ndim=p.ndim, keywords=block_kw, shape=shape, offsets=offsets,
                          window=window)
            if kind == "avg":
                read_shape = (n1 - n0, p.channels) + tuple(s.r1 - s.r0 for s in spans)
                builder.tasks[key] = (partial(_tasks.avg_backward, read_shape=read_shape,
                                              **common), g_keys)
                continue
            x_keys = builder.read(x, [(n0, n1), (0, p.channels)] + [(s.r0, s.r1) for s in spans])
            i_keys = None if indices is None else builder.read(
                indices, [(n0, n1), (0, p.channels)] + sources)
            builder.tasks[key] = (partial(_tasks.extremum_backward, op=op,
                                          origin=tuple(s.r0 for s in spans),
                                          global_shape=p.input_shape, **common),
                                  g_keys, x_keys, i_keys)
    chunks = (tuple(b - a for a, b in batch), (p.channels,)) + tuple(x.chunks[2:])
    return builder.array(chunks, p.dtype, deps, p.ndim + 2)


def extremum(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, num_threads,
             ndim, largest):
    x, p = _params(x, kernel_size, stride, padding, dilation, ceil_mode, ndim)
    keywords = dict(kernel_size=p.kernel_size, stride=p.stride, dilation=p.dilation,
                    ceil_mode=p.ceil_mode,
                    return_indices=_validate.check_bool(return_indices, "return_indices"),
                    num_threads=_threads.task_threads(num_threads, [x]))
    return _forward("max_pool" if largest else "min_pool", x, p, keywords)


def extremum_backward(grad_output, x, kernel_size, stride, padding, dilation, ceil_mode, indices,
                      num_threads, ndim, largest):
    x, p = _params(x, kernel_size, stride, padding, dilation, ceil_mode, ndim)
    keywords = dict(kernel_size=p.kernel_size, stride=p.stride, dilation=p.dilation,
                    ceil_mode=p.ceil_mode, num_threads=_threads.task_threads(num_threads, [x]))
    return _backward("extremum", "max_pool" if largest else "min_pool", grad_output, x, p,
                     keywords, indices)


def avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad, num_threads, ndim):
    x, p = _params(x, kernel_size, stride, padding, 1, ceil_mode, ndim)
    keywords = dict(kernel_size=p.kernel_size, stride=p.stride, ceil_mode=p.ceil_mode,
                    count_include_pad=_validate.check_bool(count_include_pad, "count_include_pad"),
                    num_threads=_threads.task_threads(num_threads, [x]))
    return _forward("avg_pool", x, p, keywords)


def avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 num_threads, ndim):
    x, p = _params(x, kernel_size, stride, padding, 1, ceil_mode, ndim)
    keywords = dict(kernel_size=p.kernel_size, stride=p.stride, ceil_mode=p.ceil_mode,
                    count_include_pad=_validate.check_bool(count_include_pad, "count_include_pad"),
                    num_threads=_threads.task_threads(num_threads, [x]))
    return _backward("avg", "avg_pool", grad_output, x, p, keywords)
