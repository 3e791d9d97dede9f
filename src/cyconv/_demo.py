"""The digits demo: a LeNet-style CNN trained on scikit-learn's bundled 8x8 handwritten digits.

``python -m cyconv demo`` (or ``examples/train_digits.py``) trains it with the compiled ops,
printing a progress bar per epoch, the loss, the test accuracy and the epoch time; then it
times one more training epoch on copies of the trained network with ``ops=cyconv.reference``
and with ``ops=cyconv``, interleaved in this process, and prints the speed-up. Needs the
``demo`` extra (scikit-learn for the data, tqdm for the progress bar, matplotlib for
``--plots``).
"""
from __future__ import annotations

import copy
import os
import statistics
import time

import numpy as np

from . import nn
from .nn._module import resolve_rng

SEED = 0
TEST_FRACTION = 0.25


def load_digits_split(dtype=np.float32):
    """scikit-learn's digits as (N, 1, 8, 8) images in [0, 1], split 75/25 (stratified, seed 0).

    Returns
    -------
    x_train, y_train, x_test, y_test
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = (digits.images / 16.0).astype(dtype)[:, None, :, :]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=TEST_FRACTION, random_state=SEED,
        stratify=digits.target)
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def build_lenet(rng, *, dtype=np.float32, ops=None, num_classes=10,
                widths=(16, 32, 64)) -> nn.Sequential:
    """conv3x3(c1)-ReLU-maxpool2 -> conv3x3(c2)-ReLU-maxpool2 -> fc(f)-ReLU-dropout -> fc.

    For (N, 1, 8, 8) inputs and ``widths=(c1, c2, f)``: c1x8x8 -> c1x4x4 -> c2x4x4 ->
    c2x2x2 -> f -> classes.
    """
    rng = resolve_rng(rng)
    c1, c2, features = widths
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, rng=rng, dtype=dtype, ops=ops),
        nn.ReLU(),
        nn.MaxPool2d(2, ops=ops),
        nn.Conv2d(c1, c2, 3, padding=1, rng=rng, dtype=dtype, ops=ops),
        nn.ReLU(),
        nn.MaxPool2d(2, ops=ops),
        nn.Flatten(),
        nn.Linear(c2 * 2 * 2, features, rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.Dropout(0.25, rng=rng),
        nn.Linear(features, num_classes, init="glorot", rng=rng, dtype=dtype),
    )


def _progress_factory(enabled: bool, epoch: int, epochs: int):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return lambda batches: tqdm(batches, desc=f"epoch {epoch:2d}/{epochs}", unit="batch",
                                leave=False)


def time_epoch(model: nn.Module, ops, x, labels, *, batch_size: int, lr: float,
               momentum: float, weight_decay: float) -> float:
    """Seconds for one training epoch of a deep copy of ``model`` running on ``ops``."""
    clone = copy.deepcopy(model).set_ops(ops)
    optimizer = nn.SGD(clone, lr=lr, momentum=momentum, weight_decay=weight_decay)
    start = time.perf_counter()
    nn.train_epoch(clone, optimizer, x, labels, batch_size, np.random.default_rng(SEED))
    return time.perf_counter() - start


def save_plots(model: nn.Sequential, batch_losses: list, epoch_accuracy: list, directory: str):
    """Write ``first_layer_filters.png`` and ``loss_curve.png`` into ``directory``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    weights = model[0].weight[:, 0]
    cols = 8
    rows = -(-len(weights) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.2))
    limit = float(np.abs(weights).max())
    for index, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if index < len(weights):
            ax.imshow(weights[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(index), fontsize=8)
    fig.suptitle("first-layer 3x3 filters (red > 0, blue < 0)")
    fig.tight_layout()
    filters_path = os.path.join(directory, "first_layer_filters.png")
    fig.savefig(filters_path, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    epochs = len(epoch_accuracy)
    batches_per_epoch = len(batch_losses) // epochs
    steps = np.arange(1, len(batch_losses) + 1) / batches_per_epoch
    epoch_loss = np.reshape(batch_losses[:epochs * batches_per_epoch], (epochs, -1)).mean(axis=1)
    ax.plot(steps, batch_losses, lw=0.5, alpha=0.4, color="tab:blue", label="batch loss")
    ax.plot(np.arange(1, epochs + 1), epoch_loss, "s-", color="tab:blue",
            label="epoch mean loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (log scale)")
    ax.set_yscale("log")
    acc_ax = ax.twinx()
    acc_ax.plot(np.arange(1, epochs + 1), np.array(epoch_accuracy) * 100, "o-",
                color="tab:green", label="test accuracy")
    acc_ax.set_ylabel("test accuracy (%)")
    fig.legend(loc="upper center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    curve_path = os.path.join(directory, "loss_curve.png")
    fig.savefig(curve_path, dpi=120)
    plt.close(fig)
    return filters_path, curve_path


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based): ``base_lr`` decayed to 0 along a half cosine, so
    the last epochs take small steps and the final accuracy does not hinge on the last
    batch's noise."""
    return base_lr * 0.5 * (1.0 + np.cos(np.pi * epoch / epochs))


def run(*, epochs: int = 20, batch_size: int = 32, lr: float = 0.05, momentum: float = 0.9,
        weight_decay: float = 1e-4, threads: int | None = 1, plots: str | None = None,
        compare: bool = True, progress: bool = True, echo=print, data=None) -> dict:
    """Train the digits CNN and return the measurements.

    ``threads`` is the number of OpenMP threads for the cyconv kernels (``None``: cyconv's
    default). It defaults to 1: a batch of 32 8x8 images is a few MFLOP per call, too little
    to amortize a thread barrier, and with the cores shared a barrier waiting for a
    descheduled thread costs a time slice (measured on the project's loaded 2-core machine:
    one epoch 0.2-0.35 s with 1 thread, 2.6-4.4 s with 2). ``data`` replaces the digits
    with other ``(x_train, y_train, x_test, y_test)`` of (N, 1, 8, 8) images.

    Returns
    -------
    dict with ``test_accuracy`` (after the last epoch), ``epoch_seconds`` (list),
    ``total_seconds`` (training and evaluation), and with ``compare``:
    ``cyconv_epoch_seconds``, ``reference_epoch_seconds`` and ``speedup`` (one training
    epoch on copies of the trained network, the two backends interleaved, best of 2 each).
    """
    import cyconv
    from cyconv import reference

    with cyconv.threads(threads if threads is not None else cyconv.get_num_threads()):
        return _run(cyconv, reference, epochs=epochs, batch_size=batch_size, lr=lr,
                    momentum=momentum, weight_decay=weight_decay, plots=plots,
                    compare=compare, progress=progress, echo=echo, data=data)


def _run(cyconv, reference, *, epochs, batch_size, lr, momentum, weight_decay, plots, compare,
         progress, echo, data) -> dict:
    x_train, y_train, x_test, y_test = load_digits_split() if data is None else data
    classes = int(max(y_train.max(), y_test.max())) + 1
    echo(f"{'digits' if data is None else 'data'}: {len(x_train)} training and {len(x_test)} "
         f"test images of 8x8, {classes} classes; cyconv on {cyconv.get_num_threads()} "
         "thread(s)")
    model = build_lenet(SEED, num_classes=classes)
    optimizer = nn.SGD(model, lr=lr, momentum=momentum, weight_decay=weight_decay)
    shuffle_rng = np.random.default_rng(SEED + 1)
    batch_losses, epoch_seconds, epoch_accuracy = [], [], []
    start_all = time.perf_counter()
    for epoch in range(1, epochs + 1):
        optimizer.lr = cosine_lr(lr, epoch - 1, epochs)
        start = time.perf_counter()
        losses = nn.train_epoch(model, optimizer, x_train, y_train, batch_size, shuffle_rng,
                                progress=_progress_factory(progress, epoch, epochs))
        seconds = time.perf_counter() - start
        test_accuracy = nn.accuracy(model, x_test, y_test)
        batch_losses += losses
        epoch_seconds.append(seconds)
        epoch_accuracy.append(test_accuracy)
        echo(f"epoch {epoch:2d}/{epochs}  lr {optimizer.lr:.4f}  loss {np.mean(losses):.4f}  "
             f"test accuracy {test_accuracy * 100:5.2f}%  {seconds * 1000:6.1f} ms")
    result = dict(test_accuracy=epoch_accuracy[-1], epoch_seconds=epoch_seconds,
                  total_seconds=time.perf_counter() - start_all)
    echo(f"final test accuracy {result['test_accuracy'] * 100:.2f}% after {epochs} epochs in "
         f"{result['total_seconds']:.1f} s (median epoch "
         f"{statistics.median(epoch_seconds) * 1000:.0f} ms)")
    if compare:
        timing = dict(batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay)
        cy_times, ref_times = [], []
        for _ in range(2):
            cy_times.append(time_epoch(model, cyconv, x_train, y_train, **timing))
            ref_times.append(time_epoch(model, reference, x_train, y_train, **timing))
        result.update(cyconv_epoch_seconds=min(cy_times), reference_epoch_seconds=min(ref_times),
                      speedup=min(ref_times) / min(cy_times))
        echo(f"one training epoch of this network, interleaved, best of 2: "
             f"ops=cyconv {result['cyconv_epoch_seconds'] * 1000:.0f} ms, "
             f"ops=cyconv.reference {result['reference_epoch_seconds'] * 1000:.0f} ms "
             f"-> speed-up {result['speedup']:.1f}x")
    if plots:
        for path in save_plots(model, batch_losses, epoch_accuracy, plots):
            echo(f"wrote {path}")
    return result


def add_arguments(parser) -> None:
    """The demo's command-line options (shared by ``python -m cyconv demo`` and the example).
    Unset ``--epochs``/``--batch-size``/``--lr`` take the task's defaults."""
    parser.add_argument("--task", choices=("digits", "sequence"), default="digits",
                        help="digits: the CNN on 8x8 images (default); sequence: an LSTM and a "
                        "causal TCN on the digits read row by row (8 steps of 8 features)")
    parser.add_argument("--epochs", type=int, default=None, help="default 20")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32")
    parser.add_argument("--lr", type=float, default=None,
                        help="default 0.05 (digits, SGD) or 0.01 (sequence, Adam)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP threads for the kernels (default 1: the per-call work is "
                        "too small for more; 0 means cyconv's default)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip timing an epoch with ops=cyconv.reference")
    parser.add_argument("--plots", default=None, metavar="DIR",
                        help="write first_layer_filters.png and loss_curve.png here")


def main(args) -> int:
    if getattr(args, "task", "digits") == "sequence":
        from . import _demo_sequence
        return _demo_sequence.main(args)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("the digits demo needs scikit-learn: pip install 'cyconv[demo]' (or make demo)")
        return 1
    run(epochs=args.epochs or 20, batch_size=args.batch_size or 32, lr=args.lr or 0.05,
        plots=args.plots, threads=args.threads or None, compare=not args.no_compare)
    return 0
