"""Convolutions and transposed convolutions on dask arrays, forward and backward.

Three graph shapes cover the eight ops (``_geometry`` has the per-axis rule):

* windowed: each output block reads its inputs (plus halo) and calls ``conv{n}d`` with its own
  padding pairs (conv forward; grad_input of a transposed conv);
* scatter: each input-shaped block gathers the outputs whose windows touch it and calls
  ``conv_transpose{n}d`` cropped to itself (conv grad_input; transposed conv forward);
* partial weight gradients per block, tree-summed with ``split_every`` (both grad_weights).
"""
from __future__ import annotations

from functools import partial


import numpy as np

from .. import _validate
from . import _geometry, _inputs, _padding, _tasks, _threads, _tree
from ._graph import GraphBuilder, product_blocks


def _windows(p) -> list:
    """Per-axis windows of validated conv params (input = p.input_shape)."""
    return [_geometry.Window(*args) for args in zip(p.input_shape, p.kernel_size, p.stride,
                                                    p.dilation, p.padding, p.output_shape)]


def _base_keywords(p, flip, algorithm, threads) -> dict:
    return dict(stride=p.stride, dilation=p.dilation, groups=p.groups, flip=flip,
                algorithm=algorithm, num_threads=threads)


def windowed(op_name, src, weight, bias, p, out_ranges, batch_bounds, keywords, c_out):
    """Output blocks ``batch_bounds x out_ranges`` of ``conv{n}d`` over ``src`` (shape
    (N, C, *p.input_shape) or larger: only ``p.input_shape`` is read)."""
    windows = _windows(p)
    builder = GraphBuilder(op_name, src.name, weight.name, bias is not None and bias.name,
                           keywords, out_ranges, batch_bounds, p)
    c_in = p.in_channels
    w_keys = builder.read(weight, [(0, s) for s in weight.shape])
    b_keys = None if bias is None else builder.read(bias, [(0, bias.shape[0])])
    for ni, (n0, n1) in enumerate(batch_bounds):
        for index, ranges in product_blocks(*out_ranges):
            spans = [_geometry.span(w, o0, o1) for w, (o0, o1) in zip(windows, ranges)]
            shape = (n1 - n0, c_out) + tuple(o1 - o0 for o0, o1 in ranges)
            key = (builder.name, ni, 0) + index
            if all(s.reads_input for s in spans):
                x_keys = builder.read(src, [(n0, n1), (0, c_in)] + [(s.r0, s.r1) for s in spans])
                block_kw = dict(keywords, padding=tuple(s.pad for s in spans))
                builder.tasks[key] = (partial(_tasks.conv_forward, ndim=p.ndim,
                                              keywords=block_kw), x_keys, w_keys, b_keys)
            else:
                builder.tasks[key] = (partial(_tasks.padding_only, shape, p.dtype), b_keys)
    chunks = (tuple(b - a for a, b in batch_bounds), (c_out,)) + tuple(
        tuple(o1 - o0 for o0, o1 in r) for r in out_ranges)
    deps = [src, weight] + ([bias] if bias is not None else [])
    return builder.array(chunks, p.dtype, deps, p.ndim + 2)


def scatter(op_name, src, weight, bias, p, target_ranges, batch_bounds, keywords, c_out):
    """Input-shaped blocks (``batch_bounds x target_ranges``) of the input gradient of the
    convolution ``p`` whose grad_output is ``src`` (N, p.out_channels, *p.output_shape)."""
    windows = _windows(p)
    builder = GraphBuilder(op_name, src.name, weight.name, bias is not None and bias.name,
                           keywords, target_ranges, batch_bounds, p)
    w_keys = builder.read(weight, [(0, s) for s in weight.shape])
    b_keys = None if bias is None else builder.read(bias, [(0, bias.shape[0])])
    for ni, (n0, n1) in enumerate(batch_bounds):
        for index, ranges in product_blocks(*target_ranges):
            shape = (n1 - n0, c_out) + tuple(b - a for a, b in ranges)
            key = (builder.name, ni, 0) + index
            sources = [_geometry.contributing_outputs(w, a, b)
                       for w, (a, b) in zip(windows, ranges)]
            if any(p1 <= p0 for p0, p1 in sources):
                builder.tasks[key] = (partial(_tasks.padding_only, shape, p.dtype), b_keys)
                continue
            crops, offsets = [], []
            for w, (a, b), (p0, p1) in zip(windows, ranges, sources):
                first = p0 * w.stride - w.pad[0]
                last = (p1 - 1) * w.stride - w.pad[0] + w.reach + 1
                crops.append((max(a - first, 0), max(last - b, 0)))
                offsets.append(max(first, a) - a)
            g_keys = builder.read(src, [(n0, n1), (0, p.out_channels)] + sources)
            block_kw = dict(keywords, padding=tuple(crops))
            builder.tasks[key] = (partial(_tasks.scatter, ndim=p.ndim, keywords=block_kw,
                                          shape=shape, offsets=tuple(offsets)),
                                  g_keys, w_keys, b_keys)
    chunks = (tuple(b - a for a, b in batch_bounds), (c_out,)) + tuple(
        tuple(b - a for a, b in r) for r in target_ranges)
    deps = [src, weight] + ([bias] if bias is not None else [])
    return builder.array(chunks, p.dtype, deps, p.ndim + 2)


def weight_grad(op_name, grad_output, src, weight, p, keywords, split_every, with_bias=False):
    """grad_weight of the convolution ``p`` (input ``src``, grad_output chunked as given):
    one flat partial per grad_output block, tree-summed (``_tree``). ``with_bias``:
    ``(grad_weight, grad_bias)``, the bias shares riding in the same partials (one task and
    one tree for both: on a LocalCluster each task costs scheduler latency)."""
    import dask.array as da
    windows = _windows(p)
    builder = GraphBuilder(op_name, grad_output.name, src.name, weight.name, keywords, p,
                           with_bias, _tree.fan_in(split_every))
    w_keys = builder.read(weight, [(0, s) for s in weight.shape])
    out_ranges = [_geometry.chunk_bounds(c) for c in grad_output.chunks[2:]]
    weight_size = int(np.prod(weight.shape))
    leaves = []
    for n0, n1 in _geometry.chunk_bounds(grad_output.chunks[0]):
        for _, ranges in product_blocks(*out_ranges):
            spans = [_geometry.span(w, o0, o1) for w, (o0, o1) in zip(windows, ranges)]
            key = (builder.name + "-partial", len(leaves))
            if n1 == n0:
                continue
            g_keys = builder.read(grad_output, [(n0, n1), (0, p.out_channels)] + list(ranges))
            if not all(s.reads_input for s in spans):  # only padding under these windows
                if with_bias:
                    builder.tasks[key] = (partial(_tasks.bias_grad_only,
                                                  weight_size=weight_size), g_keys)
                    leaves.append(key)
                continue
            x_keys = builder.read(src, [(n0, n1), (0, p.in_channels)]
                                  + [(s.r0, s.r1) for s in spans])
            block_kw = dict(keywords, padding=tuple(s.pad for s in spans))
            builder.tasks[key] = (partial(_tasks.conv_weight_grad, ndim=p.ndim,
                                          keywords=block_kw, with_bias=with_bias),
                                  g_keys, x_keys, w_keys)
            leaves.append(key)
    if not leaves:
        gw = da.zeros(weight.shape, dtype=p.dtype, chunks=-1)
        return (gw, _bias_grad(grad_output, split_every)) if with_bias else gw
    last = _tree.reduce(builder.tasks, builder.name, leaves, split_every)
    deps = [grad_output, src, weight]
    builder.tasks[(builder.name,) + (0,) * weight.ndim] = (
        partial(_tree.weight_from, shape=weight.shape), *last)
    gw = builder.array(tuple((s,) for s in weight.shape), p.dtype, deps, weight.ndim)
    if not with_bias:
        return gw
    bias_name = builder.name + "-bias"
    builder.tasks = {(bias_name, 0): (partial(_tree.bias_from, weight_size=weight_size), *last)}
    gb = builder.array(((p.out_channels,),), p.dtype, [gw], 1, name=bias_name)
    return gw, gb


def _bias_grad(grad_output, split_every):
    axes = (0,) + tuple(range(2, grad_output.ndim))
    return grad_output.sum(axis=axes, split_every=_tree.fan_in(split_every))


def _common(x, weight, bias, ndim, num_threads, flip, algorithm, out=None):
    _inputs.check_no_out(out)
    x = _inputs.as_dask(x, "x")
    _inputs.check_batched(x, "x", ndim)
    w = _inputs.whole(weight, "weight")
    b = _inputs.whole(bias, "bias")
    flip = _validate.check_bool(flip, "flip")
    algorithm = _inputs.check_algorithm(algorithm)
    threads = _threads.task_threads(num_threads, [x])
    return x, w, b, flip, algorithm, threads


def conv_forward(x, weight, bias, *, stride, padding, dilation, groups, flip, algorithm,
                 num_threads, out, ndim, padding_mode="zeros"):
    x, w, b, flip, algorithm, threads = _common(x, weight, bias, ndim, num_threads, flip,
                                                algorithm, out)
    if padding_mode != "zeros":
        mode_p = _padding.padded_params(x, w, b, stride=stride, padding=padding,
                                        dilation=dilation, groups=groups, ndim=ndim,
                                        padding_mode=padding_mode)
        x, padding = _padding.pad(x, mode_p.padding, padding_mode), 0
    p = _validate.conv_params(_inputs.stand_in(x), _inputs.stand_in(w), _inputs.stand_in(b),
                              stride=stride, padding=padding, dilation=dilation, groups=groups,
                              ndim=ndim)
    out_ranges = [_geometry.owned_outputs(win, c) for win, c in zip(_windows(p), x.chunks[2:])]
    return windowed(f"conv{ndim}d", x, w, b, p, out_ranges, _geometry.chunk_bounds(x.chunks[0]),
                    _base_keywords(p, flip, algorithm, threads), p.out_channels)


def _grad_output(grad_output, expected, dtype):
    gy = _inputs.as_dask(grad_output, "grad_output")
    _validate.check_grad_output(_inputs.stand_in(gy), expected, dtype)
    return gy


def conv_backward(grad_output, x, weight, *, stride, padding, dilation, groups, flip, need,
                  algorithm, num_threads, split_every, ndim, padding_mode="zeros"):
    from .._validate import ConvGrads
    x, w, _, flip, algorithm, threads = _common(x, weight, None, ndim, num_threads, flip,
                                                algorithm)
    if padding_mode != "zeros":
        mode_p = _padding.padded_params(x, w, None, stride=stride, padding=padding,
                                        dilation=dilation, groups=groups, ndim=ndim,
                                        padding_mode=padding_mode)
        grads = conv_backward(grad_output, _padding.pad(x, mode_p.padding, padding_mode), w,
                              stride=stride, padding=0, dilation=dilation, groups=groups,
                              flip=flip, need=need, algorithm=algorithm,
                              num_threads=num_threads, split_every=split_every, ndim=ndim)
        if grads.grad_input is None:
            return grads
        return grads._replace(grad_input=_padding.fold(grads.grad_input, x, mode_p.padding,
                                                       padding_mode))
    p = _validate.conv_params(_inputs.stand_in(x), _inputs.stand_in(w), None, stride=stride,
                              padding=padding, dilation=dilation, groups=groups, ndim=ndim)
    need = _validate.check_need(need)
    split_every = _inputs.split_every_arg(split_every)
    gy = _grad_output(grad_output, p.output_array_shape, p.dtype)
    keywords = _base_keywords(p, flip, algorithm, threads)
    gx = gw = gb = None
    if "input" in need:
        gx = scatter(f"conv{ndim}d-grad-input", gy, w, None, p,
                     [_geometry.chunk_bounds(c) for c in x.chunks[2:]],
                     _geometry.chunk_bounds(x.chunks[0]), keywords, p.in_channels)
    if "weight" in need and "bias" in need:
        gw, gb = weight_grad(f"conv{ndim}d-grad-weight", gy, x, w, p, keywords, split_every,
                             with_bias=True)
    elif "weight" in need:
        gw = weight_grad(f"conv{ndim}d-grad-weight", gy, x, w, p, keywords, split_every)
    elif "bias" in need:
        gb = _bias_grad(gy, split_every)
    return ConvGrads(gx, gw, gb)


def conv_transpose_forward(x, weight, bias, *, stride, padding, output_padding, groups,
                           dilation, flip, algorithm, num_threads, ndim):
    x, w, b, flip, algorithm, threads = _common(x, weight, bias, ndim, num_threads, flip,
                                                algorithm)
    tp = _validate.conv_transpose_params(_inputs.stand_in(x), _inputs.stand_in(w),
                                         _inputs.stand_in(b), stride=stride, padding=padding,
                                         output_padding=output_padding, dilation=dilation,
                                         groups=groups, ndim=ndim)
    cp = tp.conv
    targets = [_geometry.scaled_bounds(c, s, lo, total) for c, s, (lo, _), total
               in zip(x.chunks[2:], tp.stride, tp.padding, tp.output_shape)]
    return scatter(f"conv_transpose{ndim}d", x, w, b, cp, targets,
                   _geometry.chunk_bounds(x.chunks[0]),
                   _base_keywords(cp, flip, algorithm, threads),
                   tp.out_channels)


def conv_transpose_backward(grad_output, x, weight, *, stride, padding, output_padding, groups,
                            dilation, flip, need, algorithm, num_threads, split_every, ndim):
    from .._validate import ConvGrads
    x, w, _, flip, algorithm, threads = _common(x, weight, None, ndim, num_threads, flip,
                                                algorithm)
    tp = _validate.conv_transpose_params(_inputs.stand_in(x), _inputs.stand_in(w), None,
                                         stride=stride, padding=padding,
                                         output_padding=output_padding, dilation=dilation,
                                         groups=groups, ndim=ndim)
    need = _validate.check_need(need)
    split_every = _inputs.split_every_arg(split_every)
    gy = _grad_output(grad_output, tp.output_array_shape, tp.dtype)
    cp = tp.conv  # its input is gy (minus the trailing zeros), its output x
    keywords = _base_keywords(cp, flip, algorithm, threads)
    gx = gw = gb = None
    if "input" in need:
        gx = windowed(f"conv_transpose{ndim}d-grad-input", gy, w, None, cp,
                      [_geometry.chunk_bounds(c) for c in x.chunks[2:]],
                      _geometry.chunk_bounds(x.chunks[0]), keywords, cp.out_channels)
    if "weight" in need:
        # the convolution's weight gradient with x as its grad_output, gy as its input
        gw = weight_grad(f"conv_transpose{ndim}d-grad-weight", x, gy, w, cp, keywords,
                         split_every)
    if "bias" in need:
        gb = _bias_grad(gy, split_every)
    return ConvGrads(gx, gw, gb)


__all__ = ["conv_forward", "conv_backward", "conv_transpose_forward", "conv_transpose_backward"]
