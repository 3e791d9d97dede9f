"""float16 inputs: computed in float32, returned as float16.

The dtype checks (``_validate.as_float_array``) raise :class:`_validate.Float16Input` for a
float16 array. An op that takes float16 catches it around its validation - a ``try`` costs
nothing on the float32/float64 path - and calls :func:`rerun` with itself and its float
arrays: the op runs once more on float32 copies (float16 -> float32 is exact) and its
result is rounded to float16 once, at the end. So the result carries the float32
computation's error plus one float16 rounding (relative 2**-11 of each element; above 65504
it overflows to inf, as float16 arithmetic does). Indices stay int64.
"""
from __future__ import annotations

import numpy as np

from . import _validate

HALF = np.dtype(np.float16)


def _mixed_error(arrays: dict) -> TypeError:
    dtypes = ", ".join(f"{name} {a.dtype}" for name, a in arrays.items() if a is not None)
    return TypeError(f"float16 inputs are computed in float32 only when every float array is "
                     f"float16: got {dtypes}; cast them to one dtype explicitly")


def rerun(op, arrays: dict, out=None):
    """``op(**arrays)`` with the float16 arrays as float32 copies, its result as float16.

    Parameters
    ----------
    op : callable
        The op with every argument but ``arrays`` (and ``out``) bound; returns an array, a
        ``(values, indices)`` tuple or a ``ConvGrads``.
    arrays : dict
        The op's float array arguments by keyword (None entries allowed). One float32 or
        float64 array among float16 ones is a TypeError, as float32/float64 mixing is.
    out : ndarray, (values, indices) or (grad_input, grad_weight, grad_bias) tuple, or None
        The caller's ``out=``: checked strictly as for float32 (dtype float16) before it is
        written; it is what is returned.
    """
    if any(isinstance(a, np.ndarray) and a.dtype in _validate.FLOAT_DTYPES
           for a in arrays.values()):
        raise _mixed_error(arrays)
    _precheck(out, tuple(arrays.values()))
    result = op(**{name: a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == HALF
                   else a for name, a in arrays.items()})
    inputs = tuple(arrays.values())
    if out is None:
        if isinstance(result, np.ndarray):
            return _to_half(result)
        halves = map(_to_half, result)
        return result._make(halves) if hasattr(result, "_make") else tuple(halves)
    if isinstance(result, np.ndarray):
        _write(_validate.check_out(out, result.shape, HALF, inputs), result)
    elif hasattr(result, "_make"):  # ConvGrads: out is (grad_input, grad_weight, grad_bias)
        need = {name for name, r in zip(_validate.GRAD_NAMES, result) if r is not None}
        shapes = tuple(None if r is None else r.shape for r in result)
        given = _validate.check_grad_outs(out, need, shapes, HALF, inputs)
        for target, r in zip(given, result):
            if target is not None:
                _write(target, r)
        return result._make(t if t is not None else _to_half(r) for t, r in zip(given, result))
    else:
        values, indices = _validate.check_out_pair(out, result[0].shape, HALF, inputs)
        _write(values, result[0])
        indices[...] = result[1]
    return out


def _precheck(out, inputs) -> None:
    """What of ``out`` can be checked before the computation (its shape is known only from
    the result): each array's dtype, layout, writeability and overlap with the inputs, so a
    wrong ``out`` fails before any kernel runs."""
    if not isinstance(out, tuple):
        labels = {0: ("out", HALF)}
        out = (out,)
    elif len(out) == 2:  # (values, indices)
        labels = {0: ("out[0] (values)", HALF), 1: ("out[1] (indices)", np.dtype(np.int64))}
    else:  # (grad_input, grad_weight, grad_bias)
        labels = {i: (f"out[{i}] (grad_{name})", HALF)
                  for i, name in enumerate(_validate.GRAD_NAMES)}
    for index, target in enumerate(out):
        if isinstance(target, np.ndarray) and index in labels:
            name, dtype = labels[index]
            _validate.check_out(target, target.shape, dtype, inputs, name,
                                channels_last=True)


def _to_half(a):
    """A float32 result as float16 (int64 indices and None unchanged)."""
    if a is None or a.dtype != np.float32:
        return a
    with np.errstate(over="ignore"):  # beyond float16's range: inf, as float16 arithmetic
        return a.astype(HALF)


def _write(target: np.ndarray, result: np.ndarray) -> None:
    with np.errstate(over="ignore"):
        np.copyto(target, result, casting="same_kind")
