"""padding_mode ('zeros', 'reflect', 'replicate', 'circular') of conv1d/2d/3d, their
gradients and the nn conv layers: against PyTorch's nn.ConvNd(padding_mode=...), against
cyconv.reference (NumPy's pad modes, an independent fold of the gradient) and finite
differences; PyTorch's limits on the padding as clear errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
from cyconv import nn
from cyconv import reference as ref

from support.helpers import DTYPES, assert_close, assert_gradients_match_finite_differences

MODES = ("reflect", "replicate", "circular")
# float32 tolerance against float64 results: sums of up to a few hundred products of O(1)
TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _case(rng, ndim, mode, dtype, *, size=None, stride=1, dilation=1, groups=1, k=3,
          padding=None, batch=2, c_in=4, c_out=6):
    size = size or (7, 6, 5)[:ndim]
    x = rng.standard_normal((batch, c_in) + tuple(size)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + (k,) * ndim).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    kw = dict(stride=stride, dilation=dilation, groups=groups,
              padding=(k - 1) * dilation // 2 if padding is None else padding,
              padding_mode=mode)
    return x, w, b, kw


def _ops(ndim, module=cyconv):
    return getattr(module, f"conv{ndim}d"), getattr(module, f"conv{ndim}d_backward")


GEOMETRIES = [dict(), dict(stride=2), dict(dilation=2), dict(groups=2),
              dict(k=2, padding="same"), dict(padding=((2, 0),) * 3),
              dict(size=(3, 3, 3), padding=2, k=5), dict(batch=0)]
# a single element can be replicated or wrapped, not reflected (an error, tested below)
SINGLE = dict(size=(1, 1, 1), padding=1, k=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("mode,geometry", [(m, g) for m in MODES for g in GEOMETRIES]
                         + [("replicate", SINGLE), ("circular", SINGLE)])
def test_matches_the_reference_forward_and_backward(ndim, mode, dtype, geometry):
    geometry = dict(geometry)
    if isinstance(geometry.get("padding"), tuple):
        geometry["padding"] = geometry["padding"][:ndim]
    if "size" in geometry:
        geometry["size"] = geometry["size"][:ndim]
    rng = np.random.default_rng(ndim)
    x, w, b, kw = _case(rng, ndim, mode, dtype, **geometry)
    fwd, bwd = _ops(ndim)
    rfwd, rbwd = _ops(ndim, ref)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    want = rfwd(x64, w64, b64, **kw)
    assert_close(fwd(x, w, b, **kw), want,
                 rfwd(np.abs(x64), np.abs(w64), np.abs(b64), **kw), dtype, "forward")
    gy = rng.standard_normal(want.shape)
    got = bwd(gy.astype(dtype), x, w, **kw)
    expected = rbwd(gy, x64, w64, **kw)
    bound = rbwd(np.abs(gy), np.abs(x64), np.abs(w64), **kw)
    for name in ("grad_input", "grad_weight", "grad_bias"):
        assert_close(getattr(got, name), getattr(expected, name), getattr(bound, name), dtype,
                     name)


@given(data=st.data())
def test_matches_torch_layers_on_random_configurations(data):
    torch = pytest.importorskip("torch")
    ndim = data.draw(st.integers(1, 3), "ndim")
    mode = data.draw(st.sampled_from(MODES), "mode")
    dtype = data.draw(st.sampled_from(DTYPES), "dtype")
    groups = data.draw(st.sampled_from([1, 2]), "groups")
    k = data.draw(st.integers(1, 4), "k")
    stride = data.draw(st.integers(1, 3), "stride")
    dilation = data.draw(st.integers(1, 2), "dilation")
    size = tuple(data.draw(st.integers(max(1, (k - 1) * dilation), 9), "size")
                 for _ in range(ndim))
    limit = min(size) - 1 if mode == "reflect" else min(size)
    padding = data.draw(st.integers(0, max(0, min(limit, 3))), "padding")
    if any(s + 2 * padding < (k - 1) * dilation + 1 for s in size):
        return  # no output: torch and cyconv both refuse it (tested elsewhere)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    x, w, b, kw = _case(rng, ndim, mode, dtype, size=size, stride=stride, dilation=dilation,
                        groups=groups, k=k, padding=padding, batch=2, c_in=2, c_out=4)
    layer = getattr(torch.nn, f"Conv{ndim}d")(2, 4, k, stride=stride, padding=padding,
                                              dilation=dilation, groups=groups,
                                              padding_mode=mode).to(getattr(torch, dtype.__name__))
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    tx = torch.from_numpy(x).requires_grad_()
    ty = layer(tx)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.from_numpy(gy))
    fwd, bwd = _ops(ndim)
    np.testing.assert_allclose(fwd(x, w, b, **kw), ty.detach().numpy(), **TOL[dtype])
    grads = bwd(gy, x, w, **kw)
    np.testing.assert_allclose(grads.grad_input, tx.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(grads.grad_weight, layer.weight.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(grads.grad_bias, layer.bias.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gradients_match_finite_differences(ndim, mode):
    rng = np.random.default_rng(7)
    x, w, b, kw = _case(rng, ndim, mode, np.float64, size=(5, 4, 3)[:ndim], stride=2,
                        padding=2 if mode != "reflect" else 2)
    fwd, bwd = _ops(ndim)
    gy = rng.standard_normal(fwd(x, w, b, **kw).shape)
    assert_gradients_match_finite_differences(
        lambda x, w, b: fwd(x, w, b, **kw), bwd(gy, x, w, **kw), x, w, b, gy, rng)


@pytest.mark.parametrize("mode", MODES)
def test_every_algorithm_and_thread_count_gives_the_same_padding(mode):
    rng = np.random.default_rng(3)
    x, w, b, kw = _case(rng, 2, mode, np.float64, size=(9, 11), c_in=8, c_out=8)
    results = []
    for algorithm in ("direct", "im2col", "implicit"):
        for threads in (1, 2):
            y = cyconv.conv2d(x, w, b, algorithm=algorithm, num_threads=threads, **kw)
            g = cyconv.conv2d_backward(np.ones_like(y), x, w, algorithm=algorithm,
                                       num_threads=threads, **kw)
            results.append((algorithm, threads, y, g.grad_input))
    for algorithm, threads, y, gx in results[1:]:
        np.testing.assert_allclose(y, results[0][2], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gx, results[0][3], rtol=1e-12, atol=1e-12)
        if algorithm == results[0][0]:
            np.testing.assert_array_equal(y, results[0][2])  # bitwise across threads
            np.testing.assert_array_equal(gx, results[0][3])


def test_zeros_is_the_default_and_the_usual_padding():
    rng = np.random.default_rng(0)
    x, w, b, kw = _case(rng, 2, "zeros", np.float32)
    np.testing.assert_array_equal(cyconv.conv2d(x, w, b, **kw),
                                  cyconv.conv2d(x, w, b, padding=kw["padding"]))


@pytest.mark.parametrize("mode", MODES)
def test_unbatched_and_array_like_inputs(mode):
    rng = np.random.default_rng(5)
    x, w, b, kw = _case(rng, 2, mode, np.float64, batch=1)
    y = cyconv.conv2d(x, w, b, **kw)
    np.testing.assert_array_equal(cyconv.conv2d(x[0], w, b, **kw), y[0])
    np.testing.assert_array_equal(cyconv.conv2d(x.tolist(), w.tolist(), b, **kw), y)
    gy = rng.standard_normal(y.shape)
    g = cyconv.conv2d_backward(gy, x, w, **kw)
    g1 = cyconv.conv2d_backward(gy[0], x[0], w, **kw)
    np.testing.assert_array_equal(g1.grad_input, g.grad_input[0])
    np.testing.assert_array_equal(g1.grad_weight, g.grad_weight)
    out = np.empty_like(y)
    assert cyconv.conv2d(x, w, b, out=out, **kw) is out
    np.testing.assert_array_equal(out, y)


@pytest.mark.parametrize("module", [cyconv, ref])
@pytest.mark.parametrize("mode,padding,size,message", [
    ("reflect", 3, 3, "less than"), ("reflect", 1, 1, "less than"),
    ("circular", 4, 3, "at most"), ("mirror", 1, 5, "padding_mode must be one of"),
    (None, 1, 5, "padding_mode must be one of"), ("Reflect", 1, 5, "padding_mode must be")])
def test_padding_beyond_the_modes_limits_is_a_clear_error(module, mode, padding, size, message):
    x = np.ones((1, 1, size, size))
    w = np.ones((1, 1, 1, 1))
    with pytest.raises(ValueError, match=message):
        module.conv2d(x, w, padding=padding, padding_mode=mode)
    with pytest.raises(ValueError, match=message):
        module.conv2d_backward(np.ones((1, 1, size + 2 * padding, size + 2 * padding)), x, w,
                               padding=padding, padding_mode=mode)


def test_circular_padding_as_wide_as_the_input_wraps_once():
    x = np.arange(3.0).reshape(1, 1, 3)
    w = np.ones((1, 1, 1))
    np.testing.assert_array_equal(cyconv.conv1d(x, w, padding=3, padding_mode="circular"),
                                  [[[0, 1, 2, 0, 1, 2, 0, 1, 2]]])
    np.testing.assert_array_equal(cyconv.conv1d(x, w, padding=2, padding_mode="reflect"),
                                  [[[2, 1, 0, 1, 2, 1, 0]]])
    np.testing.assert_array_equal(cyconv.conv1d(x, w, padding=2, padding_mode="replicate"),
                                  [[[0, 0, 0, 1, 2, 2, 2]]])


@pytest.mark.parametrize("mode", MODES)
def test_nn_conv_layers_take_a_padding_mode(mode):
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode, dtype=np.float64, rng=1)
    twin = torch.nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode).double()
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight))
        twin.bias.copy_(torch.from_numpy(layer.bias))
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 7))
    tx = torch.from_numpy(x).requires_grad_()
    ty = twin(tx)
    np.testing.assert_allclose(layer.forward(x), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = np.random.default_rng(3).standard_normal(tuple(ty.shape))
    ty.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(layer.backward(gy), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads()["weight"], twin.weight.grad.numpy(), rtol=1e-10,
                               atol=1e-10)
    assert f"padding_mode={mode!r}" in repr(layer)
    reference_layer = nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode, dtype=np.float64, rng=1,
                                ops=ref)
    np.testing.assert_allclose(reference_layer.forward(x), ty.detach().numpy(), rtol=1e-10,
                               atol=1e-10)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv1d(3, 5, 3, padding_mode="symmetric")
