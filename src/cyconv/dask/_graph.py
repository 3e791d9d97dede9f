"""Task-graph plumbing: read an index range of a chunked array, assemble it, emit an array.

A block task names the input blocks its range touches. A block that lies wholly inside the
range is passed by key (no copy, no task); a block that the range cuts gets a slicing task of
its own, so a distributed scheduler moves only that strip (the halo) between workers, as
``map_overlap`` does. Ranges may span any number of chunks: nothing is rechunked, chunks
smaller than a kernel's reach simply contribute several strips.
"""
from __future__ import annotations

import itertools
import operator

import numpy as np

from . import _geometry


class GraphBuilder:
    """Collects the tasks of one output layer (``name``) and its halo strips."""

    def __init__(self, name: str):
        self.name = name
        self.tasks: dict = {}
        self._strips: dict = {}

    def read(self, array, ranges) -> list:
        """Nested lists (one level per axis) of the keys that hold ``array[ranges]``.

        ``ranges`` is one ``(start, stop)`` per axis of ``array``, each non-empty.
        """
        per_axis = []
        for (start, stop), chunks in zip(ranges, array.chunks):
            touched = []
            for index, (a, b) in enumerate(_geometry.chunk_bounds(chunks)):
                if b > start and a < stop:
                    touched.append((index, slice(max(start, a) - a, min(stop, b) - a), b - a))
            per_axis.append(touched)

        def key_of(parts):
            index = tuple(i for i, _, _ in parts)
            whole = all(s.start == 0 and s.stop == size for _, s, size in parts)
            if whole:
                return (array.name,) + index
            cut = tuple(s for _, s, _ in parts)
            strip = (array.name, index, tuple((s.start, s.stop) for s in cut))
            if strip not in self._strips:
                key = (self.name + "-halo", len(self._strips))
                self.tasks[key] = (operator.getitem, (array.name,) + index, cut)
                self._strips[strip] = key
            return self._strips[strip]

        def nest(axis, prefix):
            if axis == len(per_axis):
                return key_of(prefix)
            return [nest(axis + 1, prefix + [part]) for part in per_axis[axis]]

        return nest(0, [])

    def array(self, chunks, dtype, dependencies, ndim: int, name: str | None = None):
        """The dask array of the tasks stored under ``(name, *block_index)`` (default name:
        the builder's)."""
        import dask.array as da
        from dask.highlevelgraph import HighLevelGraph

        name = name or self.name
        graph = HighLevelGraph.from_collections(name, dict(self.tasks),
                                                dependencies=list(dependencies))
        return da.Array(graph, name, chunks=chunks, dtype=dtype,
                        meta=np.empty((0,) * ndim, dtype))


def assemble(pieces) -> np.ndarray:
    """The array that :meth:`GraphBuilder.read`'s nested pieces make up (no copy when there
    is a single piece)."""
    def depth(p):
        return 1 + depth(p[0]) if isinstance(p, list) else 0

    def join(p, axis):
        if not isinstance(p, list):
            return p
        parts = [join(q, axis + 1) for q in p]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)

    return join(pieces, 0) if depth(pieces) else pieces


def product_blocks(*axes):
    """``(index, items)`` over the product of per-axis lists: the block index in the output
    grid and the per-axis items (ranges or spans) of that block."""
    for combo in itertools.product(*[list(enumerate(items)) for items in axes]):
        yield tuple(i for i, _ in combo), tuple(item for _, item in combo)
