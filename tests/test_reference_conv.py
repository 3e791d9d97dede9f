"""The NumPy reference convolution (``cyconv.reference``) against independent oracles.

PyTorch (forward and autograd) is the oracle for the deep-learning semantics, SciPy and
``numpy.convolve`` for the signal-processing ones (``flip=True`` is true convolution), and
central finite differences check the backward without trusting any other library. Tolerances
are relative to the magnitude of the sum of |terms|, as in the accuracy contract of DESIGN.md:
the same operation applied to |x|, |w|, |b| (or |grad_output|) bounds every rounding error.
"""
import itertools

import numpy as np
import pytest

from cyconv import _shapes, reference
from cyconv.reference import conv2d, conv2d_backward
from cyconv.reference._conv import conv1d, conv1d_backward, conv3d, conv3d_backward

DTYPES = (np.float32, np.float64)
# relative to the sum of |terms|; float64 is far tighter than the contract's 1e-10 because the
# oracles compute the same sums, only in another order
REL = {np.float32: 1e-5, np.float64: 1e-12}

CASES = [
    # (N, C_in, spatial, C_out, kernel, stride, padding, dilation, groups)
    pytest.param(2, 3, (9, 11), 5, (3, 3), 1, 1, 1, 1, id="basic"),
    pytest.param(1, 4, (8, 8), 6, (2, 2), 1, "same", 1, 1, id="same-even-kernel"),
    pytest.param(1, 2, (9, 10), 3, (4, 2), 1, "same", (2, 3), 1, id="same-even-dilated"),
    pytest.param(2, 4, (15, 13), 6, (3, 5), (3, 2), "same", 1, 2, id="same-strided"),
    pytest.param(7, 2, (10, 7), 4, (3, 2), (2, 1), 0, 1, 2, id="batch7-groups2"),
    pytest.param(3, 6, (13, 12), 6, (3, 3), 1, 1, 1, 6, id="depthwise"),
    pytest.param(3, 4, (11, 10), 8, (3, 3), 2, 1, 1, 4, id="depthwise-multiplier2"),
    pytest.param(2, 8, (12, 12), 12, (3, 3), 1, 2, 2, 4, id="dilated-groups4"),
    pytest.param(2, 5, (11, 9), 7, (2, 3), 3, ((1, 0), (2, 1)), 1, 1, id="stride>kernel-asym"),
    pytest.param(2, 3, (13, 11), 4, (2, 2), 4, 0, 1, 1, id="stride4-kernel2"),
    pytest.param(1, 3, (7, 7), 2, (5, 5), 1, "full", 1, 1, id="full"),
    pytest.param(1, 1, (5, 6), 1, (5, 6), 1, 0, 1, 1, id="kernel=input"),
    pytest.param(2, 3, (6, 17), 2, (1, 1), (1, 3), 0, 1, 1, id="1x1-strided"),
    pytest.param(7, 3, (8, 9), 5, (3, 3), 2, ((0, 2), (3, 0)), (2, 1), 1, id="asym-dilated"),
]


def _make(n, c_in, spatial, c_out, kernel, stride, padding, dilation, groups, *,
          dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + spatial).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, b, kw


def _pads(x, w, kw):
    """The per-side padding pairs the reference resolves ``kw['padding']`` to."""
    ndim = x.ndim - 2
    return _shapes.resolve_padding(kw["padding"], w.shape[2:],
                                   _shapes.normalize_tuple(kw["dilation"], ndim, "dilation"),
                                   _shapes.normalize_tuple(kw["stride"], ndim, "stride"),
                                   x.shape[2:])


def _magnitudes(gy, x, w, b, kw, flip):
    """Sums of |terms| of the forward and of each gradient (computed in float64)."""
    ax, aw, agy = (np.abs(a).astype(np.float64) for a in (x, w, gy))
    y_mag = conv2d(ax, aw, np.abs(b).astype(np.float64), flip=flip, **kw)
    g_mag = conv2d_backward(agy, ax, aw, flip=flip, **kw)
    return y_mag, g_mag


def _assert_within(actual, expected, magnitude, rel, what=""):
    assert actual.shape == expected.shape, what
    err = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
    # the tiny absolute floor covers entries whose every term is zero (all-padding windows)
    excess = err - (rel * magnitude + 1e-300)
    assert np.all(excess <= 0), (f"{what}: max error {err.max():.3g}, worst excess "
                                 f"{excess.max():.3g} over {rel:g} * sum|terms|")


# --------------------------------------------------------------------------------------------
# PyTorch as the oracle
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _torch_conv(torch, fn, x, w, b, pads, kw, flip, gy):
    """Forward and autograd gradients of ``fn`` with explicit per-side zero padding."""
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    # F.pad takes pairs for the last dim first; padding explicitly is the only way to get
    # asymmetric padding (and 'same' with stride > 1) out of torch
    flat = tuple(v for pair in reversed(pads) for v in pair)
    xp = torch.nn.functional.pad(xt, flat)
    spatial = tuple(range(2, x.ndim))
    wf = torch.flip(wt, spatial) if flip else wt
    yt = fn(xp, wf, bt, stride=kw["stride"], dilation=kw["dilation"], groups=kw["groups"])
    yt.backward(torch.tensor(gy))
    return (yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())


@pytest.mark.parametrize("flip", [False, True], ids=["xcorr", "flip"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n, c_in, spatial, c_out, kernel, stride, padding, dilation, groups",
                         CASES)
def test_conv2d_against_torch(torch, n, c_in, spatial, c_out, kernel, stride, padding, dilation,
                              groups, dtype, flip):
    x, w, b, kw = _make(n, c_in, spatial, c_out, kernel, stride, padding, dilation, groups,
                        dtype=dtype)
    y = conv2d(x, w, b, flip=flip, **kw)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    g = conv2d_backward(gy, x, w, flip=flip, **kw)
    y_t, gx_t, gw_t, gb_t = _torch_conv(torch, torch.nn.functional.conv2d, x, w, b,
                                        _pads(x, w, kw), kw, flip, gy)
    y_mag, g_mag = _magnitudes(gy, x, w, b, kw, flip)
    rel = REL[dtype]
    for ours, theirs, mag, name in ((y, y_t, y_mag, "y"),
                                    (g.grad_input, gx_t, g_mag.grad_input, "grad_input"),
                                    (g.grad_weight, gw_t, g_mag.grad_weight, "grad_weight"),
                                    (g.grad_bias, gb_t, g_mag.grad_bias, "grad_bias")):
        assert ours.dtype == dtype, name
        assert ours.flags.c_contiguous, name
        _assert_within(ours, theirs, mag, rel, name)


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("kernel, dilation", [((2, 2), 1), ((4, 3), 1), ((2, 4), (2, 1)),
                                              ((3, 3), 2)])
def test_symmetric_and_same_padding_match_torch_native(torch, kernel, dilation):
    """Our padding rules, not just our arithmetic: let torch resolve int and 'same' itself."""
    F = torch.nn.functional
    x, w, b, _ = _make(2, 3, (9, 8), 4, kernel, 1, 0, dilation, 1)
    for padding in ("same", 1, (2, 0)):
        ours = conv2d(x, w, b, padding=padding, dilation=dilation)
        theirs = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=padding,
                          dilation=dilation).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=str(padding))


@pytest.mark.parametrize("flip", [False, True], ids=["xcorr", "flip"])
@pytest.mark.parametrize("ndim, fn, bwd, case", [
    (1, conv1d, conv1d_backward, (3, 4, (17,), 6, (3,), 2, 1, 2, 2)),
    (1, conv1d, conv1d_backward, (1, 2, (10,), 3, (4,), 1, "causal", 3, 1)),
    (1, conv1d, conv1d_backward, (2, 3, (9,), 3, (2,), 1, "same", 1, 3)),
    (3, conv3d, conv3d_backward, (2, 2, (5, 6, 4), 4, (3, 2, 2), (1, 2, 1),
                                  ((1, 0), (1, 1), (0, 2)), 1, 2)),
    (3, conv3d, conv3d_backward, (1, 3, (6, 5, 7), 3, (2, 3, 2), 1, "same", (2, 1, 3), 3)),
])
def test_conv1d_conv3d_against_torch(torch, ndim, fn, bwd, case, flip):
    x, w, b, kw = _make(*case)
    y = fn(x, w, b, flip=flip, **kw)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    g = bwd(gy, x, w, flip=flip, **kw)
    tfn = {1: torch.nn.functional.conv1d, 3: torch.nn.functional.conv3d}[ndim]
    expected = _torch_conv(torch, tfn, x, w, b, _pads(x, w, kw), kw, flip, gy)
    for ours, theirs in zip((y,) + tuple(g), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-11)


# --------------------------------------------------------------------------------------------
# Finite differences (no other library trusted)
# --------------------------------------------------------------------------------------------

FD_CASES = [
    pytest.param((2, 3, (7, 6), 4, (3, 2), 1, 1, 1, 1), id="basic"),
    pytest.param((2, 4, (9, 8), 6, (3, 3), 2, ((0, 2), (1, 0)), 1, 2), id="stride-groups-asym"),
    pytest.param((1, 3, (10, 9), 3, (3, 2), 1, "same", (2, 3), 3), id="dilated-depthwise-same"),
    pytest.param((3, 2, (11, 7), 3, (2, 2), (4, 3), 0, 1, 1), id="stride>kernel"),
    pytest.param((1, 2, (6, 6), 2, (4, 3), 1, "full", 1, 1), id="full"),
]


def _loss(gy, x, w, b, kw, flip):
    """<grad_output, conv(x, w, b)>: its gradients are exactly what conv2d_backward returns."""
    return float(np.sum(gy * conv2d(x, w, b, flip=flip, **kw)))


@pytest.mark.parametrize("flip", [False, True], ids=["xcorr", "flip"])
@pytest.mark.parametrize("case", FD_CASES)
def test_backward_matches_finite_differences_in_random_directions(case, flip):
    x, w, b, kw = _make(*case, seed=2)
    rng = np.random.default_rng(3)
    gy = rng.standard_normal(conv2d(x, w, b, flip=flip, **kw).shape)
    g = conv2d_backward(gy, x, w, flip=flip, **kw)
    eps = 1e-4  # the loss is linear in each argument: central differences only see rounding
    for name, grad in (("x", g.grad_input), ("w", g.grad_weight), ("b", g.grad_bias)):
        for _ in range(3):
            args = {"x": x, "w": w, "b": b}
            v = rng.standard_normal(args[name].shape)
            plus = dict(args, **{name: args[name] + eps * v})
            minus = dict(args, **{name: args[name] - eps * v})
            numeric = (_loss(gy, **plus, kw=kw, flip=flip)
                       - _loss(gy, **minus, kw=kw, flip=flip)) / (2 * eps)
            assert numeric == pytest.approx(float(np.sum(grad * v)), rel=1e-8, abs=1e-8), name


def _numeric_gradient(f, a, eps=1e-4):
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        plus, minus = a.copy(), a.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (f(plus) - f(minus)) / (2 * eps)
    return grad


@pytest.mark.parametrize("flip", [False, True], ids=["xcorr", "flip"])
@pytest.mark.parametrize("case", [
    pytest.param((1, 2, (5, 6), 2, (3, 2), 2, ((1, 0), (0, 1)), 1, 1), id="stride-asym"),
    pytest.param((2, 2, (6, 5), 4, (2, 2), 1, 1, (2, 1), 2), id="dilated-groups"),
])
def test_backward_matches_finite_differences_elementwise(case, flip):
    x, w, b, kw = _make(*case, seed=4)
    gy = np.random.default_rng(5).standard_normal(conv2d(x, w, b, flip=flip, **kw).shape)
    g = conv2d_backward(gy, x, w, flip=flip, **kw)
    np.testing.assert_allclose(g.grad_input, _numeric_gradient(
        lambda a: _loss(gy, a, w, b, kw, flip), x), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(g.grad_weight, _numeric_gradient(
        lambda a: _loss(gy, x, a, b, kw, flip), w), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(g.grad_bias, _numeric_gradient(
        lambda a: _loss(gy, x, w, a, kw, flip), b), rtol=1e-8, atol=1e-9)


# --------------------------------------------------------------------------------------------
# SciPy / NumPy: flip=True is true convolution, flip=False cross-correlation
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signal():
    return pytest.importorskip("scipy.signal")


def _scipy_same_pads(kernel):
    """Per-side pairs that reproduce SciPy's convolve 'same': an even kernel's extra pad first."""
    return tuple((k // 2, (k - 1) // 2) for k in kernel)


KSHAPES_2D = [(1, 1), (3, 3), (5, 3), (2, 2), (4, 2), (2, 5), (4, 4)]


@pytest.mark.parametrize("kshape", KSHAPES_2D, ids=lambda k: "x".join(map(str, k)))
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_flip_equals_scipy_convolve2d(signal, kshape, mode):
    rng = np.random.default_rng(0)
    img, k = rng.standard_normal((9, 11)), rng.standard_normal(kshape)
    expected = signal.convolve2d(img, k, mode=mode)
    ours = conv2d(img[None, None], k[None, None], flip=True, padding=mode)[0, 0]
    even = any(s % 2 == 0 for s in kshape)
    if mode == "same" and even:
        # DESIGN: our 'same' (PyTorch's rule) puts the extra pad at the end, SciPy at the start
        assert ours.shape == expected.shape
        assert not np.allclose(ours, expected)
        ours = conv2d(img[None, None], k[None, None], flip=True,
                      padding=_scipy_same_pads(kshape))[0, 0]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kshape", KSHAPES_2D, ids=lambda k: "x".join(map(str, k)))
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_no_flip_equals_scipy_correlate2d(signal, kshape, mode):
    rng = np.random.default_rng(1)
    img, k = rng.standard_normal((10, 9)), rng.standard_normal(kshape)
    ours = conv2d(img[None, None], k[None, None], padding=mode)[0, 0]
    # correlate2d's 'same' happens to put an even kernel's extra pad at the end like ours,
    # so it matches for every kernel size (unlike convolve2d, and unlike the N-d
    # scipy.signal.correlate, see below)
    np.testing.assert_allclose(ours, signal.correlate2d(img, k, mode=mode), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("kshape", [(2, 2), (4, 3), (3, 2)])
def test_no_flip_same_vs_scipy_correlate_nd(signal, kshape):
    """scipy.signal.correlate (N-d) puts the extra pad at the start, unlike correlate2d."""
    rng = np.random.default_rng(2)
    img, k = rng.standard_normal((8, 9)), rng.standard_normal(kshape)
    expected = signal.correlate(img, k, mode="same", method="direct")
    ours = conv2d(img[None, None], k[None, None], padding="same")[0, 0]
    assert not np.allclose(ours, expected)
    ours = conv2d(img[None, None], k[None, None], padding=_scipy_same_pads(kshape))[0, 0]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_conv1d_flip_equals_numpy_convolve(k, mode):
    rng = np.random.default_rng(k)
    sig, ker = rng.standard_normal(13), rng.standard_normal(k)
    expected = np.convolve(sig, ker, mode=mode)
    ours = conv1d(sig[None, None], ker[None, None], flip=True, padding=mode)[0, 0]
    if mode == "same" and k % 2 == 0:
        assert not np.allclose(ours, expected)  # numpy's 'same' also pads the start more
        ours = conv1d(sig[None, None], ker[None, None], flip=True,
                      padding=_scipy_same_pads((k,)))[0, 0]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    # cross-correlation is convolution with the reversed kernel
    np.testing.assert_allclose(
        conv1d(sig[None, None], ker[None, None], padding="full")[0, 0],
        np.convolve(sig, ker[::-1], mode="full"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_conv1d_causal_is_the_head_of_full_convolution(k):
    rng = np.random.default_rng(k)
    sig, ker = rng.standard_normal(11), rng.standard_normal(k)
    ours = conv1d(sig[None, None], ker[None, None], flip=True, padding="causal")[0, 0]
    np.testing.assert_allclose(ours, np.convolve(sig, ker)[:sig.size], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kshape", [(1, 1, 1), (3, 3, 3), (3, 1, 5), (2, 3, 2), (2, 2, 4)],
                         ids=lambda k: "x".join(map(str, k)))
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_conv3d_equals_scipy_convolve_and_correlate(signal, kshape, mode):
    rng = np.random.default_rng(3)
    vol, k = rng.standard_normal((6, 7, 5)), rng.standard_normal(kshape)
    pad = _scipy_same_pads(kshape) if mode == "same" else mode
    for flip, fn in ((True, signal.convolve), (False, signal.correlate)):
        expected = fn(vol, k, mode=mode, method="direct")
        ours = conv3d(vol[None, None], k[None, None], flip=flip, padding=pad)[0, 0]
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    if mode == "same" and all(s % 2 for s in kshape):
        ours = conv3d(vol[None, None], k[None, None], flip=True, padding="same")[0, 0]
        np.testing.assert_allclose(ours, signal.convolve(vol, k, mode="same", method="direct"),
                                   rtol=1e-12, atol=1e-12)


def test_multichannel_is_a_sum_of_single_channel_convolutions(signal):
    """Channels, batch and groups are bookkeeping around the single-channel SciPy identity."""
    x, w, b, kw = _make(2, 4, (8, 7), 6, (3, 2), 1, "valid", 1, 2, seed=6)
    y = conv2d(x, w, b, flip=True, **kw)
    cig, cog = 2, 3
    for n, o in itertools.product(range(2), range(6)):
        g = o // cog
        expected = b[o] + sum(signal.convolve2d(x[n, g * cig + c], w[o, c], mode="valid")
                              for c in range(cig))
        np.testing.assert_allclose(y[n, o], expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Accuracy, dtypes, layout, need, immutability
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flip", [False, True], ids=["xcorr", "flip"])
@pytest.mark.parametrize("case", [
    pytest.param((2, 64, (12, 12), 16, (3, 3), 1, 1, 1, 1), id="deep-3x3"),
    pytest.param((3, 16, (15, 14), 16, (5, 5), 2, "same", 1, 16), id="depthwise-5x5"),
    pytest.param((2, 32, (11, 13), 8, (4, 3), 1, "full", (1, 2), 4), id="grouped-full"),
])
def test_float32_within_1e5_of_float64(case, flip):
    x, w, b, kw = _make(*case, dtype=np.float32, seed=7)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    y32 = conv2d(x, w, b, flip=flip, **kw)
    y64 = conv2d(x64, w64, b64, flip=flip, **kw)
    gy = np.random.default_rng(8).standard_normal(y32.shape).astype(np.float32)
    g32 = conv2d_backward(gy, x, w, flip=flip, **kw)
    g64 = conv2d_backward(gy.astype(np.float64), x64, w64, flip=flip, **kw)
    y_mag, g_mag = _magnitudes(gy, x, w, b, kw, flip)
    assert y32.dtype == np.float32 and all(a.dtype == np.float32 for a in g32)
    _assert_within(y32, y64, y_mag, 1e-5, "y")
    for name, a32, a64, mag in zip(g32._fields, g32, g64, g_mag):
        _assert_within(a32, a64, mag, 1e-5, name)


def test_non_contiguous_inputs_give_the_contiguous_answer():
    rng = np.random.default_rng(9)
    # every input a strided, reversed or transposed view
    x = rng.standard_normal((3, 9, 19, 14))[:, ::3, ::-2, 1:13]           # (3, 3, 10, 12)
    w = rng.standard_normal((3, 6, 4, 2)).transpose(1, 0, 3, 2)[:, :, ::-1, ::2]  # (6, 3, 2, 2)
    b = rng.standard_normal(12)[::2]
    kw = dict(stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), groups=1)
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    xc, wc, bc = (np.ascontiguousarray(a) for a in (x, w, b))
    for flip in (False, True):
        y = conv2d(x, w, b, flip=flip, **kw)
        np.testing.assert_array_equal(y, conv2d(xc, wc, bc, flip=flip, **kw))
        gy_big = rng.standard_normal(y.shape[:-1] + (2 * y.shape[-1],))
        gy = gy_big[..., ::2]
        g = conv2d_backward(gy, x, w, flip=flip, **kw)
        gc = conv2d_backward(np.ascontiguousarray(gy), xc, wc, flip=flip, **kw)
        for a, c in zip(g, gc):
            assert a.flags.c_contiguous
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_dtype_layout_and_inputs_unmodified(dtype):
    x, w, b, kw = _make(2, 4, (9, 8), 6, (3, 2), 2, "same", 1, 2, dtype=dtype, seed=10)
    gy = np.random.default_rng(11).standard_normal((2, 6, 5, 4)).astype(dtype)
    arrays = (x, w, b, gy)
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.flags.writeable = False  # any in-place write would raise
    y = conv2d(x, w, b, flip=True, **kw)
    assert y.shape == (2, 6, 5, 4) and y.dtype == dtype and y.flags.c_contiguous
    assert y.flags.writeable  # a fresh array, not a view of an input
    g = conv2d_backward(gy, x, w, flip=True, **kw)
    assert isinstance(g, reference.ConvGrads)
    assert [a.shape for a in g] == [x.shape, w.shape, b.shape]
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)


SUBSETS = [subset for r in range(4) for subset in itertools.combinations(
    ("input", "weight", "bias"), r)]


@pytest.mark.parametrize("need", SUBSETS + ["weight", ["bias", "input"]], ids=str)
def test_need_returns_none_for_what_is_left_out(need):
    x, w, b, kw = _make(2, 3, (7, 6), 4, (3, 3), 1, 1, 1, 1, seed=12)
    gy = np.random.default_rng(13).standard_normal((2, 4, 7, 6))
    full = conv2d_backward(gy, x, w, flip=True, **kw)
    part = conv2d_backward(gy, x, w, flip=True, need=need, **kw)
    wanted = {need} if isinstance(need, str) else set(need)
    for key, got, ref in zip(("input", "weight", "bias"), part, full):
        if key in wanted:
            np.testing.assert_array_equal(got, ref)
        else:
            assert got is None, key


def test_empty_batch_gives_empty_results_of_the_right_shape():
    x, w, b, kw = _make(0, 4, (9, 8), 6, (3, 2), 2, 1, 1, 2)
    y = conv2d(x, w, b, **kw)
    assert y.shape == (0, 6, 5, 5)
    g = conv2d_backward(np.zeros(y.shape), x, w, **kw)
    assert g.grad_input.shape == x.shape and g.grad_weight.shape == w.shape
    np.testing.assert_array_equal(g.grad_weight, 0)
    np.testing.assert_array_equal(g.grad_bias, np.zeros(6))


def test_flip_is_the_unflipped_weight_reversed():
    """flip=True on w is flip=False on w reversed, and grad_weight is w.r.t. w itself."""
    x, w, b, kw = _make(2, 4, (8, 9), 4, (3, 2), (2, 1), ((2, 0), (1, 1)), (1, 2), 2, seed=14)
    wr = np.ascontiguousarray(w[:, :, ::-1, ::-1])
    np.testing.assert_array_equal(conv2d(x, w, b, flip=True, **kw), conv2d(x, wr, b, **kw))
    gy = np.random.default_rng(15).standard_normal(conv2d(x, w, b, **kw).shape)
    gf = conv2d_backward(gy, x, w, flip=True, **kw)
    gr = conv2d_backward(gy, x, wr, **kw)
    np.testing.assert_array_equal(gf.grad_input, gr.grad_input)
    np.testing.assert_array_equal(gf.grad_weight, gr.grad_weight[:, :, ::-1, ::-1])


@pytest.mark.parametrize("call, error", [
    (lambda x, w: conv2d(x, w, flip=1), TypeError),
    (lambda x, w: conv2d(x, w.astype(np.float32)), TypeError),
    (lambda x, w: conv2d(x.astype(np.int64), w.astype(np.int64)), TypeError),
    (lambda x, w: conv2d(x, w, groups=2), ValueError),
    (lambda x, w: conv2d(x[0, 0], w), ValueError),
    (lambda x, w: conv2d_backward(np.zeros((1, 2, 4, 4)), x, w), ValueError),
    (lambda x, w: conv2d_backward(np.zeros((1, 2, 3, 3), np.float32), x, w), TypeError),
    (lambda x, w: conv2d_backward(np.zeros((1, 2, 3, 3)), x, w, need=("grad",)), ValueError),
    (lambda x, w: conv2d_backward(np.zeros((1, 2, 3, 3)), x, w, flip="yes"), TypeError),
])
def test_invalid_arguments_are_rejected(call, error):
    x, w = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3))
    with pytest.raises(error):
        call(x, w)
