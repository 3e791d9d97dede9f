"""The kernels on 1-D and 3-D convolutions (conv1d/conv3d and their backward) against the
NumPy reference for every algorithm, finite differences, and the signal-processing identities
(``flip=True`` is true convolution: numpy.convolve, scipy.signal.convolve/convolve2d;
``flip=False`` is scipy.signal.correlate) on every algorithm of the kernels.

tests/test_reference_conv.py checks the reference itself against torch and SciPy; here the
reference is the oracle.
"""
import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from support.helpers import assert_close, assert_gradients_match_finite_differences, scipy_same_pads

ALGORITHMS = ["auto", "direct", "im2col", "implicit"]
OPS = {1: (cyconv.conv1d, cyconv.conv1d_backward, ref.conv1d, ref.conv1d_backward),
       2: (cyconv.conv2d, cyconv.conv2d_backward, ref.conv2d, ref.conv2d_backward),
       3: (cyconv.conv3d, cyconv.conv3d_backward, ref.conv3d, ref.conv3d_backward)}



def _case(*values, id):
    return pytest.param(values, id=id)


# (N, C_in, spatial, C_out, kernel, stride, padding, dilation, groups, bias)
CASES = [
    _case(2, 3, (17,), 5, (3,), 1, 1, 1, 1, True, id="1d-basic"),
    _case(3, 4, (20,), 6, (4,), 1, "same", 1, 1, True, id="1d-same-even"),
    _case(2, 4, (19,), 4, (3,), 2, ((2, 1),), 2, 2, False, id="1d-pairs-stride-dil-groups"),
    _case(1, 6, (16,), 6, (5,), 1, "causal", 2, 6, True, id="1d-causal-depthwise"),
    _case(2, 3, (9,), 2, (4,), 1, "full", 1, 1, False, id="1d-full"),
    _case(2, 8, (15,), 12, (3,), 3, "same", 1, 4, True, id="1d-same-stride3"),
    _case(2, 40, (33,), 70, (5,), 1, 2, 1, 1, True, id="1d-deep"),
    _case(1, 12, (64,), 20, (3,), 1, "causal", 1, 1, False, id="1d-causal-rows-of-8"),
    _case(2, 9, (30,), 9, (7,), 4, ((0, 5),), 3, 3, True, id="1d-stride>kernel-span"),
    _case(2, 3, (5, 6, 7), 4, (3, 3, 3), 1, 1, 1, 1, True, id="3d-basic"),
    _case(1, 4, (6, 5, 8), 6, (2, 2, 2), 1, "same", 1, 2, False, id="3d-same-even-groups"),
    _case(2, 4, (7, 6, 5), 4, (3, 2, 3), (2, 1, 2), ((1, 0), (0, 2), (1, 1)), 1, 4, True,
                 id="3d-depthwise-pairs-stride"),
    _case(1, 2, (5, 5, 5), 3, (2, 3, 2), 1, "full", (2, 1, 1), 1, True, id="3d-full-dilated"),
    _case(1, 16, (6, 6, 7), 33, (3, 3, 3), 1, 1, 1, 1, True, id="3d-deep"),
    _case(2, 3, (9, 8, 10), 5, (3, 3, 3), (2, 2, 3), "same", 1, 1, False, id="3d-same-strided"),
    _case(1, 32, (4, 5, 14), 16, (3, 3, 3), 1, 1, 1, 1, True, id="3d-rows-of-14"),
]


def _data(n, c_in, spatial, c_out, kernel, stride, padding, dilation, groups, bias, *, dtype,
          seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + spatial).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, b, kw


def _f64(*arrays):
    return tuple(None if a is None else a.astype(np.float64) for a in arrays)


def _abs(*arrays):
    return tuple(None if a is None else np.abs(a) for a in arrays)


# flip only reverses the weight before the same kernels run: one flip setting per dtype
# keeps the grid affordable (tests/test_conv.py crosses them on 2-D)
@pytest.mark.parametrize("dtype, flip", [(np.float32, False), (np.float64, True)],
                         ids=["f32-xcorr", "f64-flip"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", CASES)
def test_forward_and_backward_match_reference(case, flip, algorithm, dtype):
    args = list(case)
    ndim = len(args[2])
    fwd, bwd, ref_fwd, ref_bwd = OPS[ndim]
    x, w, b, kw = _data(*args, dtype=dtype)
    y = fwd(x, w, b, flip=flip, algorithm=algorithm, **kw)
    x64, w64, b64 = _f64(x, w, b)
    assert_close(y, ref_fwd(x64, w64, b64, flip=flip, **kw),
                 ref_fwd(*_abs(x64, w64, b64), flip=flip, **kw), dtype, "y")
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = bwd(gy, x, w, flip=flip, algorithm=algorithm, **kw)
    gy64, = _f64(gy)
    expected = ref_bwd(gy64, x64, w64, flip=flip, **kw)
    bound = ref_bwd(*_abs(gy64, x64, w64), flip=flip, **kw)
    for name in ("grad_input", "grad_weight", "grad_bias"):
        assert_close(getattr(grads, name), getattr(expected, name), getattr(bound, name), dtype,
                     name)


@pytest.mark.parametrize("algorithm", ALGORITHMS[1:])
@pytest.mark.parametrize("case", [CASES[2], CASES[3], CASES[11], CASES[12]])
def test_gradients_finite_differences(case, algorithm):
    """Directional derivatives of <grad_output, conv(x, w, b)> match the kernels' gradients."""
    args = list(case)
    args[-1] = True  # with bias
    fwd, bwd = OPS[len(args[2])][:2]
    x, w, b, kw = _data(*args, dtype=np.float64, seed=3)
    rng = np.random.default_rng(4)
    gy = rng.standard_normal(fwd(x, w, b, **kw).shape)
    grads = bwd(gy, x, w, algorithm=algorithm, flip=True, **kw)

    assert_gradients_match_finite_differences(
        lambda x, w, b: fwd(x, w, b, algorithm=algorithm, flip=True, **kw), grads, x, w, b, gy, rng)


@pytest.mark.parametrize("ndim", [1, 3])
def test_results_identical_for_any_thread_count(ndim):
    case = CASES[6] if ndim == 1 else CASES[13]
    fwd, bwd = OPS[ndim][:2]
    x, w, b, kw = _data(*case.values[0], dtype=np.float32)
    gy = np.random.default_rng(2).standard_normal(fwd(x, w, b, **kw).shape).astype(np.float32)
    for algorithm in ALGORITHMS[1:]:
        outs = []
        for n in (1, 2, 3):
            y = fwd(x, w, b, algorithm=algorithm, num_threads=n, **kw)
            outs.append((y, *bwd(gy, x, w, algorithm=algorithm, num_threads=n, **kw)))
        for other in outs[1:]:
            for a, b_ in zip(outs[0], other):
                np.testing.assert_array_equal(a, b_)


# --------------------------------------------------------------------------------------------
# Signal-processing identities, on the kernels (every algorithm)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signal():
    return pytest.importorskip("scipy.signal")


def _single(fn, data, k, algorithm, **kw):
    """One channel, one image through the kernels: (shape) -> (out shape)."""
    return fn(data[None, None], k[None, None], algorithm=algorithm, **kw)[0, 0]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_conv1d_flip_equals_numpy_convolve(k, mode, algorithm):
    rng = np.random.default_rng(k)
    sig, ker = rng.standard_normal(29), rng.standard_normal(k)
    expected = np.convolve(sig, ker, mode=mode)
    if mode == "same" and k % 2 == 0:
        ours = _single(cyconv.conv1d, sig, ker, algorithm, flip=True, padding="same")
        assert ours.shape == expected.shape and not np.allclose(ours, expected)
        # numpy/SciPy put an even kernel's extra pad at the start: per-side pairs reproduce it
        ours = _single(cyconv.conv1d, sig, ker, algorithm, flip=True,
                       padding=scipy_same_pads((k,)))
    else:
        ours = _single(cyconv.conv1d, sig, ker, algorithm, flip=True, padding=mode)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    # causal: the first len(sig) outputs of the full convolution
    np.testing.assert_allclose(
        _single(cyconv.conv1d, sig, ker, algorithm, flip=True, padding="causal"),
        np.convolve(sig, ker)[:sig.size], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
@pytest.mark.parametrize("kshape", [(1, 1), (3, 3), (5, 3), (2, 2), (4, 2), (2, 5)],
                         ids=lambda k: "x".join(map(str, k)))
def test_conv2d_equals_scipy_convolve2d_and_correlate(signal, kshape, mode, algorithm):
    rng = np.random.default_rng(0)
    img, k = rng.standard_normal((9, 16)), rng.standard_normal(kshape)
    even = any(s % 2 == 0 for s in kshape)
    pad = scipy_same_pads(kshape) if mode == "same" and even else mode
    np.testing.assert_allclose(_single(cyconv.conv2d, img, k, algorithm, flip=True, padding=pad),
                               signal.convolve2d(img, k, mode=mode), rtol=1e-12, atol=1e-12)
    # the N-d correlate pads like convolve (extra element first)
    np.testing.assert_allclose(
        _single(cyconv.conv2d, img, k, algorithm, padding=pad),
        signal.correlate(img, k, mode=mode, method="direct"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("mode", ["valid", "full", "same"])
@pytest.mark.parametrize("kshape", [(1, 1, 1), (3, 3, 3), (3, 1, 5), (2, 3, 2), (2, 2, 4)],
                         ids=lambda k: "x".join(map(str, k)))
def test_conv3d_equals_scipy_convolve_and_correlate(signal, kshape, mode, algorithm):
    rng = np.random.default_rng(3)
    vol, k = rng.standard_normal((6, 7, 9)), rng.standard_normal(kshape)
    even = any(s % 2 == 0 for s in kshape)
    pad = scipy_same_pads(kshape) if mode == "same" and even else mode
    for flip, fn in ((True, signal.convolve), (False, signal.correlate)):
        np.testing.assert_allclose(_single(cyconv.conv3d, vol, k, algorithm, flip=flip,
                                           padding=pad),
                                   fn(vol, k, mode=mode, method="direct"), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_multichannel_flip_is_a_sum_of_scipy_convolutions(signal, ndim, algorithm):
    """Batch, channels and groups are bookkeeping around the single-channel identity."""
    spatial = {1: (23,), 2: (8, 9), 3: (5, 6, 7)}[ndim]
    kernel = {1: (4,), 2: (3, 2), 3: (2, 3, 2)}[ndim]
    x, w, b, kw = _data(2, 6, spatial, 4, kernel, 1, "valid", 1, 2, True, dtype=np.float64,
                        seed=6)
    y = OPS[ndim][0](x, w, b, flip=True, algorithm=algorithm, **kw)
    for n in range(2):
        for o in range(4):
            g = o // 2
            expected = b[o] + sum(signal.convolve(x[n, g * 3 + c], w[o, c], mode="valid",
                                                  method="direct") for c in range(3))
            np.testing.assert_allclose(y[n, o], expected, rtol=1e-12, atol=1e-12)


def test_conv1d_causal_output_depends_only_on_the_past():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 40))
    w = rng.standard_normal((4, 3, 3))
    y = cyconv.conv1d(x, w, padding="causal", dilation=2)
    x2 = x.copy()
    x2[..., 25:] = rng.standard_normal(x2[..., 25:].shape)
    y2 = cyconv.conv1d(x2, w, padding="causal", dilation=2)
    assert y.shape == x.shape[:1] + (4, 40)
    np.testing.assert_array_equal(y[..., :25], y2[..., :25])
    assert not np.allclose(y[..., 25:], y2[..., 25:])


@pytest.mark.parametrize("ndim", [1, 3])
def test_validation_names_the_dimensionality(ndim):
    fwd, bwd = OPS[ndim][:2]
    x = np.ones((2, 4) + (6,) * ndim, np.float32)
    w = np.ones((3, 4) + (3,) * ndim, np.float32)
    with pytest.raises(ValueError, match=f"x must be {ndim + 2}-D"):
        fwd(x[0, 0], w)
    with pytest.raises(ValueError, match=f"stride must be an int or a sequence of {ndim}"):
        fwd(x, w, stride=(1,) * (ndim + 1))
    if ndim == 3:
        with pytest.raises(ValueError, match="causal"):
            fwd(x, w, padding="causal")
    with pytest.raises(ValueError, match="grad_output must have shape"):
        bwd(np.ones((2, 3) + (5,) * ndim, np.float32), x, w)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_benchmark_numpy_competitor_matches_reference(ndim):
    """The sliding_window_view competitor of `python -m cyconv bench` computes the same op."""
    from cyconv import _bench
    rng = np.random.default_rng(8)
    spatial = {1: (20,), 2: (9, 8), 3: (5, 6, 4)}[ndim]
    x, w = rng.standard_normal((2, 4) + spatial), rng.standard_normal((6, 2) + (3,) * ndim)
    kw = dict(stride=2, padding=1, dilation=2, groups=2)
    _, _, ref_fwd, ref_bwd = OPS[ndim]
    y = _bench.numpy_conv(x, w, **kw)
    np.testing.assert_allclose(y, ref_fwd(x, w, **kw), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    for ours, expected in zip(_bench.numpy_conv_backward(gy, x, w, **kw), ref_bwd(gy, x, w, **kw)):
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
