"""Recurrent layers: ``RNN`` (tanh or relu), ``LSTM`` and ``GRU``, stacked and bidirectional.

PyTorch's constructors, parameter names, shapes, gate order and initialisation
(U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias), so weights copy across one to one —
but ``batch_first=True`` by default. Each layer and direction runs on its backend's
recurrent op (``ops.recurrent``: ``cyconv.recurrent``, compiled, by default;
``cyconv.reference.recurrent`` with ``ops=cyconv.reference``): ``recurrent_forward`` in
``forward``, ``recurrent_backward`` (backpropagation through time over the whole sequence)
in ``backward``. Stacking, the two directions and the dropout between layers happen here.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _recurrent_params
from .._validate import array_like, check_bool
from ._module import Module, positive_int, resolve_dtype, resolve_ops, resolve_rng


def _batch_of_one(state, name: str) -> np.ndarray:
    """An unbatched sequence's (num_layers * D, hidden_size) state as a batch of one."""
    state = array_like(state, name)
    if state.ndim != 2:
        raise ValueError(f"{name} must be (num_layers * D, hidden_size) for an unbatched "
                         f"sequence, got shape {state.shape}")
    return state[:, None]


class _Recurrent(Module):
    """Shared parts of RNN, LSTM and GRU (``mode`` names the cell, see
    ``cyconv.recurrent.recurrent_forward``)."""

    mode = ""

    def __init__(self, input_size, hidden_size, *, num_layers=1, bias=True, batch_first=True,
                 bidirectional=False, dropout=0.0, dtype=np.float32, rng=None, ops=None):
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.bias = check_bool(bias, "bias")
        self.batch_first = check_bool(batch_first, "batch_first")
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.dtype = resolve_dtype(dtype)
        self.ops = resolve_ops(ops)
        self.rng = resolve_rng(rng)
        gates = _recurrent_params.GATES[self.mode]
        bound = 1.0 / math.sqrt(self.hidden_size)
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else directions * self.hidden_size
            for suffix in ("", "_reverse")[:directions]:
                shapes = {"weight_ih": (gates * self.hidden_size, in_size),
                          "weight_hh": (gates * self.hidden_size, self.hidden_size)}
                if self.bias:
                    shapes.update(bias_ih=(gates * self.hidden_size,),
                                  bias_hh=(gates * self.hidden_size,))
                for name, shape in shapes.items():
                    value = self.rng.uniform(-bound, bound, size=shape).astype(self.dtype)
                    self._params[f"{name}_l{layer}{suffix}"] = value
        self.h_n = self.c_n = None
        self.grad_h0 = self.grad_c0 = None
        self._caches = None
        self._unbatched = False

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _weights(self, layer: int, direction: int) -> tuple:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        p = self._params
        return (p["weight_ih" + suffix], p["weight_hh" + suffix],
                p.get("bias_ih" + suffix), p.get("bias_hh" + suffix))

    def _states(self, value, name: str, batch: int):
        """The per-(layer, direction) initial states from an (L*D, N, H) array or None."""
        count = self.num_layers * self.directions
        if value is None:
            return [None] * count
        value = array_like(value, name)
        shape = (count, batch, self.hidden_size)
        if value.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (num_layers * directions, N, "
                             f"hidden_size), got {value.shape}")
        return list(value)

    def forward(self, x, h0=None, c0=None, *, lengths=None, need_grad=True) -> np.ndarray:
        """Run the layers over a batch of sequences.

        Parameters
        ----------
        x : ndarray, shape (N, T, input_size) (``batch_first``) or (T, N, input_size)
        h0 : ndarray, shape (num_layers * D, N, hidden_size), optional (zeros)
            For ``LSTM`` also a tuple ``(h0, c0)``, as torch takes it.
        c0 : ndarray, shape (num_layers * D, N, hidden_size), optional (LSTM only)
        lengths : ints, shape (N,), optional
            Valid steps of each sequence (the rest is padding), as torch's packed
            sequences: outputs there are zero and the final states are those of each
            sequence's last valid step (its first step for the reverse direction).
        need_grad : bool
            False: inference (as under torch's ``no_grad``): nothing is kept for a
            backward (each step's states and gates are dropped as soon as the next one is
            computed); ``backward`` then raises until the next forward with gradients.

        Returns
        -------
        ndarray, shape (N, T, D * hidden_size) (``batch_first``) or (T, N, D * hidden_size)
            D = 2 for bidirectional layers. The final states are kept as ``h_n`` (and
            ``c_n``), shape (num_layers * D, N, hidden_size).

        Notes
        -----
        An unbatched sequence, x of shape (T, input_size) (either ``batch_first``), runs as
        a batch of one, as in torch: states (num_layers * D, hidden_size), output
        (T, D * hidden_size); ``backward`` then takes and returns unbatched arrays too.
        """
        if isinstance(h0, tuple):
            if self.mode != "lstm" or c0 is not None:
                raise TypeError("h0 may be an (h0, c0) tuple only for LSTM, without c0=")
            h0, c0 = h0
        if c0 is not None and self.mode != "lstm":
            raise ValueError(f"c0 is only for LSTM, not {type(self).__name__}")
        x = array_like(x, "x")
        self._unbatched = x.ndim == 2
        if self._unbatched:
            if lengths is not None:
                raise ValueError("lengths= needs a batch: x of shape (T, input_size) is one "
                                 "sequence")
            y = self._forward(x[None] if self.batch_first else x[:, None],
                              *(None if s is None else _batch_of_one(s, name)
                                for s, name in ((h0, "h0"), (c0, "c0"))), None, need_grad)
            self.h_n = self.h_n[:, 0]
            self.c_n = None if self.c_n is None else self.c_n[:, 0]
            return y[0] if self.batch_first else y[:, 0]
        return self._forward(x, h0, c0, lengths, need_grad)

    def _forward(self, x, h0, c0, lengths, need_grad=True) -> np.ndarray:
        if x.ndim != 3 or x.shape[2] != self.input_size:
            layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
            raise ValueError(f"x must have shape {layout} with input_size={self.input_size}, "
                             f"got {x.shape}")
        seq = np.ascontiguousarray(x.transpose(1, 0, 2)) if self.batch_first else x
        batch = seq.shape[1]
        h0s = self._states(h0, "h0", batch)
        c0s = self._states(c0, "c0", batch) if self.mode == "lstm" else None
        backend = self.ops.recurrent
        # the previous call's caches lend their work arrays to this call (same backend)
        previous = (self._caches[0] if self._caches and self._caches[2] == backend.__name__
                    else None)
        self._caches = None
        caches, h_n, c_n = [], [], []
        for layer in range(self.num_layers):
            outputs, layer_caches = [], []
            for d in range(self.directions):
                k = layer * self.directions + d
                result = backend.recurrent_forward(
                    self.mode, seq, *self._weights(layer, d), h0s[k],
                    None if c0s is None else c0s[k], lengths=lengths, reverse=bool(d),
                    reuse=None if previous is None else previous[layer][0][d],
                    keep=bool(need_grad))
                outputs.append(result.output)
                layer_caches.append(result.cache)
                h_n.append(result.h_n)
                c_n.append(result.c_n)
            seq = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
            mask = None
            if self.training and self.dropout and layer < self.num_layers - 1:
                keep = self.rng.random(seq.shape) >= self.dropout
                mask = keep.astype(self.dtype) / self.dtype.type(1.0 - self.dropout)
                seq = seq * mask
            caches.append((layer_caches, mask))
        # without gradients nothing is kept (the previous caches were spent or dropped)
        self._caches = (caches, x.shape, backend.__name__) if need_grad else None
        self.h_n = np.stack(h_n)
        self.c_n = np.stack(c_n) if self.mode == "lstm" else None
        return np.ascontiguousarray(seq.transpose(1, 0, 2)) if self.batch_first else seq

    def backward(self, grad, grad_h_n=None, grad_c_n=None) -> np.ndarray:
        """Backpropagation through time over the whole sequence, every layer and direction.

        Parameters
        ----------
        grad : ndarray, shape of the forward's output
        grad_h_n, grad_c_n : ndarray, shape (num_layers * D, N, hidden_size), optional
            Gradients with respect to the final states ``h_n`` / ``c_n`` (LSTM).

        Returns
        -------
        ndarray, shape of ``x``: the input gradient. The parameter gradients go to
        ``grads()``, the initial states' to ``grad_h0`` (and ``grad_c0``).
        """
        self._saved(self._caches, "state")
        if self._unbatched:
            grad = array_like(grad, "grad")
            if grad.ndim != 2:
                raise ValueError(f"grad must be (T, D * hidden_size) like the unbatched "
                                 f"output, got shape {grad.shape}")
            dx = self._backward(grad[None] if self.batch_first else grad[:, None],
                                *(None if g is None else _batch_of_one(g, name)
                                  for g, name in ((grad_h_n, "grad_h_n"),
                                                  (grad_c_n, "grad_c_n"))))
            self.grad_h0 = self.grad_h0[:, 0]
            self.grad_c0 = None if self.grad_c0 is None else self.grad_c0[:, 0]
            return dx[0] if self.batch_first else dx[:, 0]
        return self._backward(grad, grad_h_n, grad_c_n)

    def _backward(self, grad, grad_h_n, grad_c_n) -> np.ndarray:
        caches, x_shape, _ = self._caches
        grad = array_like(grad, "grad")
        out_shape = x_shape[:2] + (self.directions * self.hidden_size,)
        if grad.shape != out_shape:
            raise ValueError(f"grad must have the output's shape {out_shape}, got {grad.shape}")
        batch = x_shape[0] if self.batch_first else x_shape[1]
        if grad_c_n is not None and self.mode != "lstm":
            raise ValueError(f"grad_c_n is only for LSTM, not {type(self).__name__}")
        ghs = self._states(grad_h_n, "grad_h_n", batch)
        gcs = self._states(grad_c_n, "grad_c_n", batch) if self.mode == "lstm" else None
        g = np.ascontiguousarray(grad.transpose(1, 0, 2)) if self.batch_first else grad
        backend = self.ops.recurrent
        hidden = self.hidden_size
        grad_h0 = [None] * len(ghs)
        grad_c0 = [None] * len(ghs)
        for layer in reversed(range(self.num_layers)):
            layer_caches, mask = caches[layer]
            if mask is not None:
                g = g * mask
            grad_in = None
            for d in range(self.directions):
                k = layer * self.directions + d
                part = g if self.directions == 1 else g[:, :, d * hidden:(d + 1) * hidden]
                r = backend.recurrent_backward(layer_caches[d], np.ascontiguousarray(part),
                                               ghs[k], None if gcs is None else gcs[k])
                grad_in = r.grad_input if grad_in is None else grad_in + r.grad_input
                grad_h0[k], grad_c0[k] = r.grad_h0, r.grad_c0
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                self._grads["weight_ih" + suffix] = r.grad_w_ih
                self._grads["weight_hh" + suffix] = r.grad_w_hh
                if self.bias:
                    self._grads["bias_ih" + suffix] = r.grad_b_ih
                    self._grads["bias_hh" + suffix] = r.grad_b_hh
            g = grad_in
        self.grad_h0 = np.stack(grad_h0)
        self.grad_c0 = np.stack(grad_c0) if self.mode == "lstm" else None
        return np.ascontiguousarray(g.transpose(1, 0, 2)) if self.batch_first else g

    def __repr__(self) -> str:
        extra = "".join(f", {key}={getattr(self, key)!r}" for key in
                        ("num_layers", "bias", "batch_first", "bidirectional", "dropout")
                        if getattr(self, key) != type(self)._DEFAULTS[key])
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    _DEFAULTS = dict(num_layers=1, bias=True, batch_first=True, bidirectional=False,
                     dropout=0.0)


class RNN(_Recurrent):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Parameters
    ----------
    input_size, hidden_size : int
    nonlinearity : {'tanh', 'relu'}
    num_layers : int
        Stacked layers; layer k > 0 reads layer k-1's output (D * hidden_size features).
    bias : bool
    batch_first : bool
        x and the output are (N, T, features) (the default here; torch's is False).
    bidirectional : bool
        A second pass from the end of each sequence; outputs concatenated (D = 2).
    dropout : float
        Dropout on the outputs of every layer but the last, in training mode.
    dtype : float32 or float64
    rng : numpy.random.Generator or int, optional
        Initial weights (U(-1/sqrt(H), 1/sqrt(H)), as torch) and dropout masks; None is seed 0.
    ops : module, optional
        ``cyconv`` (compiled kernels, default) or ``cyconv.reference``.

    Attributes
    ----------
    weight_ih_l{k}[_reverse] : (hidden_size, input_size or D*hidden_size), in ``params()``
    weight_hh_l{k}[_reverse] : (hidden_size, hidden_size)
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] : (hidden_size,)
    h_n : (num_layers * D, N, hidden_size), after ``forward``
    grad_h0 : (num_layers * D, N, hidden_size), after ``backward``
    """

    def __init__(self, input_size, hidden_size, *, nonlinearity="tanh", num_layers=1, bias=True,
                 batch_first=True, bidirectional=False, dropout=0.0, dtype=np.float32, rng=None,
                 ops=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.mode = "rnn_" + nonlinearity
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers=num_layers, bias=bias,
                         batch_first=batch_first, bidirectional=bidirectional, dropout=dropout,
                         dtype=dtype, rng=rng, ops=ops)


class LSTM(_Recurrent):
    """Long short-term memory, torch's equations and gate order (i, f, g, o)::

        i, f, o = sigmoid(...), g = tanh(...)   (each x_t W_i*^T + b_i* + h_{t-1} W_h*^T + b_h*)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Parameters and attributes as ``RNN`` (no ``nonlinearity``), with weights of 4 *
    hidden_size rows (``weight_ih_l0`` (4H, input_size), ``weight_hh_l0`` (4H, H)), and the
    cell states: ``c_n`` after ``forward``, ``grad_c0`` after ``backward``.
    ``forward(x, h0, c0)`` also takes ``h0=(h0, c0)``.
    """

    mode = "lstm"


class GRU(_Recurrent):
    """Gated recurrent unit, torch's equations and gate order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}

    Parameters and attributes as ``RNN`` (no ``nonlinearity``), weights of 3 * hidden_size
    rows.
    """

    mode = "gru"
