"""Pooling plans: what a validated pooling call runs, built once per distinct call.

A plan holds the call's parameters, its thread count, its row layout (``PoolRows``), the
kernels specialized for its dtype and, per layout, the kernels' packed window and the 5-D
and scratch shapes the kernels take - so a repeated call only reshapes, allocates and
runs. The kernels choose their row algorithm (separable rows or wide windows) themselves
from the window.
"""
from __future__ import annotations

import enum
import math
from typing import NamedTuple

import numpy as np

from . import _threads, _validate
from ._kernels import _pool as _k
from ._kernels import _pool_backward as _kb


class PoolRows(enum.Enum):
    """How the (N, C) image planes map onto kernel planes."""

    PLANES = "planes"    # one kernel plane per image plane
    STACKED = "stacked"  # 1-D only: up to 64 channel rows of an image share one kernel plane


# forced layout (tests and measurements), set through cyconv.forced_paths(pool_rows=...)
_FORCED: dict = {}

# scratch rows are this much longer than an output row (the kernels round rows up to whole vectors)
ROW_PAD = _k.SCRATCH_PAD


def stacked_rows(p: _validate.PoolParams, n_threads: int) -> int:
    """Rows of a 1-D pooling stacked into one kernel plane (1 for 2-D/3-D).

    The kernels give each thread whole planes; a 1-D plane is a single row, whose per-plane
    setup then costs as much as the row itself (benchmarks/README.md, "1-D pooling"). The
    rows of one image's channels are independent, so up to 64 of them share a plane, leaving
    at least four planes per thread. Index outputs (per-row positions) keep one row per plane.
    """
    forced = _FORCED.get("rows")
    if p.ndim != 1 or forced is PoolRows.PLANES:
        return 1
    best = 1
    for rows in range(2, min(p.channels, 64) + 1):
        enough_planes = p.batch * (p.channels // rows) >= 4 * n_threads
        if p.channels % rows == 0 and (enough_planes or forced is PoolRows.STACKED):
            best = rows
    return best


class Layout(NamedTuple):
    """The kernels' view of one row layout: the packed window, 5-D shapes of input- and
    output-shaped arrays, and the shapes of the per-thread scratch rows of each kernel."""

    window: object          # _kernels._pool.PoolWindow
    in5: tuple
    out5: tuple
    row_scratch: tuple      # an output row (+ pad): index kernels, backward recompute
    values_scratch: tuple   # values-only extremum_forward
    avg_scratch: tuple      # avg_forward (which allocates rows of avg_scratch[1] itself)
    avg_backward_scratch: tuple


class Kernels(NamedTuple):
    """The pooling kernels specialized for one dtype (chosen once per plan, not per call)."""

    extremum_forward: object
    extremum_backward_recompute: object
    extremum_backward: object
    avg_forward: object
    avg_backward: object


def _specialized(name: str) -> Kernels:
    # the gradients (every field named *backward*) are in _pool_backward, the forwards in _pool
    return Kernels(*(getattr(_kb if "backward" in field else _k, field)[name]
                     for field in Kernels._fields))


KERNELS = {np.dtype(np.float32): _specialized("float"), np.dtype(np.float64): _specialized("double")}


def _window(p: _validate.PoolParams, rows: int) -> dict:
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
    window = {prefix + axis: v[i] for prefix, v in values.items() for i, axis in enumerate("DHW")}
    if rows > 1:  # (N*C/rows, 1, 1, rows, L): the window pools over W alone
        window.update(H=rows, OH=rows)
    return window


def _layout(p: _validate.PoolParams, rows: int, n_threads: int) -> Layout:
    window = _window(p, rows)
    if rows > 1:
        planes = p.batch * p.channels // rows
        in5 = (planes, 1, 1, rows, p.input_shape[-1])
        out5 = (planes, 1, 1, rows, p.output_shape[-1])
    else:
        lead = (1,) * (3 - p.ndim)
        in5 = (p.batch, p.channels) + lead + p.input_shape
        out5 = (p.batch, p.channels) + lead + p.output_shape
    packed = _k.PoolWindow(window)
    row = p.output_shape[-1] + ROW_PAD
    forward = _k.forward_scratch_length(packed)
    return Layout(packed, in5, out5, _threads.scratch_shape(n_threads, row),
                  _threads.scratch_shape(n_threads, max(row, forward)),
                  _threads.scratch_shape(n_threads, forward),
                  _threads.scratch_shape(n_threads, _k.avg_backward_scratch_length(packed)))


class PoolPlan:
    """A validated pooling call: parameters ``p``, ``n_threads``, the row layout ``rows``
    (1 or the stacked row count), the output shape and the layouts the kernels take (per row
    count; ``main`` for ``rows``)."""

    __slots__ = ("p", "n_threads", "rows", "path", "kernels", "out_shape", "main", "_layouts")

    def __init__(self, p: _validate.PoolParams, n_threads: int):
        work = p.batch * p.channels * math.prod(p.input_shape)
        self.p = p
        self.kernels = KERNELS[p.dtype]
        self.n_threads = _threads.for_work(n_threads, work, _threads.SMALL_POOL_ELEMENTS)
        self.rows = stacked_rows(p, self.n_threads)
        self.path = PoolRows.STACKED if self.rows > 1 else PoolRows.PLANES
        self.out_shape = p.output_array_shape
        self._layouts = {}
        self.main = self.layout(self.rows) if p.batch else None  # the layout most calls take

    def layout(self, rows: int) -> Layout:
        """The layout with ``rows`` stacked rows (``self.rows``, or 1 for index outputs)."""
        layout = self._layouts.get(rows)
        if layout is None:
            layout = self._layouts[rows] = _layout(self.p, rows, self.n_threads)
        return layout

    def __repr__(self) -> str:
        return f"PoolPlan({self.path.value}, rows={self.rows}, threads={self.n_threads})"


# validated calls: call key -> PoolPlan (see _validate.call_key); nothing kept while forced
CALLS = _validate.ValidatedCalls(keep=lambda: not _FORCED)


def clear_caches() -> None:
    CALLS.clear()
