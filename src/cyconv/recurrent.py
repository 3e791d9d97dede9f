"""Recurrent ops on the compiled kernels: one RNN / LSTM / GRU layer in one direction,
forward and backpropagation through time. Time-major arrays: ``x`` (T, N, input_size).

The layers of ``cyconv.nn`` (``RNN``, ``LSTM``, ``GRU``) stack and mirror these calls;
``cyconv.reference.recurrent`` has the same functions in plain NumPy.

How it runs (``_kernels/_recurrent.pyx``): the weights are packed once per call so that the
G gates of a block of ``hb`` hidden units are the columns of a few adjacent register tiles
of the GEMM micro-kernel (NR columns each; ``hb`` a multiple of NR / gcd(NR, G)). The
input projection of all time steps is one packed GEMM; each time step is one parallel loop
over (hidden block, batch rows) tiles, each the hidden GEMM of its tile followed by the
gate nonlinearities and the state update; the backward step likewise (the recurrent GEMM
dG W_hh, then the gate gradients), and for LSTM and RNN the step's input gradient dG W_ih
from the same packed gate gradients, which it also stores as the B panels of the weight
gradients' GEMM (``x^T dG`` and ``h^T dG`` in one pass after the time loop; GRU: two GEMMs
and one for its input gradient). The bias gradients are column sums in float64: every sum
runs in a fixed order, so results are bitwise the same for any thread count.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from . import _threads
from ._kernels import _recurrent as _k
from ._recurrent_params import (RecurrentGrads, RecurrentOutput, check_cache, check_forward,
                                check_grads)

__all__ = ["recurrent_forward", "recurrent_backward", "RecurrentOutput", "RecurrentGrads"]


@dataclass(frozen=True, eq=False)
class _Layout:
    """Packed gate columns: gate g of hidden unit u at column (u // hb) * W + g * hb + u % hb,
    W = G * hb a multiple of the micro-kernel's NR (a block's gates fill W / NR tiles)."""

    mr: int
    nr: int
    hb: int
    width: int            # W, the columns of one block
    blocks: int
    columns: int          # Gc = blocks * W
    index: np.ndarray     # packed column of each row of torch's (G*H, .) weights
    source: np.ndarray    # torch row of each packed column (clipped; see padding)
    padding: np.ndarray   # packed columns of no real unit

    @classmethod
    def of(cls, gates: int, hidden: int, dtype) -> "_Layout":
        """The layout for this cell, size and dtype under the ISA in use (cached)."""
        return _layout(gates, hidden, np.dtype(dtype).str, _k.tile_shape(True),
                       _k.tile_shape(False))

    @staticmethod
    def units_per_block(gates: int, hidden: int, nr: int, lanes: int) -> int:
        """hb: a multiple of NR / gcd(NR, G) (so that G * hb fills whole tiles) with runs of
        at least one 64-byte vector per gate (the gate math runs on whole vectors), the one
        of the next few that pads H least (ties: the larger), at most 48 units."""
        base = nr // math.gcd(nr, gates)
        first = -(-lanes // base)
        options = [base * m for m in range(first, first + 4) if base * m <= max(48, base * first)]
        return min(options, key=lambda hb: (-(-hidden // hb) * hb, -hb))

    def packed_rows(self, w: np.ndarray) -> np.ndarray:
        """(G*H, K) torch rows -> (Gc, K): the rows in packed gate order, zero rows for the
        padding (a row gather, then the few padding rows cleared)."""
        rows = np.take(w, self.source, axis=0)
        rows[self.padding] = 0
        return rows

    def pack_panels(self, w: np.ndarray) -> np.ndarray:
        """(G*H, K) -> (Gc / NR, K, NR): the GEMM panels of W^T in packed gate columns (the
        B operand of h W^T)."""
        rows = self.packed_rows(w)
        return np.ascontiguousarray(
            rows.reshape(self.columns // self.nr, self.nr, w.shape[1]).transpose(0, 2, 1))

    def pack_rows(self, w: np.ndarray) -> np.ndarray:
        """(G*H, K) torch rows -> (ceil(K/nr), Gc, nr) GEMM panels of W in packed gate rows
        (the B operand of dG W), zero elsewhere."""
        k, nr = w.shape[1], self.nr
        rows = self.packed_rows(w)
        out = np.empty((-(-k // nr), self.columns, nr), w.dtype)
        for b in range(out.shape[0]):
            width = min(nr, k - b * nr)
            out[b, :, :width] = rows[:, b * nr:b * nr + width]
            out[b, :, width:] = 0
        return out

    def empty_gates(self, rows: int, batch: int, dtype, panels: bool = False,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Gate gradients for rows * batch rows, zero in their padding columns (no gate of a
        real unit): (rows, batch, Gc), or with ``panels`` (Gc / NR, rows * batch, NR), the
        GEMM's B panels; ``out`` is used when it has that shape and dtype."""
        padding = self.padding
        shape = ((rows, batch, self.columns) if not panels
                 else (self.columns // self.nr, rows * batch, self.nr))
        if out is None or out.shape != shape or out.dtype != dtype:
            out = np.empty(shape, dtype)
        if padding.size and not panels:
            out[:, :, padding] = 0
        elif padding.size:
            out[padding // self.nr, :, padding % self.nr] = 0
        return out

    def pack_vector(self, b, dtype) -> np.ndarray:
        packed = np.zeros(self.columns, dtype)
        if b is not None:
            packed[self.index] = b
        return packed


@functools.lru_cache(maxsize=64)
def _layout(gates: int, hidden: int, dtype: str, tile64: tuple, tile32: tuple) -> _Layout:
    double = np.dtype(dtype) == np.float64
    mr, nr = tile64 if double else tile32
    hb = _Layout.units_per_block(gates, hidden, nr, 64 // np.dtype(dtype).itemsize)
    blocks = -(-hidden // hb)
    width = gates * hb
    g, u = np.divmod(np.arange(gates * hidden), hidden)
    index = (u // hb) * width + g * hb + u % hb
    columns = blocks * width
    source = np.zeros(columns, np.intp)
    source[index] = np.arange(gates * hidden)
    padding = np.setdiff1d(np.arange(columns), index)
    for a in (index, source, padding):
        a.flags.writeable = False
    return _Layout(mr, nr, hb, width, blocks, columns, index, source, padding)


def _scratch(n_threads: int, mr: int, nr: int, dtype) -> np.ndarray:
    return _threads.scratch_rows(n_threads, _k.KC * mr + mr * nr, dtype)


def _gemm(a: np.ndarray, a_strides: tuple, b: np.ndarray, b_strides: tuple, c: np.ndarray,
          k: int, layout: _Layout, n_threads: int, init: np.ndarray | None = None) -> None:
    """c += A B on the packed GEMM, or c = init (a row, broadcast) + A B; A, B strided
    views (element strides) of flat a, b."""
    if c.size == 0:
        return
    if k == 0:
        if init is not None:
            c[:] = init
        return
    bpack = np.empty(_k.KC * -(-c.shape[1] // layout.nr) * layout.nr, c.dtype)
    _k.gemm(a.reshape(-1), *a_strides, b.reshape(-1), *b_strides, c, k, init is not None,
            c[0] if init is None else init, bpack,
            _scratch(n_threads, layout.mr, layout.nr, c.dtype), n_threads)


def _column_sums(a: np.ndarray, rows: int, pw: int, ps: int, cols: int,
                 n_threads: int) -> np.ndarray:
    """Sums over the rows of a gate array (see ``_k.column_sums``), in float64 and a fixed
    order."""
    out = np.zeros(cols, np.float64)
    if a.size and rows:
        _k.column_sums(a.reshape(-1), rows, pw, ps, out, n_threads)
    return out


@dataclass
class CompiledCache:
    """What ``recurrent_backward`` needs from the forward (opaque to callers). Its large
    arrays (and the backward's gate gradients, once it ran) can serve a later call of the
    same shapes (``recurrent_forward(..., reuse=cache)``); the cache is spent then."""

    call: object
    layout: _Layout
    hs: np.ndarray
    cs: np.ndarray
    acts: np.ndarray
    aux: np.ndarray
    n_threads: int
    buffers: dict = field(default_factory=dict)
    spent: bool = False


def _buffer(reuse, name: str, shape: tuple, dtype) -> np.ndarray:
    """``reuse.buffers[name]`` when it has this shape and dtype, else a new array. Reusing
    the arrays of the previous call saves the page faults of fresh ones (tens of MB per
    call: the kernel zeroes every new page)."""
    old = None if reuse is None else reuse.buffers.get(name)
    if old is not None and old.shape == shape and old.dtype == dtype:
        return old
    return np.empty(shape, dtype)


def _threads_for(p, num_threads) -> int:
    work = p.steps * p.batch * p.gates * p.hidden_size * (p.input_size + p.hidden_size)
    return _threads.for_work(_threads.resolve(num_threads), work, _threads.SMALL_CONV_MACS)


def recurrent_forward(mode, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *,
                      lengths=None, reverse=False, num_threads=None, reuse=None,
                      keep=True) -> RecurrentOutput:
    """One recurrent layer in one direction, on the compiled kernels.

    Parameters
    ----------
    mode : {'rnn_tanh', 'rnn_relu', 'lstm', 'gru'}
        The cell, with torch's equations (see ``cyconv.reference.recurrent``).
    x : ndarray, shape (T, N, I), float32 or float64 (time-major)
    w_ih : ndarray, shape (G*H, I); w_hh : ndarray, shape (G*H, H)
        G = 1 (RNN), 4 (LSTM: gates i, f, g, o), 3 (GRU: r, z, n), as torch's
        ``weight_ih_l0`` / ``weight_hh_l0``.
    b_ih, b_hh : ndarray, shape (G*H,), or None (no biases)
    h0 : ndarray, shape (N, H), optional
        Initial hidden state (zeros).
    c0 : ndarray, shape (N, H), optional
        Initial cell state, LSTM only (zeros).
    lengths : ints, shape (N,), optional
        Valid steps of each sequence, in [0, T]: steps at ``t >= lengths[n]`` keep the
        state and output zeros (torch's packed sequences).
    reverse : bool
        Process each sequence from its last valid step back to t = 0 (the backward
        direction of a bidirectional layer).
    num_threads : int, optional
    reuse : the cache of an earlier call, optional
        Its work arrays serve this call where the shapes match (the layers pass their
        previous call's); that cache is spent: its backward raises.
    keep : bool
        Keep what the backward needs (default). ``keep=False`` is inference: the states
        and gates of each step are dropped as soon as the next one is computed, and
        ``cache`` is None.

    Returns
    -------
    RecurrentOutput(output (T, N, H), h_n (N, H), c_n (N, H) or None, cache)
        ``cache`` is what ``recurrent_backward`` takes (None without ``keep``).
    """
    p = check_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, reverse)
    if reuse is not None:
        reuse = check_cache(reuse, CompiledCache, "cyconv.recurrent")
        reuse.spent = True
    n_threads = _threads_for(p, num_threads)
    steps, batch, hidden, dtype = p.steps, p.batch, p.hidden_size, p.dtype
    lay = _Layout.of(p.gates, hidden, dtype)
    w_ih_rows = lay.packed_rows(p.w_ih)  # (Gc, I): B = its transpose, read along rows
    whh_panels = lay.pack_panels(p.w_hh)
    xproj = _buffer(reuse, "xproj", (steps * batch, lay.columns), dtype)
    _gemm(p.x, (p.input_size, 1), w_ih_rows, (1, p.input_size), xproj, p.input_size, lay,
          n_threads, init=lay.pack_vector(p.b_ih, dtype))
    keep = bool(keep)
    lstm = p.mode == "lstm"
    # kept: every step's state (T + 1 of them); inference: a ring of two
    slots = steps + 1 if keep else 2
    first, last = ((steps, 0) if p.reverse else (0, steps)) if keep else (0, steps % 2)
    hs = _buffer(reuse, "hs", (slots, batch, hidden), dtype)
    hs[first] = p.h0
    cs = _buffer(reuse, "cs", (slots, batch, hidden) if lstm else (1, 1, 1), dtype)
    if lstm:
        cs[first] = p.c0
    # the gate activations overwrite the input projection they come from (xproj's memory);
    # inference keeps them (and tanh(c)) in each thread's tile scratch instead
    acts = xproj.reshape(steps, batch, lay.columns)
    aux = _buffer(reuse, "aux", (steps, batch, hidden)
                  if keep and p.mode in ("lstm", "gru") else (1, 1, 1), dtype)
    output = np.empty((steps, batch, hidden), dtype)
    row_blocks = -(-batch // lay.mr)
    hpack = np.zeros(2 * row_blocks * lay.mr * hidden, dtype)
    padded = np.zeros((row_blocks * lay.mr, hidden), dtype)
    padded[:batch] = p.h0
    hpack[:padded.size] = padded.reshape(row_blocks, lay.mr, hidden).transpose(0, 2, 1).ravel()
    _k.forward_steps(_k.MODES[p.mode], p.reverse, lay.hb, xproj, whh_panels,
                     lay.pack_vector(p.b_hh, dtype), p.lengths.astype(np.intp, copy=False), hs,
                     cs, acts, aux, output, hpack,
                     _threads.scratch_rows(n_threads, lay.mr * (lay.width if keep else
                                                                2 * lay.width + hidden), dtype),
                     keep, n_threads)
    h_n, c_n = hs[last].copy(), cs[last].copy() if lstm else None
    if not keep:
        return RecurrentOutput(output, h_n, c_n, None)
    cache = CompiledCache(p, lay, hs, cs, acts, aux, n_threads,
                          dict(xproj=xproj, hs=hs, cs=cs, aux=aux))
    if reuse is not None:
        for name in ("dgx", "dgh"):  # the backward's, kept for the next backward
            if name in reuse.buffers:
                cache.buffers[name] = reuse.buffers[name]
    return RecurrentOutput(output, h_n, c_n, cache)


def recurrent_backward(cache, grad_output, grad_h_n=None, grad_c_n=None, *,
                       num_threads=None) -> RecurrentGrads:
    """Backpropagation through time of one ``recurrent_forward`` call, compiled.

    Parameters
    ----------
    cache : the ``cache`` of ``cyconv.recurrent.recurrent_forward``'s result
    grad_output : ndarray, shape (T, N, H)
    grad_h_n, grad_c_n : ndarray, shape (N, H), optional (zeros; ``grad_c_n`` LSTM only)
    num_threads : int, optional
        Defaults to the forward's thread count.

    Returns
    -------
    RecurrentGrads(grad_input (T, N, I), grad_h0 (N, H), grad_c0 (N, H) or None,
    grad_w_ih (G*H, I), grad_w_hh (G*H, H), grad_b_ih (G*H,) or None, grad_b_hh or None)
    """
    cache = check_cache(cache, CompiledCache, "cyconv.recurrent")
    if cache.spent:
        raise ValueError("cache was spent: a later recurrent_forward(..., reuse=cache) took "
                         "its arrays")
    p, lay = cache.call, cache.layout
    grad_output, carry, dc = check_grads(p, grad_output, grad_h_n, grad_c_n)
    n_threads = cache.n_threads if num_threads is None else _threads_for(p, num_threads)
    steps, batch, hidden, dtype = p.steps, p.batch, p.hidden_size, p.dtype
    carry = carry.copy()
    dc = dc.copy() if dc is not None else np.zeros((1, 1), dtype)
    gru = p.mode == "gru"
    whhT_panels = lay.pack_rows(p.w_hh)
    grad_x = np.empty((steps, batch, p.input_size), dtype)
    # LSTM and RNN: dx from the time loop's packed gate gradients; GRU's input-side gradients
    # differ from the recurrent ones (the n gate's), so its dx is one GEMM afterwards
    wih_panels = (np.zeros((0, lay.columns, lay.nr), dtype) if gru
                  else lay.pack_rows(p.w_ih))
    rows, cols = steps * batch, lay.columns
    # every real gate column is written by the time loop; the padding columns stay zero.
    # LSTM and RNN: one array of gate gradients, written straight into the micro-kernel's
    # B panels (NR columns each) for the weight gradients x^T dG and h^T dG; GRU: two
    # row-major arrays (its input- and hidden-side n gradients differ)
    if gru:
        dgx = lay.empty_gates(rows, 1, dtype, out=cache.buffers.get("dgx"))
        dgh = lay.empty_gates(rows, 1, dtype, out=cache.buffers.get("dgh"))
        pw, ps = cols, 0
    else:
        dgx = dgh = lay.empty_gates(rows, 1, dtype, panels=True, out=cache.buffers.get("dgx"))
        pw, ps = lay.nr, rows * lay.nr
    cache.buffers.update(dgx=dgx, dgh=dgh)
    row_blocks = -(-batch // lay.mr)
    dpack = np.zeros(2 * row_blocks * lay.mr * lay.columns, dtype)
    _k.backward_steps(_k.MODES[p.mode], p.reverse, lay.hb, grad_output, whhT_panels,
                      p.lengths.astype(np.intp, copy=False), cache.hs, cache.cs, cache.acts,
                      cache.aux, dgx.reshape(-1), dgh.reshape(-1), gru, pw, ps, carry, dc, dpack,
                      wih_panels, grad_x,
                      _threads.scratch_rows(n_threads, lay.mr * lay.nr, dtype), n_threads)
    h_prev = cache.hs[1:] if p.reverse else cache.hs[:-1]
    gw_ih = np.zeros((p.input_size, cols), dtype)
    gw_hh = np.zeros((hidden, cols), dtype)
    # the weight gradients transposed, (K, Gc) = x^T dG: the transposed operand is then the
    # narrow one (x or h, rows of I or H elements) and dG is read along its rows
    if gru:
        _gemm(p.x, (1, p.input_size), dgx, (cols, 1), gw_ih, rows, lay, n_threads)
        _gemm(h_prev, (1, hidden), dgh, (cols, 1), gw_hh, rows, lay, n_threads)
        grad_x[:] = 0
        _gemm(dgx, (cols, 1), lay.packed_rows(p.w_ih), (p.input_size, 1),
              grad_x.reshape(rows, p.input_size), cols, lay, n_threads)
    elif rows:
        _k.gemm_packed_b(p.x.reshape(-1), 1, p.input_size, gw_ih, h_prev.reshape(-1), 1, hidden,
                         gw_hh, dgx.reshape(-1), rows,
                         _scratch(n_threads, lay.mr, lay.nr, dtype), n_threads)
    gb_ih = gb_hh = None
    if p.b_ih is not None:
        gb_ih = _column_sums(dgx, rows, pw, ps, cols, n_threads)[lay.index].astype(dtype)
        gb_hh = (_column_sums(dgh, rows, pw, ps, cols, n_threads)[lay.index].astype(dtype)
                 if gru else gb_ih.copy())
    return RecurrentGrads(grad_x, carry, dc if p.mode == "lstm" else None,
                          np.ascontiguousarray(gw_ih[:, lay.index].T),
                          np.ascontiguousarray(gw_hh[:, lay.index].T), gb_ih, gb_hh)
