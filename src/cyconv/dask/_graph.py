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


#: a one-block operand held in the graph as plain NumPy data (a weight, a bias) and at most
#: this large is passed to the tasks inline rather than by key: on a distributed scheduler
#: a key is placed on one worker and fetched by the others before their first task
#: (benchmarks/README.md, "cyconv.dask": the LocalCluster batch row)
INLINE_BYTES = 256 * 1024


def _inline_value(array):
    """The NumPy data of a small one-block array that is literal data in its graph, else
    None."""
    if any(len(c) != 1 for c in array.chunks):
        return None
    value = array.__dask_graph__().get((array.name,) + (0,) * array.ndim)
    if isinstance(value, np.ndarray) and value.nbytes <= INLINE_BYTES:
        return value
    return None


class GraphBuilder:
    """Collects the tasks of one output layer and its halo strips; the layer is named
    ``op-<token of parts>`` (``parts``: whatever decides the result)."""

    def __init__(self, op: str, *parts):
        from dask.base import tokenize
        self.name = f"{op}-{tokenize(*parts)}"
        self.tasks: dict = {}
        self._strips: dict = {}

    def read(self, array, ranges) -> list:
        """Nested lists (one level per axis) of the keys that hold ``array[ranges]``.

        ``ranges`` is one ``(start, stop)`` per axis of ``array``, each non-empty. A small
        one-block operand read whole is the data itself (``INLINE_BYTES``).
        """
        if all((start, stop) == (0, n) for (start, stop), n in zip(ranges, array.shape)):
            value = _inline_value(array)
            if value is not None:
                return value
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
        the builder's).

        The halo strips get a layer of their own with a raised scheduling priority: a strip
        is cut on the worker that holds its source block, and a worker with one thread that
        starts a long block first makes the neighbour that needs the strip wait that long
        (seen in task streams at 2048² chunks; the gain was within this machine's noise).
        """
        import dask.array as da
        from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

        name = name or self.name
        halo_name = self.name + "-halo"
        strips = {k: v for k, v in self.tasks.items() if k[0] == halo_name}
        blocks = {k: v for k, v in self.tasks.items() if k[0] != halo_name}
        layers, layer_deps = {}, {}
        for d in dependencies:
            graph = d.__dask_graph__()
            layers.update(graph.layers)
            layer_deps.update(graph.dependencies)
        sources = {d.name for d in dependencies}
        if strips:
            layers[halo_name] = MaterializedLayer(strips, annotations={"priority": 1})
            layer_deps[halo_name] = set(sources)
        layers[name] = MaterializedLayer(blocks)
        layer_deps[name] = sources | ({halo_name} if strips else set())
        return da.Array(HighLevelGraph(layers, layer_deps), name, chunks=chunks, dtype=dtype,
                        meta=np.empty((0,) * ndim, dtype))


def _flatten(pieces, index=()):
    if not isinstance(pieces, list):
        return [(index, pieces)]
    return [item for i, p in enumerate(pieces) for item in _flatten(p, index + (i,))]


def assemble(pieces, pad=None) -> np.ndarray:
    """The array that :meth:`GraphBuilder.read`'s nested pieces make up, written once into
    one buffer; with ``pad`` (per-side pairs for the trailing axes) zero-padded around it.

    A single piece is returned as is (no copy) and ``pad`` is then ignored: the caller passes
    the padding to the op instead.
    """
    flat = _flatten(pieces)
    if len(flat) == 1:
        return flat[0][1]
    shape, _ = assembled_shape(pieces, pad)
    out = np.empty(shape, flat[0][1].dtype)
    assemble_into(pieces, pad, out)
    return out


def assembled_shape(pieces, pad=None):
    """(shape, dtype) of ``assemble(pieces, pad)`` for several pieces."""
    shape, _ = _layout(_flatten(pieces), pad)
    return shape, _flatten(pieces)[0][1].dtype


def assemble_into(pieces, pad, out) -> None:
    """``assemble(pieces, pad)`` written into ``out`` (of its shape), zeros in the padding."""
    flat = _flatten(pieces)
    _, starts = _layout(flat, pad)
    if any(lo or hi for lo, hi in pad or ()):
        out[...] = 0
    for index, piece in flat:
        out[tuple(slice(starts[a][0][i], starts[a][0][i] + piece.shape[a])
                  for a, i in enumerate(index))] = piece


def _layout(flat, pad):
    """(shape, per-axis (offsets of each piece index, total)) of the assembled array."""
    ndim = flat[0][1].ndim
    pad = ((0, 0),) * (ndim - len(pad or ())) + tuple(pad or ())
    starts = []
    for axis in range(ndim):
        sizes = {}
        for index, piece in flat:
            sizes[index[axis]] = piece.shape[axis]
        offsets, at = {}, pad[axis][0]
        for i in sorted(sizes):
            offsets[i] = at
            at += sizes[i]
        starts.append((offsets, at + pad[axis][1]))
    return tuple(total for _, total in starts), starts


def product_blocks(*axes):
    """``(index, items)`` over the product of per-axis lists: the block index in the output
    grid and the per-axis items (ranges or spans) of that block."""
    for combo in itertools.product(*[list(enumerate(items)) for items in axes]):
        yield tuple(i for i, _ in combo), tuple(item for _, item in combo)
