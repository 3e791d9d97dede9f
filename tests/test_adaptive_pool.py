"""Adaptive and global pooling: kernels against cyconv.reference, PyTorch and finite differences."""
import numpy as np
import pytest

import cyconv
from cyconv import _shapes
from cyconv import reference as ref

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-14)}

# (x shape, output_size): divisible and non-divisible sizes, output larger than the input
# (overlapping bins), None entries, output size 1 in leading/trailing dims (the kernels merge
# trailing size-1 dims), batch 1 and 7.
CASES = [
    ((7, 3, 10), 4),
    ((1, 2, 12), 3),
    ((2, 2, 5), 8),
    ((1, 3, 23), (None,)),
    ((1, 2, 10, 13), (4, 5)),
    ((7, 2, 14, 14), 7),
    ((2, 3, 5, 3), (7, None)),
    ((1, 1, 6, 6), (None, 4)),
    ((2, 2, 3, 9), 1),
    ((1, 2, 9, 7), (1, 3)),
    ((2, 2, 9, 7), (3, 1)),
    ((2, 2, 5, 6, 7), (2, 3, 4)),
    ((1, 3, 4, 4, 4), (None, 2, 6)),
    ((7, 1, 3, 5, 2), 1),
    ((1, 2, 6, 5, 4), (4, 1, 1)),
    ((2, 1, 2, 3, 9), (3, 4, 5)),
    # bins with rows of >= 16 columns go through the vector run helpers
    ((2, 3, 70), 3),
    ((1, 2, 5, 41), (2, 2)),
]


def _id(case):
    shape, out = case
    return f"{'x'.join(map(str, shape))}-to-{out}".replace(" ", "")


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _ops(ndim, module):
    return (getattr(module, f"adaptive_avg_pool{ndim}d"),
            getattr(module, f"adaptive_avg_pool{ndim}d_backward"),
            getattr(module, f"adaptive_max_pool{ndim}d"),
            getattr(module, f"adaptive_max_pool{ndim}d_backward"))


def _expected_shape(shape, out):
    return shape[:2] + _shapes.adaptive_output_shape(shape[2:], out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_avg_matches_reference(case, dtype):
    shape, out = case
    avg, avg_b, _, _ = _ops(len(shape) - 2, cyconv)
    ravg, ravg_b, _, _ = _ops(len(shape) - 2, ref)
    x = _data(shape, dtype)
    y = avg(x, out)
    assert y.shape == _expected_shape(shape, out) and y.dtype == dtype
    np.testing.assert_allclose(y, ravg(x.astype(np.float64), out), **TOL[dtype])
    gy = _data(y.shape, dtype, seed=1)
    g = avg_b(gy, x, out)
    assert g.shape == shape and g.dtype == dtype
    np.testing.assert_allclose(g, ravg_b(gy.astype(np.float64), x.astype(np.float64), out),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_max_matches_reference_exactly(case, dtype):
    shape, out = case
    _, _, mx, mx_b = _ops(len(shape) - 2, cyconv)
    _, _, rmx, rmx_b = _ops(len(shape) - 2, ref)
    x = _data(shape, dtype)
    y, idx = mx(x, out, return_indices=True)
    yr, idxr = rmx(x, out, return_indices=True)
    assert y.dtype == dtype and idx.dtype == np.int64 and y.shape == _expected_shape(shape, out)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(idx, idxr)
    np.testing.assert_array_equal(mx(x, out), y)  # values-only path
    gy = _data(y.shape, dtype, seed=1)
    g = mx_b(gy, x, out)
    # same outputs in the same order into zeros: bitwise equal, also where bins overlap
    np.testing.assert_array_equal(g, rmx_b(gy, x, out))
    np.testing.assert_array_equal(mx_b(gy, x, out, indices=idx), g)
    np.testing.assert_array_equal(rmx_b(gy, x, out, indices=idx), g)


def test_bins_follow_pytorchs_rule():
    assert _shapes.adaptive_bins(10, 4) == ((0, 2, 5, 7), (3, 5, 8, 10))
    assert _shapes.adaptive_bins(12, 3) == ((0, 4, 8), (4, 8, 12))
    assert _shapes.adaptive_bins(3, 5) == ((0, 0, 1, 1, 2), (1, 2, 2, 3, 3))
    for size in range(1, 12):
        for out in range(1, 15):
            starts, ends = _shapes.adaptive_bins(size, out)
            assert starts[0] == 0 and ends[-1] == size
            assert all(e > s for s, e in zip(starts, ends))
            assert all(b <= a for a, b in zip(ends, starts[1:]))  # contiguous cover, overlaps ok
    assert _shapes.adaptive_output_shape((5, 6, 7), (None, 2, None)) == (5, 2, 7)
    assert _shapes.adaptive_output_shape((5, 6), 3) == (3, 3)


GLOBAL_SHAPES = [(7, 3, 11), (1, 4, 7, 7), (2, 3, 5, 1), (2, 2, 3, 4, 5), (1, 1, 1, 1, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", GLOBAL_SHAPES, ids=str)
def test_global_pooling(shape, dtype):
    x = _data(shape, dtype)
    axes = tuple(range(2, len(shape)))
    for keepdims in (False, True):
        expected_shape = shape[:2] + (1,) * len(axes) if keepdims else shape[:2]
        y = cyconv.global_avg_pool(x, keepdims=keepdims)
        assert y.shape == expected_shape and y.dtype == dtype
        np.testing.assert_allclose(y, ref.global_avg_pool(x.astype(np.float64), keepdims=keepdims),
                                   **TOL[dtype])
        np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=axes, keepdims=keepdims),
                                   **TOL[dtype])
        m, idx = cyconv.global_max_pool(x, keepdims=keepdims, return_indices=True)
        assert m.shape == idx.shape == expected_shape and idx.dtype == np.int64
        np.testing.assert_array_equal(m, x.max(axis=axes, keepdims=keepdims))
        np.testing.assert_array_equal(
            idx.reshape(shape[:2]), x.reshape(shape[:2] + (-1,)).argmax(axis=-1))
        rm, ridx = ref.global_max_pool(x, keepdims=keepdims, return_indices=True)
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(cyconv.global_max_pool(x, keepdims=keepdims), m)

        gy = _data(expected_shape, dtype, seed=1)
        g = cyconv.global_avg_pool_backward(gy, x, keepdims=keepdims)
        expect = np.broadcast_to(gy.reshape(shape[:2] + (1,) * len(axes)).astype(np.float64)
                                 / np.prod(shape[2:]), shape)
        np.testing.assert_allclose(g, expect, **TOL[dtype])
        np.testing.assert_allclose(ref.global_avg_pool_backward(gy, x, keepdims=keepdims), expect,
                                   **TOL[dtype])
        gm = cyconv.global_max_pool_backward(gy, x, keepdims=keepdims)
        np.testing.assert_array_equal(gm, ref.global_max_pool_backward(gy, x, keepdims=keepdims))
        np.testing.assert_array_equal(
            cyconv.global_max_pool_backward(gy, x, keepdims=keepdims, indices=idx), gm)
        assert gm.sum(dtype=np.float64) == pytest.approx(gy.sum(dtype=np.float64), rel=1e-6)


def _fd_check(fwd, bwd, x, rng, eps=1e-6):
    """Directional finite difference of <gy, fwd(x)> against <bwd(gy, x), v>."""
    gy = rng.standard_normal(fwd(x).shape)
    grad = bwd(gy, x)
    assert grad.shape == x.shape
    for _ in range(2):
        v = rng.standard_normal(x.shape)
        numeric = (np.sum(gy * fwd(x + eps * v)) - np.sum(gy * fwd(x - eps * v))) / (2 * eps)
        assert numeric == pytest.approx(np.sum(grad * v), rel=1e-6, abs=1e-8)


FD_CASES = [((2, 3, 11), 4), ((2, 2, 5), 7), ((1, 2, 9, 7), (4, 3)), ((2, 1, 3, 4), (5, None)),
            ((1, 2, 5, 4, 6), (2, 3, 4)), ((1, 1, 3, 2, 4), (4, 3, 2))]


@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
@pytest.mark.parametrize("case", FD_CASES, ids=_id)
def test_finite_differences(case, module):
    shape, out = case
    rng = np.random.default_rng(3)
    # distinct values, far apart compared with eps: no ties, stable maxima
    x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0
    avg, avg_b, mx, mx_b = _ops(len(shape) - 2, module)
    _fd_check(lambda a: avg(a, out), lambda g, a: avg_b(g, a, out), x, rng)
    _fd_check(lambda a: mx(a, out), lambda g, a: mx_b(g, a, out), x, rng)


@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_finite_differences(module, keepdims):
    rng = np.random.default_rng(4)
    for shape in ((2, 3, 13), (2, 2, 5, 6), (1, 2, 3, 4, 2)):
        x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0
        _fd_check(lambda a: module.global_avg_pool(a, keepdims=keepdims),
                  lambda g, a: module.global_avg_pool_backward(g, a, keepdims=keepdims), x, rng)
        _fd_check(lambda a: module.global_max_pool(a, keepdims=keepdims),
                  lambda g, a: module.global_max_pool_backward(g, a, keepdims=keepdims), x, rng)


@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_and_nan(module, dtype):
    # ties: the first maximum of each bin in row-major order
    x = np.zeros((1, 2, 6, 5), dtype)
    x[0, 1, 1, 3] = x[0, 1, 4, 0] = 2.0
    y, idx = module.adaptive_max_pool2d(x, (2, 3), return_indices=True)
    # bins: rows [0, 3), [3, 6); columns [0, 2), [1, 4), [3, 5)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1, 3], [15, 16, 18]])
    np.testing.assert_array_equal(idx[0, 1], [[0, 8, 8], [20, 16, 18]])
    np.testing.assert_array_equal(y[0, 1], [[0, 2, 2], [2, 0, 0]])
    gm, gidx = module.global_max_pool(x, return_indices=True)
    np.testing.assert_array_equal(gidx, [[0, 8]])
    # NaN: a NaN wins over any number, and of several NaNs the last
    x = np.arange(2 * 12, dtype=dtype).reshape(1, 2, 12)
    x[0, 0, [2, 5, 9]] = np.nan
    x[0, 1, 7] = np.nan
    y, idx = module.adaptive_max_pool1d(x, 3, return_indices=True)
    np.testing.assert_array_equal(idx, [[[2, 5, 9], [3, 7, 11]]])
    assert np.isnan(y[0, 0]).all() and np.isnan(y[0, 1, 1]) and y[0, 1, 0] == x[0, 1, 3]
    gm, gidx = module.global_max_pool(x, return_indices=True)
    np.testing.assert_array_equal(gidx, [[9, 7]])
    assert np.isnan(gm).all()
    assert np.isnan(module.adaptive_avg_pool1d(x, 3)[0, 0]).all()
    assert np.isnan(module.global_avg_pool(x)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [5, 8, 31, 32, 49, 200, 1000])
def test_max_rule_on_runs_of_any_length(n, dtype):
    """Global max (whole plane as one run) and wide adaptive bins with many ties, NaNs and
    zeros of both signs: the vector helpers keep the scalar rule exactly."""
    rng = np.random.default_rng(n)
    planes = 40
    x = rng.integers(-2, 3, size=(planes, n)).astype(dtype)  # many ties
    x[rng.random(x.shape) < 0.2] = -0.0
    x[5:10] = 0.0
    x[6, ::3] = -0.0
    x[11:14] = 7.0
    nan_rows = rng.random(planes) < 0.3
    x[nan_rows, rng.integers(0, n, planes)[nan_rows]] = np.nan
    x[20, [0, n // 2, n - 1]] = np.nan
    x[21, 0] = np.nan
    x = x.reshape(4, planes // 4, n)
    for module in (cyconv, ref):
        y, idx = module.global_max_pool(x, return_indices=True)
        yr, idxr = ref.global_max_pool(x, return_indices=True)
        np.testing.assert_array_equal(idx, idxr)
        np.testing.assert_array_equal(y, yr)
    flat = x.reshape(planes, n)
    for p in range(planes):  # the rule, independently of both implementations
        row = flat[p]
        expect = np.flatnonzero(np.isnan(row))[-1] if np.isnan(row).any() else np.argmax(row)
        assert idx.reshape(-1)[p] == expect
    out = max(1, n // 20)
    y, idx = cyconv.adaptive_max_pool1d(x, out, return_indices=True)
    yr, idxr = ref.adaptive_max_pool1d(x, out, return_indices=True)
    np.testing.assert_array_equal(idx, idxr)
    np.testing.assert_array_equal(y, yr)
    gy = _data(y.shape, dtype, seed=2)
    np.testing.assert_array_equal(cyconv.adaptive_max_pool1d_backward(gy, x, out),
                                  ref.adaptive_max_pool1d_backward(gy, x, out))


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_results(dtype):
    x = _data((3, 50, 17, 23), dtype, seed=4)  # 150 planes: several chunks of global pooling
    outs = []
    for n in (1, 2, 3):
        y, idx = cyconv.adaptive_max_pool2d(x, (5, 7), return_indices=True, num_threads=n)
        a = cyconv.adaptive_avg_pool2d(x, (6, 30), num_threads=n)
        g = cyconv.global_avg_pool(x, num_threads=n)
        gm, gidx = cyconv.global_max_pool(x, return_indices=True, num_threads=n)
        outs.append([y, idx, a, g, gm, gidx,
                     cyconv.global_max_pool_backward(gm, x, num_threads=n),
                     cyconv.adaptive_max_pool2d_backward(y, x, (5, 7), num_threads=n),
                     cyconv.adaptive_avg_pool2d_backward(a, x, (6, 30), num_threads=n),
                     cyconv.global_avg_pool_backward(g, x, num_threads=n)])
    for other in outs[1:]:
        for u, v in zip(outs[0], other):
            np.testing.assert_array_equal(u, v)


def test_non_contiguous_inputs_are_accepted_and_never_modified():
    base = _data((2, 6, 24, 30), np.float64, seed=5)
    x = base[:, ::2, ::2, ::-1].transpose(0, 1, 3, 2)  # (2, 3, 30, 12), no unit stride anywhere
    before = x.copy()
    out = (7, 5)
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d(x, out), ref.adaptive_avg_pool2d(x, out),
                               rtol=1e-13)
    y, idx = cyconv.adaptive_max_pool2d(x, out, return_indices=True)
    np.testing.assert_array_equal(y, ref.adaptive_max_pool2d(x, out))
    gy = _data((2, 3, 7, 10), np.float64, seed=6)[..., ::2]
    gy_before = gy.copy()
    g = cyconv.adaptive_max_pool2d_backward(gy, x, out, indices=np.asfortranarray(idx))
    np.testing.assert_array_equal(g, ref.adaptive_max_pool2d_backward(gy, x, out))
    np.testing.assert_allclose(cyconv.adaptive_avg_pool2d_backward(gy, x, out),
                               ref.adaptive_avg_pool2d_backward(gy, x, out), rtol=1e-13)
    np.testing.assert_allclose(cyconv.global_avg_pool(x), x.mean(axis=(2, 3)), rtol=1e-13)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(gy, gy_before)
    assert g.flags.c_contiguous


def test_empty_batch():
    empty = np.zeros((0, 3, 8, 6), np.float32)
    assert cyconv.adaptive_avg_pool2d(empty, (3, None)).shape == (0, 3, 3, 6)
    y, idx = cyconv.adaptive_max_pool2d(empty, 4, return_indices=True)
    assert y.shape == idx.shape == (0, 3, 4, 4) and idx.dtype == np.int64
    g0 = np.zeros((0, 3, 4, 4), np.float32)
    assert cyconv.adaptive_avg_pool2d_backward(g0, empty, 4).shape == empty.shape
    assert cyconv.adaptive_max_pool2d_backward(g0, empty, 4).shape == empty.shape
    assert cyconv.adaptive_max_pool2d_backward(g0, empty, 4, indices=idx).shape == empty.shape
    assert cyconv.global_avg_pool(empty).shape == (0, 3)
    assert cyconv.global_max_pool(empty, keepdims=True).shape == (0, 3, 1, 1)
    assert cyconv.global_avg_pool_backward(np.zeros((0, 3), np.float32), empty).shape == empty.shape
    assert cyconv.global_max_pool_backward(np.zeros((0, 3), np.float32), empty).shape == empty.shape
    assert ref.adaptive_max_pool3d(np.zeros((0, 2, 3, 4, 5)), 2).shape == (0, 2, 2, 2, 2)


X2 = np.zeros((2, 3, 8, 8), np.float32)
Y2 = np.zeros((2, 3, 4, 4), np.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: m.adaptive_avg_pool2d(X2.astype(np.int32), 4), TypeError, "float32 or float64"),
    (lambda m: m.adaptive_max_pool2d(X2.astype(np.complex64), 4), TypeError, "float32 or float64"),
    (lambda m: m.adaptive_avg_pool2d(X2[0, 0], 4), ValueError, r"4-D .*\(8, 8\)"),
    (lambda m: m.adaptive_max_pool1d(X2, 4), ValueError, r"3-D .*\(2, 3, 8, 8\)"),
    (lambda m: m.adaptive_avg_pool2d(X2, 0), ValueError, "output_size must be positive"),
    (lambda m: m.adaptive_avg_pool2d(X2, (4, -1)), ValueError, "output_size must be positive"),
    (lambda m: m.adaptive_avg_pool2d(X2, (4, 4, 4)), ValueError, r"output_size .*\(8, 8\)"),
    (lambda m: m.adaptive_max_pool3d(np.zeros((1, 1, 2, 2, 2)), (1, 1)), ValueError, "output_size"),
    (lambda m: m.adaptive_avg_pool2d(X2, 2.0), TypeError, "output_size"),
    (lambda m: m.adaptive_avg_pool1d(X2[0], 2**70), ValueError, r"output_size .*(too large|at most 2\*\*60)"),
    (lambda m: m.adaptive_max_pool2d(X2, (2**32, 2**32)), ValueError, "output_size .* too large"),
    (lambda m: m.adaptive_avg_pool2d(X2, (2, 2.5)), TypeError, "output_size"),
    (lambda m: m.adaptive_avg_pool2d(X2, "4"), TypeError, "output_size"),
    (lambda m: m.adaptive_avg_pool2d(np.zeros((2, 0, 8, 8), np.float32), 4), ValueError, "non-empty"),
    (lambda m: m.adaptive_max_pool2d(X2, 4, return_indices=1), TypeError, "return_indices"),
    (lambda m: m.adaptive_avg_pool2d_backward(Y2[:, :, :3], X2, 4), ValueError,
     r"grad_output must have shape \(2, 3, 4, 4\)"),
    (lambda m: m.adaptive_avg_pool2d_backward(Y2.astype(np.float64), X2, 4), TypeError,
     "grad_output must have dtype float32"),
    (lambda m: m.adaptive_max_pool2d_backward(Y2, X2, 4, indices=np.zeros((2, 3, 4, 4), np.int32)),
     TypeError, "int64"),
    (lambda m: m.adaptive_max_pool2d_backward(Y2, X2, 4, indices=np.zeros((2, 3, 4), np.int64)),
     ValueError, r"indices must have shape \(2, 3, 4, 4\)"),
    (lambda m: m.adaptive_max_pool2d_backward(Y2, X2, 4, indices=np.full((2, 3, 4, 4), 64)),
     ValueError, r"\[0, 64\)"),
    (lambda m: m.global_avg_pool(X2[0, 0]), ValueError, "1 to 3 spatial dims"),
    (lambda m: m.global_max_pool(np.zeros((1, 1, 2, 2, 2, 2))), ValueError, "1 to 3 spatial dims"),
    (lambda m: m.global_avg_pool(X2, keepdims=None), TypeError, "keepdims"),
    (lambda m: m.global_max_pool([[1.0, 2.0]]), ValueError, "1 to 3 spatial dims"),
    (lambda m: m.global_max_pool(X2.astype(np.int64)), TypeError, "float32 or float64"),
    (lambda m: m.global_avg_pool_backward(Y2[:, :, 0, 0], X2, keepdims=True), ValueError,
     r"grad_output must have shape \(2, 3, 1, 1\)"),
    (lambda m: m.global_max_pool_backward(Y2[:, :, 0, 0], X2, indices=np.zeros((2, 3), np.int32)),
     TypeError, "int64"),
])
@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
def test_validation(call, exc, match, module):
    with pytest.raises(exc, match=match):
        call(module)


def test_num_threads_is_validated():
    with pytest.raises(ValueError, match="num_threads"):
        cyconv.adaptive_avg_pool2d(X2, 2, num_threads=0)
    with pytest.raises(TypeError, match="num_threads"):
        cyconv.global_avg_pool(X2, num_threads=1.5)


class TestAgainstTorch:
    """PyTorch as an independent oracle: forward, indices and autograd gradients."""

    torch = pytest.importorskip("torch")
    F = pytest.importorskip("torch.nn.functional")

    def _torch_grad(self, fn, x, gy):
        xt = self.torch.from_numpy(x).requires_grad_()
        fn(xt).backward(self.torch.from_numpy(gy))
        return xt.grad.numpy()

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("case", CASES, ids=_id)
    def test_adaptive(self, case, dtype):
        shape, out = case
        ndim = len(shape) - 2
        avg, avg_b, mx, mx_b = _ops(ndim, cyconv)
        tavg = getattr(self.F, f"adaptive_avg_pool{ndim}d")
        tmax = getattr(self.F, f"adaptive_max_pool{ndim}d")
        # torch's 1-D op takes no None entries (its 2-D and 3-D ops do)
        tout = (out if isinstance(out, int) else tuple(out) if ndim > 1
                else _shapes.adaptive_output_shape(shape[2:], out))
        x = _data(shape, dtype, seed=7)
        y = avg(x, out)
        np.testing.assert_allclose(y, tavg(self.torch.from_numpy(x), tout).numpy(), **TOL[dtype])
        gy = _data(y.shape, dtype, seed=8)
        np.testing.assert_allclose(avg_b(gy, x, out),
                                   self._torch_grad(lambda t: tavg(t, tout), x, gy), **TOL[dtype])
        y, idx = mx(x, out, return_indices=True)
        yt, it = tmax(self.torch.from_numpy(x), tout, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(idx, it.numpy())
        # torch adds overlapping bins' gradients in its own order: equal up to rounding
        np.testing.assert_allclose(mx_b(gy, x, out),
                                   self._torch_grad(lambda t: tmax(t, tout), x, gy), **TOL[dtype])

    def test_nan_and_ties(self):
        x = np.zeros((1, 2, 6, 5))
        x[0, 1, 1, 3] = x[0, 1, 4, 0] = 2.0
        x[0, 0, [1, 2, 5], [0, 4, 2]] = np.nan
        y, idx = cyconv.adaptive_max_pool2d(x, (2, 3), return_indices=True)
        yt, it = self.F.adaptive_max_pool2d(self.torch.from_numpy(x), (2, 3), return_indices=True)
        np.testing.assert_array_equal(idx, it.numpy())
        np.testing.assert_array_equal(y, yt.numpy())

    @pytest.mark.parametrize("shape", GLOBAL_SHAPES, ids=str)
    def test_global(self, shape):
        ndim = len(shape) - 2
        x = _data(shape, np.float64, seed=9)
        tavg = getattr(self.F, f"adaptive_avg_pool{ndim}d")
        tmax = getattr(self.F, f"adaptive_max_pool{ndim}d")
        yt = tavg(self.torch.from_numpy(x), 1).numpy()
        np.testing.assert_allclose(cyconv.global_avg_pool(x, keepdims=True), yt, rtol=1e-13)
        m, idx = cyconv.global_max_pool(x, keepdims=True, return_indices=True)
        mt, it = tmax(self.torch.from_numpy(x), 1, return_indices=True)
        np.testing.assert_array_equal(m, mt.numpy())
        np.testing.assert_array_equal(idx, it.numpy())
        gy = _data(shape[:2] + (1,) * ndim, np.float64, seed=10)
        np.testing.assert_allclose(cyconv.global_avg_pool_backward(gy, x, keepdims=True),
                                   self._torch_grad(lambda t: tavg(t, 1), x, gy), rtol=1e-13)
        np.testing.assert_array_equal(cyconv.global_max_pool_backward(gy, x, keepdims=True),
                                      self._torch_grad(lambda t: tmax(t, 1), x, gy))


def _tree_sum(row):
    """The kernels' fixed summation order for one run, in NumPy: 8 double lanes in four
    interleaved accumulators over blocks of 32, folded, then blocks of 8, a fixed tree over
    the lanes, the tail in order."""
    part, i, n = np.zeros((4, 8)), 0, len(row)
    while i + 32 <= n:
        part += row[i:i + 32].reshape(4, 8)
        i += 32
    lane = (part[0] + part[2]) + (part[1] + part[3])
    while i + 8 <= n:
        lane += row[i:i + 8]
        i += 8
    total = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]))
    for v in row[i:]:
        total += v
    return total


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 8, 31, 32, 49, 71, 200, 1000])
def test_global_avg_sums_in_its_fixed_order(n, dtype):
    """The global average is the documented double-precision tree, bit for bit (values of
    very different magnitudes, so another order would round differently)."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, 5, n)) * 10.0 ** rng.integers(-6, 7, (3, 5, n))).astype(dtype)
    y = cyconv.global_avg_pool(x)
    rows = x.reshape(15, n).astype(np.float64)
    expect = np.array([_tree_sum(r) / n for r in rows]).astype(dtype).reshape(3, 5)
    np.testing.assert_array_equal(y, expect)
