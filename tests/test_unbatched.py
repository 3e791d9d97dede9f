"""Unbatched inputs (C, *spatial), as PyTorch takes them: every 1-D/2-D/3-D op, compiled and
reference, forward and backward, equals the batched call's [0] (gradients of the weight and
bias equal the batched ones)."""
import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from support.ops import CASES, OPS

NDIM_OPS = [name for name in OPS if any(f"{d}d" in name for d in "123")]


def _ndim(name):
    return next(int(d) for d in "123" if f"{d}d" in name)


@pytest.mark.parametrize("module", [cyconv, ref], ids=["cyconv", "reference"])
@pytest.mark.parametrize("name", NDIM_OPS)
def test_unbatched_call_is_the_batched_call_of_one(name, module):
    args, kwargs = CASES[name](np.float64, np.random.default_rng(0))
    ndim = _ndim(name)

    def first(a):
        return a[:1] if isinstance(a, np.ndarray) and a.ndim == ndim + 2 else a

    # the batch of one: every batched array cut to its first image (weights are not batched)
    arg_names = list(__import__("inspect").signature(getattr(module, name)).parameters)
    batched = dict(zip(arg_names, args), **kwargs)
    for key in ("x", "grad_output", "indices"):
        if key in batched:
            batched[key] = first(batched[key])
    if "indices" in batched and batched["indices"] is not None:
        # indices of the first image's forward, so both calls route the same way
        batched.pop("indices")
    unbatched = {k: (v[0] if k in ("x", "grad_output") and isinstance(v, np.ndarray) else v)
                 for k, v in batched.items()}
    want = getattr(module, name)(**batched)
    got = getattr(module, name)(**unbatched)
    if isinstance(want, cyconv.ConvGrads):
        np.testing.assert_array_equal(got.grad_input, want.grad_input[0])
        for g, w in zip(got[1:], want[1:]):
            np.testing.assert_array_equal(g, w)
    elif isinstance(want, tuple):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w[0])
    else:
        assert got.shape == want.shape[1:]
        np.testing.assert_array_equal(got, want[0])


def test_unbatched_out_is_written_and_returned():
    x = np.random.default_rng(0).standard_normal((3, 8, 8))
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    out = np.full((4, 6, 6), np.nan)
    assert cyconv.conv2d(x, w, out=out) is out
    np.testing.assert_array_equal(out, cyconv.conv2d(x[None], w)[0])


def test_max_pool_indices_of_an_unbatched_call_route_its_backward():
    x = np.random.default_rng(2).standard_normal((3, 9, 9))
    y, indices = cyconv.max_pool2d(x, 3, 2, return_indices=True)
    assert y.shape == indices.shape == (3, 4, 4)
    gy = np.ones_like(y)
    np.testing.assert_array_equal(cyconv.max_pool2d_backward(gy, x, 3, 2, indices=indices),
                                  cyconv.max_pool2d_backward(gy, x, 3, 2))
