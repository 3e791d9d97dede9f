"""A minimal training loop: shuffled mini-batches, one SGD step each, and evaluation."""
from __future__ import annotations

import numpy as np

from ._module import Module
from ._optim import SGD, softmax_cross_entropy


def train_epoch(model: Module, optimizer: SGD, x: np.ndarray, labels: np.ndarray,
                batch_size: int, rng: np.random.Generator, progress=None) -> list[float]:
    """One pass over ``(x, labels)`` in shuffled mini-batches; returns the batch losses.

    Parameters
    ----------
    model : Module
        Put in training mode for the epoch.
    optimizer : SGD
    x : ndarray, shape (N, ...)
    labels : ndarray of ints, shape (N,)
    batch_size : int
    rng : numpy.random.Generator
        Draws the order of the samples.
    progress : callable, optional
        Wraps the iterable of batch starts (e.g. ``tqdm.tqdm``); must return an iterable,
        and may have a ``set_postfix`` method that receives the running loss.
    """
    model.train()
    order = rng.permutation(len(x))
    starts = range(0, len(x), batch_size)
    batches = progress(starts) if progress is not None else starts
    losses = []
    for start in batches:
        index = order[start:start + batch_size]
        loss, grad = softmax_cross_entropy(model.forward(x[index]), labels[index])
        model.backward(grad)
        optimizer.step()
        losses.append(loss)
        if hasattr(batches, "set_postfix"):
            batches.set_postfix(loss=f"{np.mean(losses):.4f}", refresh=False)
    return losses


def predict(model: Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class indices (argmax of the logits) for ``x``, in evaluation mode (no dropout)."""
    model.eval()
    logits = [model.forward(x[start:start + batch_size])
              for start in range(0, len(x), batch_size)]
    return np.concatenate(logits).argmax(axis=1)


def accuracy(model: Module, x: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``labels``."""
    return float(np.mean(predict(model, x, batch_size) == labels))
