"""The public names of ``cyconv.dask``: the top-level ops' signatures, dask arrays in and out.

Backward ops take one extra keyword, ``split_every`` (the fan-in of the tree that sums the
per-block weight and bias gradients; when None, dask's ``split_every`` config if set,
else 8).
"""
from __future__ import annotations

import cyconv

from . import _conv, _pool

_NOTE = """
    On dask arrays (``cyconv.dask``): ``x`` (and ``grad_output``) are dask arrays chunked
    along N and/or the spatial dims, returned arrays are lazy dask arrays; weights may be NumPy
    or dask arrays. The result matches the single call on the same data (pooling bitwise,
    convolutions within the accuracy contract). {extra}
"""


def _document(fn, single, extra=""):
    fn.__doc__ = (single.__doc__ or "") + _NOTE.format(extra=extra)
    return fn


def _make_conv(ndim: int) -> dict:
    def conv(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1, flip=False,
             algorithm="auto", num_threads=None, out=None, padding_mode="zeros"):
        return _conv.conv_forward(x, weight, bias, stride=stride, padding=padding,
                                  dilation=dilation, groups=groups, flip=flip,
                                  algorithm=algorithm, num_threads=num_threads, out=out,
                                  ndim=ndim, padding_mode=padding_mode)

    def conv_backward(grad_output, x, weight, *, stride=1, padding=0, dilation=1, groups=1,
                      flip=False, need=("input", "weight", "bias"), algorithm="auto",
                      num_threads=None, split_every=None, padding_mode="zeros"):
        return _conv.conv_backward(grad_output, x, weight, stride=stride, padding=padding,
                                   dilation=dilation, groups=groups, flip=flip, need=need,
                                   algorithm=algorithm, num_threads=num_threads,
                                   split_every=split_every, ndim=ndim,
                                   padding_mode=padding_mode)

    def conv_transpose(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1, flip=False, algorithm="auto", num_threads=None):
        return _conv.conv_transpose_forward(x, weight, bias, stride=stride, padding=padding,
                                            output_padding=output_padding, groups=groups,
                                            dilation=dilation, flip=flip, algorithm=algorithm,
                                            num_threads=num_threads, ndim=ndim)

    def conv_transpose_backward(grad_output, x, weight, *, stride=1, padding=0,
                                output_padding=0, groups=1, dilation=1, flip=False,
                                need=("input", "weight", "bias"), algorithm="auto",
                                num_threads=None, split_every=None):
        return _conv.conv_transpose_backward(grad_output, x, weight, stride=stride,
                                             padding=padding, output_padding=output_padding,
                                             groups=groups, dilation=dilation, flip=flip,
                                             need=need, algorithm=algorithm,
                                             num_threads=num_threads, split_every=split_every,
                                             ndim=ndim)

    reduced = "Returns a ConvGrads of dask arrays; grad_weight/grad_bias tree-summed."
    fns = {f"conv{ndim}d": (conv, ""), f"conv{ndim}d_backward": (conv_backward, reduced),
           f"conv_transpose{ndim}d": (conv_transpose, ""),
           f"conv_transpose{ndim}d_backward": (conv_transpose_backward, reduced)}
    for name, (fn, extra) in fns.items():
        fn.__name__ = fn.__qualname__ = name
        _document(fn, getattr(cyconv, name), extra)
    return {name: fn for name, (fn, _) in fns.items()}


def _make_pool(ndim: int) -> dict:
    def extremum(largest):
        def pool(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 return_indices=False, num_threads=None):
            return _pool.extremum(x, kernel_size, stride, padding, dilation, ceil_mode,
                                  return_indices, num_threads, ndim, largest)

        def pool_backward(grad_output, x, kernel_size, stride=None, padding=0, dilation=1, *,
                          ceil_mode=False, indices=None, num_threads=None):
            return _pool.extremum_backward(grad_output, x, kernel_size, stride, padding,
                                           dilation, ceil_mode, indices, num_threads, ndim,
                                           largest)
        return pool, pool_backward

    def avg_pool(x, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                 count_include_pad=True, num_threads=None):
        return _pool.avg(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         num_threads, ndim)

    def avg_pool_backward(grad_output, x, kernel_size, stride=None, padding=0, *,
                          ceil_mode=False, count_include_pad=True, num_threads=None):
        return _pool.avg_backward(grad_output, x, kernel_size, stride, padding, ceil_mode,
                                  count_include_pad, num_threads, ndim)

    max_pool, max_pool_backward = extremum(True)
    min_pool, min_pool_backward = extremum(False)
    global_note = "Indices are flat per-plane positions in the whole input."
    fns = {f"max_pool{ndim}d": (max_pool, global_note),
           f"max_pool{ndim}d_backward": (max_pool_backward, global_note),
           f"min_pool{ndim}d": (min_pool, global_note),
           f"min_pool{ndim}d_backward": (min_pool_backward, global_note),
           f"avg_pool{ndim}d": (avg_pool, ""), f"avg_pool{ndim}d_backward": (avg_pool_backward, "")}
    for name, (fn, extra) in fns.items():
        fn.__name__ = fn.__qualname__ = name
        _document(fn, getattr(cyconv, name), extra)
    return {name: fn for name, (fn, _) in fns.items()}


__all__ = []
for _ndim in (1, 2, 3):
    for _name, _fn in {**_make_conv(_ndim), **_make_pool(_ndim)}.items():
        globals()[_name] = _fn
        __all__.append(_name)
del _ndim, _name, _fn

from ._whole_plane import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward,  # noqa: E402, F401
                           adaptive_avg_pool2d, adaptive_avg_pool2d_backward,
                           adaptive_avg_pool3d, adaptive_avg_pool3d_backward,
                           adaptive_max_pool1d, adaptive_max_pool1d_backward,
                           adaptive_max_pool2d, adaptive_max_pool2d_backward,
                           adaptive_max_pool3d, adaptive_max_pool3d_backward, global_avg_pool,
                           global_avg_pool_backward, global_max_pool, global_max_pool_backward)
from .._validate import ConvGrads  # noqa: E402

__all__ += ["ConvGrads", "global_avg_pool", "global_avg_pool_backward", "global_max_pool",
            "global_max_pool_backward"] + [
    f"adaptive_{kind}_pool{n}d{suffix}" for kind in ("avg", "max") for n in (1, 2, 3)
    for suffix in ("", "_backward")]
