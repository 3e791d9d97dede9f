"""Accuracy-contract checks and gradient checks shared by the kernel test modules."""
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


def assert_gradients_match_finite_differences(forward, grads, x, w, b, grad_output, rng,
                                              eps=1e-6):
    """The loss <grad_output, forward(x, w, b)> is linear in each argument, so its central
    difference along a random direction must equal <gradient, direction> up to rounding.
    ``grads`` is the ConvGrads of that loss; all arrays float64."""
    import pytest

    def loss(x, w, b):
        return float(np.sum(grad_output * forward(x, w, b)))

    args = {"x": x, "w": w, "b": b}
    for name, grad in (("x", grads.grad_input), ("w", grads.grad_weight),
                       ("b", grads.grad_bias)):
        v = rng.standard_normal(grad.shape)
        plus = dict(args, **{name: args[name] + eps * v})
        minus = dict(args, **{name: args[name] - eps * v})
        numeric = (loss(**plus) - loss(**minus)) / (2 * eps)
        assert numeric == pytest.approx(float(np.sum(grad * v)), rel=1e-6, abs=1e-6), name
