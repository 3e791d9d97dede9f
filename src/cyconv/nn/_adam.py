"""Gradient clipping by global norm, and the Adam optimizer (PyTorch's update rules)."""
from __future__ import annotations

import math

import numpy as np

from ._module import Module


def global_norm(grads) -> float:
    """sqrt of the sum of squares of every gradient array (summed in float64)."""
    return math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) if g.dtype == np.float64 else
                         float(np.sum(np.square(g, dtype=np.float64))) for g in grads))


def clip_factor(grads, max_norm) -> tuple[float, float]:
    """(total norm, factor): the factor ``max_norm / (norm + 1e-6)`` when below 1, else 1 —
    as ``torch.nn.utils.clip_grad_norm_`` computes it."""
    norm = global_norm(grads)
    return norm, min(1.0, max_norm / (norm + 1e-6))


def clip_grad_norm(model: Module, max_norm: float) -> float:
    """Scale every gradient of ``model`` in place so that their global norm is at most
    ``max_norm``; returns the norm before clipping (``torch.nn.utils.clip_grad_norm_``)."""
    max_norm = _positive(max_norm, "max_norm")
    grads = list(model.grads().values())
    norm, factor = clip_factor(grads, max_norm)
    if factor < 1.0:
        for g in grads:
            g *= g.dtype.type(factor)
    return norm


def _positive(value, name: str) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


class Adam:
    """Adam (Kingma & Ba), PyTorch's update: for each parameter ``p`` with gradient ``g``::

        g += weight_decay * p
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    model : Module
        Its ``params()`` and ``grads()`` (after ``backward``) are read at every ``step``.
    lr : float
    betas : (float, float)
    eps : float
    weight_decay : float
        L2 penalty added to the gradient (Adam's, not AdamW's decoupled decay).
    clip_norm : float, optional
        Clip the gradients to this global norm first (``clip_grad_norm``), without
        changing the model's gradient arrays; the norm before clipping is kept as
        ``last_norm``.
    """

    def __init__(self, model: Module, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a cyconv.nn Module, got {model!r}")
        self.lr = _positive(lr, "lr")
        beta1, beta2 = (float(b) for b in betas)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.model, self.betas, self.eps = model, (beta1, beta2), float(eps)
        self.weight_decay = float(weight_decay)
        self.clip_norm = None if clip_norm is None else _positive(clip_norm, "clip_norm")
        self.steps = 0
        self.last_norm = None
        self._m: dict[str, np.ndarray] = {}
        self._v: dict[str, np.ndarray] = {}

    def step(self) -> None:
        """Update every parameter of the model from its last gradient."""
        grads = self.model.grads()
        factor = 1.0
        if self.clip_norm is not None:
            self.last_norm, factor = clip_factor(list(grads.values()), self.clip_norm)
        self.steps += 1
        beta1, beta2 = self.betas
        correction1 = 1.0 - beta1 ** self.steps
        root2 = math.sqrt(1.0 - beta2 ** self.steps)
        for name, param in self.model.params().items():
            t = param.dtype.type
            g = grads[name].astype(param.dtype, copy=True)
            if factor < 1.0:
                g *= t(factor)
            if self.weight_decay:
                g += t(self.weight_decay) * param
            m = self._m.setdefault(name, np.zeros_like(param))
            v = self._v.setdefault(name, np.zeros_like(param))
            m *= t(beta1)
            m += t(1.0 - beta1) * g
            v *= t(beta2)
            v += t(1.0 - beta2) * g * g
            denom = np.sqrt(v) / t(root2) + t(self.eps)
            param -= t(self.lr / correction1) * m / denom
