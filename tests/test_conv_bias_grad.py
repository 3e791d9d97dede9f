"""The bias gradient, alone or summed on the way by a weight-gradient pass that packs
grad_output: the same bits either way, on every weight-gradient path and thread count."""
import numpy as np
import pytest

import cyconv
from cyconv import reference as ref

DTYPES = [np.float32, np.float64]
W = cyconv.GradWeightPath

# (x shape, weight shape, kwargs, the weight-gradient paths that can run it)
CASES = [
    ((2, 8, 9, 11), (16, 8, 3, 3), dict(padding=1), [W.PADDED_WIDE, W.PADDED_NARROW, W.IM2COL]),
    ((1, 3, 1, 1), (5, 3, 1, 1), {}, [W.PADDED_WIDE, W.IM2COL]),
    ((3, 4, 10, 10), (6, 2, 3, 3), dict(padding=(0, 2), groups=2),
     [W.PADDED_WIDE, W.PADDED_NARROW, W.IM2COL]),
    ((2, 4, 13, 12), (7, 4, 4, 4), dict(stride=2, padding=1), [W.PHASES, W.IM2COL]),
    ((2, 5, 37), (9, 5, 5), dict(padding=2), [W.PADDED_WIDE, W.PADDED_NARROW, W.IM2COL]),
    ((1, 3, 5, 6, 7), (4, 3, 3, 3, 3), dict(padding=1), [W.PADDED_WIDE, W.IM2COL]),
    ((2, 16, 12, 12), (16, 16, 3, 3), dict(padding=1), [W.WINOGRAD, W.WINOGRAD_STAGED]),
    # several images per block of tile rows, images starting inside blocks
    ((7, 4, 5, 5), (6, 4, 3, 3), dict(padding=1), [W.WINOGRAD, W.WINOGRAD_STAGED]),
    ((3, 8, 9, 7), (6, 4, 3, 3), dict(padding=(1, 0), groups=2),
     [W.WINOGRAD, W.WINOGRAD_STAGED, W.PADDED_NARROW]),
]


def _conv_backward(x):
    return getattr(cyconv, f"conv{x.ndim - 2}d_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, kw, paths", CASES, ids=lambda v: str(v))
def test_bias_gradient_same_bits_with_or_without_the_weight_gradient(xs, ws, kw, paths, dtype):
    rng = np.random.default_rng(len(xs) * 10 + ws[0])
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    ndim = x.ndim - 2
    y = ref.__dict__[f"conv{ndim}d"](x, w, **kw)
    # magnitudes far apart: a different summation order would round differently
    gy = (rng.standard_normal(y.shape) * 10.0 ** rng.integers(-4, 5, y.shape)).astype(dtype)
    backward = _conv_backward(x)
    alone = backward(gy, x, w, need=("bias",), **kw).grad_bias
    expect = gy.astype(np.float64).sum(axis=(0,) + tuple(range(2, gy.ndim)))
    np.testing.assert_allclose(alone, expect, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 * np.abs(gy).max())
    for path in paths:
        with cyconv.forced_paths(grad_weight=path):
            assert cyconv.plan_conv(x, w, **kw).backward.grad_weight == path
            for threads in (1, 2):
                both = backward(gy, x, w, need=("weight", "bias"), num_threads=threads, **kw)
                every = backward(gy, x, w, num_threads=threads, **kw)
                np.testing.assert_array_equal(both.grad_bias, alone, err_msg=str(path))
                np.testing.assert_array_equal(every.grad_bias, alone, err_msg=str(path))
                np.testing.assert_array_equal(every.grad_weight, both.grad_weight)


@pytest.mark.parametrize("path", [W.PADDED_WIDE, W.PHASES])
def test_bias_gradient_into_out_arrays_on_the_fused_paths(path):
    """``out=`` targets holding garbage: the fused sums overwrite the bias target."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 12, 12)).astype(np.float32)
    kw = dict(stride=2, padding=1) if path == W.PHASES else dict(padding=1)
    w = rng.standard_normal((6, 4, 4, 4)).astype(np.float32)
    gy = rng.standard_normal(cyconv.conv2d(x, w, **kw).shape).astype(np.float32)
    outs = (np.full(x.shape, np.nan, np.float32), np.full(w.shape, np.nan, np.float32),
            np.full(6, np.nan, np.float32))
    with cyconv.forced_paths(grad_weight=path):
        g = cyconv.conv2d_backward(gy, x, w, out=outs, **kw)
    assert g.grad_bias is outs[2]
    np.testing.assert_array_equal(
        g.grad_bias, cyconv.conv2d_backward(gy, x, w, need=("bias",), **kw).grad_bias)


@pytest.mark.parametrize("shape", [(1, 1, 1000, 1000), (1, 1, 10**6), (2, 2, 600, 700)])
def test_float32_bias_gradient_of_long_one_sign_planes_within_the_contract(shape):
    """Each plane is summed in double lanes: float lanes lost 6e-4 of a 10^6-element plane of
    0.1s (300x the contract's 2e-6 of sum|terms|), alone and fused into every
    weight-gradient pass that takes the plane sums."""
    gy = np.full(shape, 0.1, np.float32)
    gy[..., ::7] = 1 / 3
    x = np.ones(shape, np.float32)
    w = np.ones((shape[1], shape[1]) + (1,) * (len(shape) - 2), np.float32)
    backward = _conv_backward(x)
    exact = gy.astype(np.float64).sum(axis=(0,) + tuple(range(2, gy.ndim)))
    got = [backward(gy, x, w, need=("bias",)).grad_bias]
    for path in (W.PADDED_WIDE, W.IM2COL):
        with cyconv.forced_paths(grad_weight=path):
            got.append(backward(gy, x, w, need=("weight", "bias")).grad_bias)
    for g in got:
        np.testing.assert_array_less(np.abs(g - exact), 2e-6 * exact)
        np.testing.assert_array_equal(g, got[0])
