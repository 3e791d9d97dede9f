"""Sequence helpers: ``Embedding`` (token ids -> vectors), ``LastStep`` (the output at each
sequence's last valid step, for classifying a sequence) and ``TimeDistributed`` (a layer
applied to every time step)."""
from __future__ import annotations

import numpy as np

from .._recurrent_params import check_lengths
from .._validate import array_like, check_bool
from ._module import Module, positive_int, resolve_dtype, resolve_rng


class Embedding(Module):
    """A lookup table: integer ids of any shape (...) -> vectors (..., embedding_dim).

    Parameters
    ----------
    num_embeddings, embedding_dim : int
    padding_idx : int, optional
        This row starts at zero and gets no gradient (as ``torch.nn.Embedding``).
    dtype : float32 or float64
    rng : numpy.random.Generator or int, optional
        Initial weights N(0, 1), as torch; ``None`` means seed 0.

    Attributes
    ----------
    weight : ndarray, shape (num_embeddings, embedding_dim)

    Notes
    -----
    ``backward`` accumulates the rows' gradients with ``numpy.add.at`` (a fixed order) and
    returns None: integer ids have no gradient.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, dtype=np.float32,
                 rng=None):
        super().__init__()
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if not -self.num_embeddings <= int(padding_idx) < self.num_embeddings:
                raise ValueError(f"padding_idx must lie in [-{num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        dtype = resolve_dtype(dtype)
        self.weight = resolve_rng(rng).standard_normal(
            (self.num_embeddings, self.embedding_dim)).astype(dtype)
        if padding_idx is not None:
            self.weight[padding_idx] = 0
        self._params = {"weight": self.weight}
        self._ids = None

    def forward(self, ids) -> np.ndarray:
        ids = array_like(ids, "ids")
        if ids.dtype == np.bool_ or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must hold integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"ids must lie in [0, {self.num_embeddings}), got "
                             f"[{ids.min()}, {ids.max()}]")
        self._ids = ids
        return self.weight[ids]

    def backward(self, grad: np.ndarray) -> None:
        ids = self._saved(self._ids, "ids")
        grad = array_like(grad, "grad")
        shape = ids.shape + (self.embedding_dim,)
        if grad.shape != shape:
            raise ValueError(f"grad must have shape {shape}, got {grad.shape}")
        grad_weight = np.zeros_like(self.weight)
        np.add.at(grad_weight, ids.reshape(-1), grad.reshape(-1, self.embedding_dim))
        if self.padding_idx is not None:
            grad_weight[self.padding_idx] = 0
        self._grads["weight"] = grad_weight
        return None

    def __repr__(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"


class LastStep(Module):
    """(N, T, F) -> (N, F): each sequence's output at its last valid step.

    ``forward(x, lengths=None)``: step ``lengths[n] - 1`` of sequence n (T - 1 without
    lengths; a length of 0 selects zeros). ``batch_first=False`` reads (T, N, F). The
    gradient goes back to those positions only.
    """

    def __init__(self, *, batch_first=True):
        super().__init__()
        self.batch_first = check_bool(batch_first, "batch_first")
        self._saved_shape = None

    def forward(self, x, lengths=None) -> np.ndarray:
        x = array_like(x, "x")
        if x.ndim != 3:
            layout = "(N, T, F)" if self.batch_first else "(T, N, F)"
            raise ValueError(f"x must be 3-D {layout}, got shape {x.shape}")
        seq = x if self.batch_first else x.transpose(1, 0, 2)
        batch, steps = seq.shape[:2]
        lengths = check_lengths(lengths, steps, batch)
        rows = np.arange(batch)
        last = np.maximum(lengths - 1, 0)
        out = seq[rows, last]
        out[lengths == 0] = 0
        self._saved_shape = (x.shape, last, lengths > 0)
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        shape, last, keep = self._saved(self._saved_shape, "positions")
        grad = array_like(grad, "grad")
        batch = shape[0] if self.batch_first else shape[1]
        if grad.shape != (batch, shape[2]):
            raise ValueError(f"grad must have shape {(batch, shape[2])}, got {grad.shape}")
        out = np.zeros(shape, grad.dtype)
        seq = out if self.batch_first else out.transpose(1, 0, 2)
        seq[np.arange(batch)[keep], last[keep]] = grad[keep]
        return out

    def __repr__(self) -> str:
        return f"LastStep(batch_first={self.batch_first})"


class TimeDistributed(Module):
    """Apply ``layer`` (a layer of (M, F) rows, e.g. ``Linear``) to every step of an
    (N, T, F) sequence: (N, T, F) -> (N, T, F'). Parameters and gradients are the layer's,
    under the same names."""

    def __init__(self, layer: Module):
        super().__init__()
        if not isinstance(layer, Module):
            raise TypeError(f"layer must be a cyconv.nn Module, got {layer!r}")
        self.layer = layer
        self._lead = None

    def forward(self, x) -> np.ndarray:
        x = array_like(x, "x")
        if x.ndim < 3:
            raise ValueError(f"x must be (N, T, ...), got shape {x.shape}")
        self._lead = x.shape[:2]
        y = self.layer.forward(x.reshape((-1,) + x.shape[2:]))
        return y.reshape(self._lead + y.shape[1:])

    def backward(self, grad: np.ndarray) -> np.ndarray:
        lead = self._saved(self._lead, "shape")
        grad = array_like(grad, "grad")
        g = self.layer.backward(grad.reshape((-1,) + grad.shape[2:]))
        return None if g is None else g.reshape(lead + g.shape[1:])

    def train(self, mode: bool = True) -> "TimeDistributed":
        super().train(mode)
        self.layer.train(mode)
        return self

    def set_ops(self, ops) -> "TimeDistributed":
        self.layer.set_ops(ops)
        return self

    def params(self) -> dict:
        return self.layer.params()

    def grads(self) -> dict:
        return self.layer.grads()

    def __repr__(self) -> str:
        return f"TimeDistributed({self.layer!r})"
