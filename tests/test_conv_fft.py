"""algorithm='fft': the FFT convolution (any kernel, 1-3 spatial dims, groups, stride by
decimation, dilation, every padding form and mode, flip), forward and both gradients, against
cyconv.reference within its normwise bound (README, accuracy contract), against SciPy's
fftconvolve, finite differences, and bitwise for any thread count."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
from cyconv import reference as ref

from support import sweep
from support.helpers import DTYPES, assert_gradients_match_finite_differences


def _check(ndim, dtype, x, w, b, gy, **kw):
    fwd, bwd = getattr(cyconv, f"conv{ndim}d"), getattr(cyconv, f"conv{ndim}d_backward")
    rfwd, rbwd = getattr(ref, f"conv{ndim}d"), getattr(ref, f"conv{ndim}d_backward")
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    b64 = None if b is None else b.astype(np.float64)
    y = fwd(x, w, b, algorithm="fft", **kw)
    grads = bwd(gy, x, w, algorithm="fft", **kw)
    want, wgrads = rfwd(x64, w64, b64, **kw), rbwd(gy64, x64, w64, **kw)
    size = 8 * max(np.prod(a.shape[2:]) for a in (x, w, gy))
    contracted = max(x.shape[:2] + w.shape[:2])
    nx, nw, ng = (sweep.plane_norm(a) for a in (x64, w64, gy64))
    bias_part = 0 if b is None else np.abs(b64).max() * np.finfo(dtype).eps
    for what, got, expected, bound in (
            ("forward", y, want, sweep.fft_bound(dtype, size, contracted, nx, nw) + bias_part),
            ("grad_input", grads.grad_input, wgrads.grad_input,
             sweep.fft_bound(dtype, size, contracted, ng, nw)),
            ("grad_weight", grads.grad_weight, wgrads.grad_weight,
             sweep.fft_bound(dtype, size, contracted, ng, nx))):
        sweep.close_normwise(got, expected, dtype, what, bound)
    np.testing.assert_allclose(grads.grad_bias, wgrads.grad_bias, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("kw", [
    dict(), dict(padding="same"), dict(stride=2, padding=((3, 0),) * 3), dict(dilation=2),
    dict(groups=2, flip=True, padding="full"), dict(stride=3, dilation=2, padding=4),
    dict(padding=1, padding_mode="circular"), dict(k=1), dict(k=7, padding=3),
    dict(size=1, k=1), dict(batch=0)])
def test_matches_the_reference(ndim, dtype, kw):
    kw = dict(kw)
    k, size, batch = kw.pop("k", 3), kw.pop("size", None), kw.pop("batch", 2)
    if isinstance(kw.get("padding"), tuple):
        kw["padding"] = kw["padding"][:ndim]
    rng = np.random.default_rng(ndim)
    spatial = (size,) * ndim if size else (13, 11, 9)[:ndim]
    groups = kw.get("groups", 1)
    x = rng.standard_normal((batch, 4) + spatial).astype(dtype)
    w = rng.standard_normal((6, 4 // groups) + (k,) * ndim).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    y = ref.__dict__[f"conv{ndim}d"](x.astype(np.float64), w.astype(np.float64), **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    _check(ndim, dtype, x, w, b, gy, **kw)


@given(data=st.data())
def test_random_configurations(data):
    ndim = data.draw(st.integers(1, 3), "ndim")
    dtype = data.draw(st.sampled_from(DTYPES), "dtype")
    groups = data.draw(st.sampled_from([1, 2, 3]), "groups")
    k = tuple(data.draw(st.integers(1, 6), "k") for _ in range(ndim))
    dilation = tuple(data.draw(st.integers(1, 3), "dilation") for _ in range(ndim))
    stride = tuple(data.draw(st.integers(1, 4), "stride") for _ in range(ndim))
    pads = tuple((data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4)))
                 for _ in range(ndim))
    size = tuple(max(1, (kk - 1) * d + 1 - lo - hi) + data.draw(st.integers(0, 9))
                 for kk, d, (lo, hi) in zip(k, dilation, pads))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    cig, cog = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x = rng.standard_normal((data.draw(st.integers(1, 3)), cig * groups) + size).astype(dtype)
    w = rng.standard_normal((cog * groups, cig) + k).astype(dtype)
    b = rng.standard_normal(cog * groups).astype(dtype) if data.draw(st.booleans()) else None
    kw = dict(stride=stride, padding=pads, dilation=dilation, groups=groups,
              flip=data.draw(st.booleans()))
    y = getattr(ref, f"conv{ndim}d")(x.astype(np.float64), w.astype(np.float64), **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    _check(ndim, dtype, x, w, b, gy, **kw)


def test_matches_scipy_fftconvolve_on_an_image():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(0)
    image, kernel = rng.standard_normal((96, 80)), rng.standard_normal((15, 15))
    y = cyconv.conv2d(image[None, None], kernel[None, None], padding=7, flip=True,
                      algorithm="fft")[0, 0]
    np.testing.assert_allclose(y, signal.fftconvolve(image, kernel, mode="same"), atol=1e-11)
    line, taps = rng.standard_normal(1000), rng.standard_normal(101)
    y1 = cyconv.conv1d(line[None, None], taps[None, None], padding="full", flip=True,
                       algorithm="fft")[0, 0]
    np.testing.assert_allclose(y1, signal.fftconvolve(line, taps), atol=1e-11)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gradients_match_finite_differences(ndim):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4) + (7, 6, 5)[:ndim])
    w = rng.standard_normal((4, 2) + (3,) * ndim)
    b = rng.standard_normal(4)
    kw = dict(stride=2, padding=2, dilation=2, groups=2, algorithm="fft")
    fwd, bwd = getattr(cyconv, f"conv{ndim}d"), getattr(cyconv, f"conv{ndim}d_backward")
    gy = rng.standard_normal(fwd(x, w, b, **kw).shape)
    assert_gradients_match_finite_differences(lambda x, w, b: fwd(x, w, b, **kw),
                                              bwd(gy, x, w, **kw), x, w, b, gy, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_the_same_for_any_thread_count(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 8, 40, 36)).astype(dtype)
    w = rng.standard_normal((8, 8, 9, 9)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        y = cyconv.conv2d(x, w, padding=4, algorithm="fft", num_threads=threads)
        g = cyconv.conv2d_backward(np.ones_like(y), x, w, padding=4, algorithm="fft",
                                   num_threads=threads)
        results.append((y, g.grad_input, g.grad_weight))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_the_plan_names_the_fft_path_and_transposed_convolutions_take_it():
    x = np.ones((1, 2, 9, 9))
    w = np.ones((3, 2, 5, 5))
    plans = cyconv.plan_conv(x, w, algorithm="fft")
    assert plans.forward.path == cyconv.ForwardPath.FFT
    assert plans.backward.grad_input == cyconv.GradInputPath.FFT
    assert plans.backward.grad_weight == cyconv.GradWeightPath.FFT
    rng = np.random.default_rng(2)
    xt, wt = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 3, 4, 4))
    got = cyconv.conv_transpose2d(xt, wt, stride=2, padding=1, algorithm="fft")
    np.testing.assert_allclose(got, ref.conv_transpose2d(xt, wt, stride=2, padding=1),
                               atol=1e-12)


def test_auto_takes_ffts_for_large_kernels():
    image = np.ones((1, 1, 64, 64))
    big, small = np.ones((1, 1, 15, 15)), np.ones((1, 1, 5, 5))
    assert cyconv.plan_conv(image, big, padding=7).forward.path == cyconv.ForwardPath.FFT
    assert cyconv.plan_conv(image, big, padding=7).backward.grad_input == cyconv.GradInputPath.FFT
    assert cyconv.plan_conv(image, small, padding=2).forward.path != cyconv.ForwardPath.FFT
    # float32 2-D/3-D kernels of 200+ taps too (the normwise bound, as Winograd's), with
    # many channel pairs as well; 1-D float32 kernels never unless asked
    f32 = np.float32
    assert cyconv.plan_conv(image.astype(f32), big.astype(f32),
                            padding=7).forward.path == cyconv.ForwardPath.FFT
    many = np.ones((1, 16, 64, 64)), np.ones((16, 16, 15, 15))
    assert cyconv.plan_conv(*many, padding=7).forward.path == cyconv.ForwardPath.FFT
    line = np.ones((1, 1, 4096), f32), np.ones((1, 1, 401), f32)
    assert cyconv.plan_conv(*line, padding=200).forward.path != cyconv.ForwardPath.FFT
    assert cyconv.plan_conv(*(a.astype(np.float64) for a in line),
                            padding=200).forward.path == cyconv.ForwardPath.FFT
    # depthwise and grouped kernels stay on the direct and implicit paths
    for groups in (4, 16):
        grouped = np.ones((1, 16, 64, 64)), np.ones((16, 16 // groups, 15, 15))
        assert cyconv.plan_conv(*grouped, padding=7, groups=groups).forward.path != \
            cyconv.ForwardPath.FFT
    # strided, or a 1-D float64 kernel with many channel pairs: the direct paths
    assert cyconv.plan_conv(image, big, padding=7, stride=2).forward.path != cyconv.ForwardPath.FFT
    pairs_1d = np.ones((1, 16, 4096)), np.ones((16, 16, 401))
    assert cyconv.plan_conv(*pairs_1d, padding=200).forward.path != cyconv.ForwardPath.FFT
    np.testing.assert_allclose(cyconv.conv2d(image, big, padding=7),
                               ref.conv2d(image, big, padding=7), atol=1e-11)


def test_scipy_is_imported_at_the_first_fft_not_with_cyconv():
    """SciPy (half of import cyconv's time, and an OpenBLAS whose threads spin) loads only
    when an FFT path first runs."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, cyconv\n"
            "assert 'scipy' not in sys.modules\n"
            "x = np.ones((1, 1, 8, 8)); w = np.ones((1, 1, 3, 3))\n"
            "cyconv.conv2d(x, w, algorithm='fft')\n"
            "import importlib.util\n"
            "have = importlib.util.find_spec('scipy') is not None\n"
            "assert ('scipy.fft' in sys.modules) == have\n")
    subprocess.run([sys.executable, "-c", code], check=True)
