"""Unbatched inputs for the reference ops: ``(C, *spatial)`` as PyTorch takes them.

The reference computes on batched arrays only; this wrapper gives an ``n``-D op's unbatched
call the batched call's ``[0]``, as the compiled ops do (the number of dims decides).
"""
import functools
import inspect

import numpy as np

from .._validate import ConvGrads

_BATCHED_ARGS = ("x", "grad_output", "indices")


def accepting_unbatched(fn, ndim: int):
    """``fn`` (an ``ndim``-D reference op) that also takes an unbatched ``x``."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        x = bound.arguments.get("x")
        if np.ndim(x) != ndim + 1 or isinstance(x, (str, bytes)):
            return fn(*args, **kwargs)
        for name in _BATCHED_ARGS:
            value = bound.arguments.get(name)
            if value is not None and np.ndim(value) == ndim + 1:
                bound.arguments[name] = np.asarray(value)[None]
        result = fn(*bound.args, **bound.kwargs)
        if isinstance(result, ConvGrads):
            return result._replace(grad_input=None if result.grad_input is None
                                   else result.grad_input[0])
        if isinstance(result, tuple):
            return tuple(r[0] for r in result)
        return result[0]
    return wrapper
