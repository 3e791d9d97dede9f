"""Argument checks for the dask ops: dask arrays in, shape-only stand-ins for cyconv's own
validators (so every rule and message stays the single-call one), weights as one block."""
from __future__ import annotations

import math

import numpy as np


def _da():
    try:
        import dask.array as da
    except ImportError as err:  # the optional extra is missing
        raise ImportError("cyconv.dask needs dask: pip install 'cyconv[dask]'") from err
    return da


def as_dask(a, name: str):
    """``a`` as a dask array with known chunk sizes (NumPy arrays become one chunk)."""
    da = _da()
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    if not isinstance(a, da.Array):
        a = np.asarray(a)
        a = da.from_array(a, chunks=a.shape or ())
    if any(math.isnan(c) for axis in a.chunks for c in axis):
        raise ValueError(f"{name} has unknown chunk sizes (shape {a.shape}, chunks {a.chunks}); "
                         f"call {name}.compute_chunk_sizes() first")
    return a


def whole(a, name: str):
    """A weight, bias or other small operand as a dask array of one chunk (NumPy arrays
    enter the graph once, not once per task)."""
    if a is None:
        return None
    a = as_dask(a, name)
    return a if all(len(c) == 1 for c in a.chunks) else a.rechunk(-1)


def stand_in(a):
    """A zero-strided NumPy array of ``a``'s shape and dtype (no memory): what cyconv's
    validators need to check a call without the data."""
    if a is None:
        return None
    return np.broadcast_to(np.zeros((), dtype=a.dtype), a.shape)


def check_batched(x, name: str, ndim: int) -> None:
    """Unbatched inputs are a single-array convenience; dask ops need (N, C, *spatial)."""
    if x.ndim != ndim + 2:
        dims = "DHW"[3 - ndim:]
        raise ValueError(f"{name} must be a {ndim + 2}-D dask array (N, C, {', '.join(dims)}), "
                         f"got shape {x.shape}")


def check_algorithm(algorithm) -> str:
    """The conv ops' ``algorithm=`` (checked here, before any task runs)."""
    from ..conv import ALGORITHMS
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    return algorithm


def check_no_out(out) -> None:
    if out is not None:
        raise TypeError("out= is not supported on dask arrays (results are new dask arrays)")


def split_every_arg(split_every):
    if split_every is not None and (not isinstance(split_every, int)
                                    or isinstance(split_every, bool) or split_every < 2):
        raise ValueError(f"split_every must be an int >= 2 or None, got {split_every!r}")
    return split_every


def spatial_one_chunk(x, name: str, op: str) -> None:
    """Ops whose windows depend on the whole spatial extent (adaptive pooling) need it in
    one chunk."""
    cut = [i for i in range(2, x.ndim) if len(x.chunks[i]) > 1]
    if cut:
        raise ValueError(f"{op} needs each spatial dim of {name} in one chunk (its windows span "
                         f"the whole plane), got shape {x.shape} with chunks {x.chunks}; rechunk "
                         f"with {name}.rechunk({{{', '.join(f'{i}: -1' for i in cut)}}})")
