"""Validation and result types of the recurrent ops (one layer, one direction), shared by the
compiled ops (``cyconv.recurrent``), the reference (``cyconv.reference.recurrent``) and the
layers (``cyconv.nn.RNN/LSTM/GRU``).

Every check runs here, in Python, before any kernel: messages name the argument and the
shapes involved. Arrays are time-major: ``x`` (T, N, input_size).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _validate

# mode -> number of gates (rows of weight_ih per hidden unit), in torch's gate order:
# LSTM i, f, g, o; GRU r, z, n; RNN one pre-activation.
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


class RecurrentOutput(NamedTuple):
    """What a recurrent forward returns.

    output : (T, N, H)   the hidden state after every step (zero where ``t >= lengths[n]``)
    h_n : (N, H)         the final hidden state (of each sequence's last valid step)
    c_n : (N, H) or None the final cell state (LSTM only)
    cache : object       what the backward of the same backend needs (opaque)
    """

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    cache: Any


class RecurrentGrads(NamedTuple):
    """Gradients of a recurrent forward; ``grad_c0`` is None except for LSTM and the bias
    gradients are None for a call without biases."""

    grad_input: np.ndarray
    grad_h0: np.ndarray
    grad_c0: np.ndarray | None
    grad_w_ih: np.ndarray
    grad_w_hh: np.ndarray
    grad_b_ih: np.ndarray | None
    grad_b_hh: np.ndarray | None


@dataclass(frozen=True)
class RecurrentCall:
    """A validated recurrent forward: the arrays as C-contiguous ndarrays of one dtype."""

    mode: str
    gates: int
    steps: int
    batch: int
    input_size: int
    hidden_size: int
    dtype: np.dtype
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray | None
    b_hh: np.ndarray | None
    h0: np.ndarray
    c0: np.ndarray | None
    lengths: np.ndarray  # int64 (N,), every entry in [0, T]
    reverse: bool


def check_mode(mode) -> str:
    if mode not in GATES:
        raise ValueError(f"mode must be one of {sorted(GATES)}, got {mode!r}")
    return mode


def _same_dtype(a: np.ndarray, name: str, dtype: np.dtype) -> np.ndarray:
    a = _validate.as_float_array(a, name)
    if a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but x has dtype {dtype}; the arrays of "
                        "a recurrent op must share one dtype")
    return a


def _shaped(a, name: str, shape: tuple, dtype: np.dtype, what: str) -> np.ndarray:
    a = _same_dtype(_validate.array_like(a, name), name, dtype)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape} ({what}), got {a.shape}")
    return _validate.for_kernel(a)


def check_lengths(lengths, steps: int, batch: int, name: str = "lengths") -> np.ndarray:
    """``lengths`` as an int64 (N,) array with entries in [0, T] (None: all T)."""
    if lengths is None:
        return np.full(batch, steps, np.int64)
    lengths = _validate.array_like(lengths, name)
    if lengths.dtype == np.bool_ or not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) (one length per sequence of the "
                         f"batch), got {lengths.shape}")
    if batch and (lengths.min() < 0 or lengths.max() > steps):
        raise ValueError(f"{name} must lie in [0, {steps}] (the sequence length T), got "
                         f"[{lengths.min()}, {lengths.max()}]")
    return np.ascontiguousarray(lengths, dtype=np.int64)


def check_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse) -> RecurrentCall:
    """Validate one recurrent forward call (see ``cyconv.recurrent.recurrent_forward``)."""
    mode = check_mode(mode)
    gates = GATES[mode]
    x = _validate.as_float_array(_validate.array_like(x, "x"), "x", 3,
                                 "(T, N, input_size), time-major")
    dtype = x.dtype
    steps, batch, input_size = x.shape
    w_hh = _same_dtype(_validate.array_like(w_hh, "w_hh"), "w_hh", dtype)
    if w_hh.ndim != 2 or w_hh.shape[1] < 1 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"w_hh must have shape ({gates} * hidden_size, hidden_size) for mode "
                         f"{mode!r}, got {w_hh.shape}")
    hidden = w_hh.shape[1]
    rows = gates * hidden
    w_ih = _shaped(w_ih, "w_ih", (rows, input_size), dtype,
                   f"{gates} * hidden_size x input_size, with x of shape {x.shape}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih and b_hh must be given together (or both None)")
    if b_ih is not None:
        b_ih = _shaped(b_ih, "b_ih", (rows,), dtype, f"{gates} * hidden_size")
        b_hh = _shaped(b_hh, "b_hh", (rows,), dtype, f"{gates} * hidden_size")
    state = (batch, hidden)
    h0 = (np.zeros(state, dtype) if h0 is None
          else _shaped(h0, "h0", state, dtype, f"(N, hidden_size) with x of shape {x.shape}"))
    if mode == "lstm":
        c0 = (np.zeros(state, dtype) if c0 is None
              else _shaped(c0, "c0", state, dtype, f"(N, hidden_size) with x of shape {x.shape}"))
    elif c0 is not None:
        raise ValueError(f"c0 is only for mode 'lstm', got mode {mode!r}")
    lengths = check_lengths(lengths, steps, batch)
    return RecurrentCall(mode, gates, steps, batch, input_size, hidden, dtype,
                         _validate.for_kernel(x), _validate.for_kernel(w_ih),
                         _validate.for_kernel(w_hh), b_ih, b_hh, h0, c0, lengths,
                         _validate.check_bool(reverse, "reverse"))


def check_grads(p: RecurrentCall, grad_output, grad_h_n, grad_c_n) -> tuple:
    """(grad_output, grad_h_n, grad_c_n) checked against the forward call ``p``; missing
    final-state gradients are zeros."""
    out_shape = (p.steps, p.batch, p.hidden_size)
    state = (p.batch, p.hidden_size)
    grad_output = _shaped(grad_output, "grad_output", out_shape, p.dtype,
                          "the forward's output, (T, N, hidden_size)")
    grad_h_n = (np.zeros(state, p.dtype) if grad_h_n is None
                else _shaped(grad_h_n, "grad_h_n", state, p.dtype, "(N, hidden_size)"))
    if p.mode == "lstm":
        grad_c_n = (np.zeros(state, p.dtype) if grad_c_n is None
                    else _shaped(grad_c_n, "grad_c_n", state, p.dtype, "(N, hidden_size)"))
    elif grad_c_n is not None:
        raise ValueError(f"grad_c_n is only for mode 'lstm', got mode {p.mode!r}")
    return grad_output, grad_h_n, grad_c_n


def check_cache(cache, kind: type, backend: str):
    if not isinstance(cache, kind):
        raise TypeError(f"cache must be the cache returned by {backend}.recurrent_forward, got "
                        f"{type(cache).__name__}")
    return cache


def positive(value, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
