"""The sequence demo: scikit-learn's 8x8 digits read row by row, as 8 steps of 8 features.

``python -m cyconv demo --task sequence`` trains two sequence models side by side with Adam on
the compiled kernels — an LSTM whose last hidden state feeds a linear classifier, and a
causal temporal convolutional network (TCN: three ``Conv1d`` layers with kernel 2 and
dilations 1, 2, 4, so the last output sees all 8 rows, then a linear classifier) — printing
the loss, test accuracy and time of every epoch. Then it times one more training epoch of
each trained network on ``ops=cyconv`` and on ``ops=cyconv.reference`` (interleaved, best of
2) and, with ``--plots DIR``, writes ``sequence_curves.png``. Needs the ``demo`` extra.
"""
from __future__ import annotations

import copy
import os
import time

import numpy as np

from . import nn
from ._demo import SEED, cosine_lr, load_digits_split
from .nn._module import Module


def load_digit_rows(dtype=np.float32):
    """The digits split of the CNN demo as sequences: (N, 8 steps, 8 features), rows top to
    bottom, values in [0, 1]. Returns x_train, y_train, x_test, y_test."""
    x_train, y_train, x_test, y_test = load_digits_split(dtype)
    return x_train[:, 0], y_train, x_test[:, 0], y_test


class LastTimeStep(Module):
    """(N, C, L) -> (N, C): the last position of a channels-first sequence (the causal
    convolutions' output that has seen every step)."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x[:, :, -1]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        out = np.zeros(self._saved(self._shape, "shape"), grad.dtype)
        out[:, :, -1] = grad
        return out

    def __repr__(self) -> str:
        return "LastTimeStep()"


class ChannelsFirst(Module):
    """(N, T, F) -> (N, F, T): sequences as ``Conv1d`` reads them."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 2, 1))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(grad.transpose(0, 2, 1))

    def __repr__(self) -> str:
        return "ChannelsFirst()"


def build_lstm(features: int = 8, hidden: int = 64, classes: int = 10, *, ops=None,
               dtype=np.float32) -> nn.Sequential:
    """LSTM(features -> hidden) -> last step -> Linear(hidden -> classes)."""
    return nn.Sequential(nn.LSTM(features, hidden, rng=SEED, ops=ops, dtype=dtype),
                         nn.LastStep(),
                         nn.Linear(hidden, classes, init="glorot", rng=SEED + 1, dtype=dtype))


def build_tcn(features: int = 8, channels: int = 64, classes: int = 10, *, ops=None,
              dtype=np.float32) -> nn.Sequential:
    """Causal TCN: three Conv1d(kernel 2, padding='causal') with dilations 1, 2, 4 and ReLU
    (receptive field 8 steps), the last step, Linear(channels -> classes)."""
    layers = [ChannelsFirst()]
    width = features
    for k, dilation in enumerate((1, 2, 4)):
        layers += [nn.Conv1d(width, channels, 2, padding="causal", dilation=dilation,
                             rng=SEED + k, ops=ops, dtype=dtype), nn.ReLU()]
        width = channels
    layers += [LastTimeStep(), nn.Linear(channels, classes, init="glorot", rng=SEED + 3,
                                         dtype=dtype)]
    return nn.Sequential(*layers)


def train(model, data, *, epochs: int, batch_size: int, lr: float, name: str, echo) -> dict:
    """Adam (global-norm clipping at 5) with a cosine learning rate; per-epoch measurements."""
    x_train, y_train, x_test, y_test = data
    optimizer = nn.Adam(model, lr=lr, clip_norm=5.0)
    rng = np.random.default_rng(SEED + 1)
    history = dict(loss=[], accuracy=[], seconds=[])
    for epoch in range(epochs):
        optimizer.lr = cosine_lr(lr, epoch, epochs)
        start = time.perf_counter()
        losses = nn.train_epoch(model, optimizer, x_train, y_train, batch_size, rng)
        seconds = time.perf_counter() - start
        acc = nn.accuracy(model, x_test, y_test)
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(acc)
        history["seconds"].append(seconds)
        echo(f"{name} epoch {epoch + 1:2d}/{epochs}  loss {np.mean(losses):.4f}  "
             f"test accuracy {acc * 100:5.2f}%  {seconds * 1000:6.1f} ms")
    return history


def time_epoch(model, ops, data, *, batch_size: int, lr: float) -> float:
    """Seconds for one training epoch of a deep copy of ``model`` running on ``ops``."""
    clone = copy.deepcopy(model).set_ops(ops)
    optimizer = nn.Adam(clone, lr=lr, clip_norm=5.0)
    start = time.perf_counter()
    nn.train_epoch(clone, optimizer, data[0], data[1], batch_size, np.random.default_rng(SEED))
    return time.perf_counter() - start


def save_plot(histories: dict, directory: str) -> str:
    """``sequence_curves.png``: test accuracy and training loss per epoch of each model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    labels = {"lstm": "LSTM (64 hidden)", "tcn": "causal TCN (3 x Conv1d)"}
    for name, h in histories.items():
        epochs = np.arange(1, len(h["accuracy"]) + 1)
        acc_ax.plot(epochs, np.array(h["accuracy"]) * 100, "o-", ms=3, label=labels[name])
        loss_ax.plot(epochs, h["loss"], "o-", ms=3, label=labels[name])
    acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(80, 100),
               title="digits read row by row")
    loss_ax.set(xlabel="epoch", ylabel="training cross-entropy", yscale="log")
    acc_ax.legend()
    fig.tight_layout()
    path = os.path.join(directory, "sequence_curves.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(*, epochs: int = 20, batch_size: int = 32, lr: float = 0.01, threads: int | None = 1,
        plots: str | None = None, compare: bool = True, echo=print, data=None) -> dict:
    """Train the LSTM and the TCN on the digit rows; return the measurements.

    ``threads``: OpenMP threads for the kernels (1 by default: batches of 32 sequences of 8
    steps are far too small to amortize a barrier per time step). ``data`` replaces the
    digits with other ``(x_train, y_train, x_test, y_test)`` of (N, T, F) sequences.

    Returns
    -------
    dict: per model (``'lstm'``, ``'tcn'``) its ``accuracy`` (after the last epoch),
    ``epoch_seconds`` (list) and, with ``compare``, ``cyconv_epoch_seconds``,
    ``reference_epoch_seconds``, ``speedup``; ``total_seconds`` of the training.
    """
    import cyconv
    from cyconv import reference

    data = load_digit_rows() if data is None else data
    x_train, y_train, x_test, y_test = data
    steps, features = x_train.shape[1:]
    classes = int(max(y_train.max(), y_test.max())) + 1
    models = {"lstm": build_lstm(features, classes=classes),
              "tcn": build_tcn(features, classes=classes)}
    result, histories = {}, {}
    with cyconv.threads(threads if threads is not None else cyconv.get_num_threads()):
        echo(f"digit rows: {len(x_train)} training and {len(x_test)} test sequences of "
             f"{steps} steps x {features} features; cyconv on {cyconv.get_num_threads()} "
             "thread(s)")
        start = time.perf_counter()
        for name, model in models.items():
            histories[name] = train(model, data, epochs=epochs, batch_size=batch_size, lr=lr,
                                    name=name.upper(), echo=echo)
            result[name] = dict(accuracy=histories[name]["accuracy"][-1],
                                epoch_seconds=histories[name]["seconds"])
        result["total_seconds"] = time.perf_counter() - start
        if compare:
            for name, model in models.items():
                cy, ref = [], []
                for _ in range(2):
                    cy.append(time_epoch(model, cyconv, data, batch_size=batch_size, lr=lr))
                    ref.append(time_epoch(model, reference, data, batch_size=batch_size, lr=lr))
                result[name].update(cyconv_epoch_seconds=min(cy),
                                    reference_epoch_seconds=min(ref),
                                    speedup=min(ref) / min(cy))
    echo(f"trained both in {result['total_seconds']:.1f} s")
    echo("| model | test accuracy | median epoch ms | ops=cyconv epoch ms | "
         "ops=cyconv.reference epoch ms | speed-up |")
    echo("|---|---|---|---|---|---|")
    for name in models:
        r = result[name]
        timing = (f"{r['cyconv_epoch_seconds'] * 1e3:.0f} | "
                  f"{r['reference_epoch_seconds'] * 1e3:.0f} | {r['speedup']:.1f}x"
                  if compare else "- | - | -")
        echo(f"| {name.upper()} | {r['accuracy'] * 100:.2f}% | "
             f"{np.median(r['epoch_seconds']) * 1e3:.0f} | {timing} |")
    if plots:
        echo(f"wrote {save_plot(histories, plots)}")
    return result


def main(args) -> int:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("the sequence demo needs scikit-learn: pip install 'cyconv[demo]' (or make demo)")
        return 1
    run(epochs=args.epochs or 20, batch_size=args.batch_size or 32, lr=args.lr or 0.01,
        plots=args.plots, threads=args.threads or None, compare=not args.no_compare)
    return 0
