"""The best pure-NumPy approach to each benchmark row: what a NumPy user would write without
cyconv (sliding_window_view + tensordot), the competitor in the bench tables."""
from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _shapes


def _numpy_windows(x, kernel, *, stride, padding, dilation):
    """(N, C, *out, *kernel) strided window view of the zero-padded input."""
    nd = x.ndim - 2
    xp = np.pad(x, ((0, 0), (0, 0)) + ((padding, padding),) * nd)
    win = sliding_window_view(xp, tuple((k - 1) * dilation + 1 for k in kernel),
                              axis=tuple(range(2, 2 + nd)))
    return xp, win[(slice(None), slice(None)) + (slice(None, None, stride),) * nd
                   + (slice(None, None, dilation),) * nd]


def numpy_conv(x, w, *, stride=1, padding=0, dilation=1, groups=1):
    """Forward convolution (any number of spatial dims) with sliding_window_view + one
    tensordot per group."""
    nd = x.ndim - 2
    _, win = _numpy_windows(x, w.shape[2:], stride=stride, padding=padding, dilation=dilation)
    cig, cog = x.shape[1] // groups, w.shape[0] // groups
    window_axes = (1,) + tuple(range(2 + nd, 2 + 2 * nd))
    outs = [np.tensordot(win[:, g * cig:(g + 1) * cig], w[g * cog:(g + 1) * cog],
                         axes=(window_axes, tuple(range(1, 2 + nd)))) for g in range(groups)]
    return np.ascontiguousarray(np.moveaxis(np.concatenate(outs, axis=-1), -1, 1))


def numpy_conv_backward(gy, x, w, *, stride=1, padding=0, dilation=1, groups=1):
    """Weight gradient by tensordot over the windows; input gradient by one einsum per
    kernel tap, added into a padded buffer through strided views."""
    nd = x.ndim - 2
    kernel, out = w.shape[2:], gy.shape[2:]
    cig, cog = x.shape[1] // groups, w.shape[0] // groups
    xp, win = _numpy_windows(x, kernel, stride=stride, padding=padding, dilation=dilation)
    summed = (0,) + tuple(range(2, 2 + nd))
    gw = np.concatenate([np.tensordot(gy[:, g * cog:(g + 1) * cog], win[:, g * cig:(g + 1) * cig],
                                      axes=(summed, summed)) for g in range(groups)], axis=0)
    gxp = np.zeros_like(xp)
    for tap in itertools.product(*(range(k) for k in kernel)):
        view = gxp[(slice(None), slice(None)) + tuple(
            slice(t * dilation, t * dilation + stride * (o - 1) + 1, stride)
            for t, o in zip(tap, out))]
        for g in range(groups):
            view[:, g * cig:(g + 1) * cig] += np.einsum(
                "no...,oc->nc...", gy[:, g * cog:(g + 1) * cog],
                w[(slice(g * cog, (g + 1) * cog), slice(None)) + tap])
    gx = gxp[(slice(None), slice(None)) + tuple(slice(padding, padding + n) for n in x.shape[2:])]
    return gx, gw, gy.sum(axis=summed)


def numpy_max_pool2d(x, kernel_size, stride=None, padding=0):
    stride = stride or kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf)
    windows = sliding_window_view(xp, (kernel_size, kernel_size), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(4, 5))


def numpy_global_avg_pool(x, keepdims=False):
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=keepdims)


def numpy_pool_nd(x, kernel_size, stride=None, *, reduce):
    """Max (``reduce=np.max``) or average (``np.mean``) pooling with any number of spatial
    dims and no padding: the strided window view reduced over the window axes."""
    nd = x.ndim - 2
    _, win = _numpy_windows(x, (kernel_size,) * nd, stride=stride or kernel_size, padding=0,
                            dilation=1)
    return reduce(win, axis=tuple(range(2 + nd, 2 + 2 * nd)))


def numpy_adaptive_avg_pool(x, output_size):
    """Adaptive average pooling, one spatial dim at a time: each bin's sum is the difference
    of a cumulative sum at the bin's end and start (bins may overlap), then one division."""
    total = x.astype(np.float64)
    count = np.ones((1,) * x.ndim)
    out = _shapes.adaptive_output_shape(x.shape[2:], output_size)
    for axis, (size, o) in enumerate(zip(x.shape[2:], out), start=2):
        starts, ends = _shapes.adaptive_bins(size, o)
        cum = np.cumsum(total, axis=axis)
        cum = np.concatenate([np.zeros_like(np.take(cum, [0], axis=axis)), cum], axis=axis)
        total = np.take(cum, ends, axis=axis) - np.take(cum, starts, axis=axis)
        shape = [1] * x.ndim
        shape[axis] = o
        count = count * (np.array(ends) - np.array(starts)).reshape(shape)
    return (total / count).astype(x.dtype)


def numpy_avg_pool2d(x, kernel_size, stride=None, padding=0):
    stride = stride or kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, (kernel_size, kernel_size), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].mean(axis=(4, 5))


# ---- timing -------------------------------------------------------------------------------
