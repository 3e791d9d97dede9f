"""Tree sums of per-block partial gradients, written as tasks of their own.

Each block's partial is one flat vector (grad_weight raveled, then grad_bias when asked).
The tree adds ``split_every`` neighbours at a time, in block order, and its last level writes
the results in their final shapes: grad_weight reshaped, grad_bias sliced out, each by one
task reading the same nodes. ``dask.array.sum`` over the stacked partials would add a
per-block sum task, and slicing and reshaping its result two more: on a distributed
scheduler each is a round trip in the chain that ends a backward pass.
"""
from __future__ import annotations

import numpy as np

#: fan-in when neither ``split_every=`` nor dask's ``split_every`` config says one: the
#: partials are weight-sized (small), so a wide fan-in costs little memory and saves a level
DEFAULT_SPLIT_EVERY = 8


def fan_in(split_every) -> int:
    import dask
    return int(split_every or dask.config.get("split_every", None) or DEFAULT_SPLIT_EVERY)


def add(*vectors) -> np.ndarray:
    """The sum of the vectors, added left to right (the block order)."""
    total = vectors[0].copy()
    for v in vectors[1:]:
        total += v
    return total


def weight_from(*vectors, shape) -> np.ndarray:
    """grad_weight: the first prod(shape) entries of the vectors' sum, in ``shape``."""
    size = int(np.prod(shape))
    return add(*(v[:size] for v in vectors)).reshape(shape)


def bias_from(*vectors, weight_size) -> np.ndarray:
    """grad_bias: the entries after ``weight_size`` of the vectors' sum."""
    return add(*(v[weight_size:] for v in vectors))


def reduce(tasks: dict, name: str, leaves: list, split_every) -> list:
    """Adds the tree's inner levels over ``leaves`` (keys) to ``tasks``; returns the keys
    the final tasks must read (at most ``fan_in(split_every)`` of them)."""
    width = fan_in(split_every)
    level, nodes = 0, list(leaves)
    while len(nodes) > width:
        parents = []
        for j in range(0, len(nodes), width):
            key = (f"{name}-sum{level}", j // width)
            tasks[key] = (add, *nodes[j:j + width])
            parents.append(key)
        level, nodes = level + 1, parents
    return nodes
