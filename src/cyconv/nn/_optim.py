"""The loss and the optimizer: softmax cross-entropy and SGD with momentum (and clipping)."""
from __future__ import annotations

import numpy as np

from ._adam import _positive, clip_factor
from ._module import Module


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, shifted by each row's maximum so exp cannot overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, K), float32 or float64
    labels : ndarray of ints, shape (N,), values in [0, K)

    Returns
    -------
    loss : float
        ``mean_i(logsumexp(logits_i) - logits_i[labels_i])``, computed from the logits shifted
        by their row maximum (stable for any magnitude).
    grad : ndarray, shape (N, K), dtype of ``logits``
        ``(softmax(logits) - onehot(labels)) / N``, the gradient of ``loss``.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, K), got shape {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {labels.dtype}")
    n, classes = logits.shape
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got [{labels.min()}, {labels.max()}]")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(n)
    loss = float(np.mean(log_norm - shifted[rows, labels]))
    grad = np.exp(shifted - log_norm[:, None])
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad.astype(logits.dtype, copy=False)


class SGD:
    """Stochastic gradient descent with momentum and weight decay (PyTorch's update rule).

    For each parameter ``p`` with gradient ``g``: ``g += weight_decay * p``;
    ``v = momentum * v + g``; ``p -= lr * v`` (``p -= lr * g`` without momentum). The
    parameters are updated in place.

    Parameters
    ----------
    model : Module
        Its ``params()`` and ``grads()`` (after ``backward``) are read at every ``step``.
    lr : float
    momentum : float, optional
    weight_decay : float, optional
        L2 penalty coefficient, applied to every parameter (biases too).
    clip_norm : float, optional
        Clip the gradients to this global norm first (as ``torch.nn.utils.
        clip_grad_norm_`` before the step), without changing the model's gradient arrays;
        the norm before clipping is kept as ``last_norm``.
    """

    def __init__(self, model: Module, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, clip_norm: float | None = None):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a cyconv.nn Module, got {model!r}")
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.model, self.lr = model, float(lr)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self._velocity: dict[str, np.ndarray] = {}
        self.clip_norm = None if clip_norm is None else _positive(clip_norm, "clip_norm")
        self.last_norm = None

    def step(self) -> None:
        """Update every parameter of the model from its last gradient."""
        grads = self.model.grads()
        factor = 1.0
        if self.clip_norm is not None:
            self.last_norm, factor = clip_factor(list(grads.values()), self.clip_norm)
        for name, param in self.model.params().items():
            step = grads[name].astype(param.dtype, copy=True)
            if factor < 1.0:
                step *= param.dtype.type(factor)
            if self.weight_decay:
                step += self.weight_decay * param
            if self.momentum:
                velocity = self._velocity.get(name)
                if velocity is None:
                    velocity = self._velocity[name] = step
                else:
                    velocity *= self.momentum
                    velocity += step
                step = velocity
            param -= param.dtype.type(self.lr) * step
