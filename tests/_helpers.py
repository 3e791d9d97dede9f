"""Helpers shared by the kernel test modules (imported as ``_helpers``: pytest puts this
folder on sys.path because it is not a package)."""
import numpy as np

DTYPES = (np.float32, np.float64)
# Accuracy contract (DESIGN.md), relative to the sum of |terms| of each output element.
RTOL = {np.float32: 2e-6, np.float64: 1e-12}


def assert_close(actual, expected64, bound64, dtype, what=""):
    """``actual`` (computed in ``dtype``) is within RTOL[dtype] * sum|terms| of the float64
    ``expected64``; ``bound64`` is the same op applied to the absolute values of the inputs."""
    assert actual.dtype == dtype, what
    assert actual.shape == expected64.shape, what
    err = np.abs(actual.astype(np.float64) - expected64)
    limit = RTOL[dtype] * bound64 + np.finfo(dtype).tiny
    worst = np.max(err - limit) if err.size else 0
    assert worst <= 0, f"{what}: max excess error {worst:.3g} (max err {err.max():.3g})"


def scipy_same_pads(kernel):
    """Per-side pairs that reproduce SciPy's/NumPy's convolve 'same' (an even kernel's extra
    pad at the start; ours, as PyTorch's, puts it at the end)."""
    return tuple((k // 2, (k - 1) // 2) for k in kernel)


def directional_derivative(loss, args: dict, name: str, direction, eps=1e-6) -> float:
    """Central difference of ``loss(**args)`` along ``direction`` in argument ``name``
    (exact up to rounding for the bilinear losses of the convolution tests)."""
    plus = dict(args, **{name: args[name] + eps * direction})
    minus = dict(args, **{name: args[name] - eps * direction})
    return (loss(**plus) - loss(**minus)) / (2 * eps)
