"""Pure-NumPy reference of the recurrent ops: one layer, one direction, time-major.

The obviously-correct version of ``cyconv.recurrent`` (same signatures, minus
``num_threads``): a Python loop over the time steps, each step written as the textbook
equations with NumPy matmuls, and backpropagation through time as the same loop run
backwards. PyTorch's equations and gate order:

- ``rnn_tanh`` / ``rnn_relu``: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``
- ``lstm`` (gates i, f, g, o): ``c' = f*c + i*g``, ``h' = o*tanh(c')``
- ``gru`` (gates r, z, n): ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``,
  ``h' = (1 - z)*n + z*h``

Variable lengths (``lengths=``) as PyTorch's packed sequences: a sequence's steps at
``t >= lengths[n]`` leave its state unchanged and output zeros, in both directions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._recurrent_params import (RecurrentGrads, RecurrentOutput, check_cache, check_forward,
                                 check_grads)

__all__ = ["recurrent_forward", "recurrent_backward", "RecurrentOutput", "RecurrentGrads"]


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


@dataclass
class ReferenceCache:
    """What the reference backward needs: the validated call and, per time step, the
    previous states and the gate activations."""

    call: object
    order: list        # the time steps in processing order
    h_prev: dict       # t -> (N, H) state before step t
    c_prev: dict       # t -> (N, H) cell before step t (LSTM)
    acts: dict         # t -> tuple of gate activations (and GRU's W_hn h + b_hn, LSTM's c)
    valid: dict        # t -> (N, 1) bool


def recurrent_forward(mode, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *,
                      lengths=None, reverse=False, reuse=None,
                      keep=True) -> RecurrentOutput:
    """One recurrent layer in one direction (see ``cyconv.recurrent.recurrent_forward``).

    Parameters
    ----------
    mode : {'rnn_tanh', 'rnn_relu', 'lstm', 'gru'}
    x : ndarray, shape (T, N, I)
    w_ih : ndarray, shape (G*H, I); w_hh : ndarray, shape (G*H, H)
        G = 1, 4, 3 for RNN, LSTM, GRU, rows in torch's gate order.
    b_ih, b_hh : ndarray, shape (G*H,), or None
    h0, c0 : ndarray, shape (N, H), optional (zeros); ``c0`` for LSTM only
    lengths : ints, shape (N,), optional
    reverse : bool
        Run from the last valid step of each sequence back to t = 0.
    reuse : ignored
        (The compiled op's work arrays of an earlier call; the reference allocates anew.)
    keep : bool
        False: inference, ``cache`` is None.

    Returns
    -------
    RecurrentOutput(output (T, N, H), h_n (N, H), c_n (N, H) or None, cache)
    """
    p = check_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse)
    hidden = p.hidden_size
    h = p.h0.copy()
    c = None if p.c0 is None else p.c0.copy()
    output = np.zeros((p.steps, p.batch, hidden), p.dtype)
    order = list(range(p.steps))[::-1] if p.reverse else list(range(p.steps))
    cache = ReferenceCache(p, order, {}, {}, {}, {})
    b_ih = 0 if p.b_ih is None else p.b_ih
    b_hh = 0 if p.b_hh is None else p.b_hh
    for t in order:
        valid = (t < p.lengths)[:, None]
        gx = p.x[t] @ p.w_ih.T + b_ih
        gh = h @ p.w_hh.T + b_hh
        cache.h_prev[t], cache.c_prev[t], cache.valid[t] = h, c, valid
        if p.mode == "lstm":
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c_new = f * c + i * g
            tanh_c = np.tanh(c_new)
            h_new = o * tanh_c
            cache.acts[t] = (i, f, g, o, tanh_c)
            c = np.where(valid, c_new, c)
        elif p.mode == "gru":
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hn = np.split(gh, 3, axis=1)
            r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
            n = np.tanh(xn + r * hn)
            h_new = (1 - z) * n + z * h
            cache.acts[t] = (r, z, n, hn)
        else:
            pre = gx + gh
            h_new = np.tanh(pre) if p.mode == "rnn_tanh" else np.maximum(pre, 0)
            cache.acts[t] = (h_new,)
        output[t] = np.where(valid, h_new, 0)
        h = np.where(valid, h_new, h)
    return RecurrentOutput(output, h, c, cache if keep else None)


def recurrent_backward(cache, grad_output, grad_h_n=None, grad_c_n=None) -> RecurrentGrads:
    """Backpropagation through time of one ``recurrent_forward`` call.

    Parameters
    ----------
    cache : the ``cache`` of the forward's result
    grad_output : ndarray, shape (T, N, H)
        Gradient of the loss with respect to the forward's ``output``.
    grad_h_n, grad_c_n : ndarray, shape (N, H), optional (zeros)
        Gradients with respect to the final states (``grad_c_n`` for LSTM only).

    Returns
    -------
    RecurrentGrads(grad_input (T, N, I), grad_h0 (N, H), grad_c0 (N, H) or None,
    grad_w_ih (G*H, I), grad_w_hh (G*H, H), grad_b_ih (G*H,) or None, grad_b_hh or None)
    """
    cache = check_cache(cache, ReferenceCache, "cyconv.reference.recurrent")
    p = cache.call
    grad_output, dh, dc = check_grads(p, grad_output, grad_h_n, grad_c_n)
    dh, dc = dh.copy(), None if dc is None else dc.copy()
    grad_x = np.zeros_like(p.x)
    gw_ih, gw_hh = np.zeros_like(p.w_ih), np.zeros_like(p.w_hh)
    gb_ih = np.zeros(p.w_ih.shape[0], p.dtype)
    gb_hh = np.zeros_like(gb_ih)
    for t in cache.order[::-1]:
        valid = cache.valid[t]
        h_prev = cache.h_prev[t]
        # the step's output and the state it hands on both receive dh; masked rows pass
        # their state (and its gradient) through unchanged
        total = dh + np.where(valid, grad_output[t], 0)
        if p.mode == "lstm":
            i, f, g, o, tanh_c = cache.acts[t]
            dct = dc + total * o * (1 - tanh_c ** 2)
            d_pre = np.concatenate([dct * g * i * (1 - i), dct * cache.c_prev[t] * f * (1 - f),
                                    dct * i * (1 - g ** 2), total * tanh_c * o * (1 - o)],
                                   axis=1)
            dc = np.where(valid, dct * f, dc)
            d_x = d_h = d_pre
            direct = 0
        elif p.mode == "gru":
            r, z, n, hn = cache.acts[t]
            dn = total * (1 - z) * (1 - n ** 2)
            dz = total * (h_prev - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            d_x = np.concatenate([dr, dz, dn], axis=1)
            d_h = np.concatenate([dr, dz, dn * r], axis=1)
            direct = total * z
        else:
            (h_new,) = cache.acts[t]
            d_x = d_h = total * ((1 - h_new ** 2) if p.mode == "rnn_tanh" else (h_new > 0))
            direct = 0
        d_x = np.where(valid, d_x, 0)
        d_h = np.where(valid, d_h, 0)
        grad_x[t] = d_x @ p.w_ih
        gw_ih += d_x.T @ p.x[t]
        gw_hh += d_h.T @ h_prev
        gb_ih += d_x.sum(axis=0)
        gb_hh += d_h.sum(axis=0)
        dh = np.where(valid, d_h @ p.w_hh + direct, dh)
    bias = p.b_ih is not None
    return RecurrentGrads(grad_x, dh, dc, gw_ih, gw_hh, gb_ih if bias else None,
                          gb_hh if bias else None)
