"""Public 1-D and 3-D max/min/avg pooling against cyconv.reference, PyTorch and finite differences."""
import numpy as np
import pytest

import cyconv
from cyconv import _bench
from cyconv import reference as ref

DTYPES = [np.float32, np.float64]

# (kernel_size, stride, padding, dilation, ceil_mode)
GEOMETRIES = {
    1: [
        (1, None, 0, 1, False),
        (2, None, 0, 1, False),                        # windows tile the input
        (3, 2, 1, 1, True),                            # ceil_mode with overhang
        (3, 1, 1, 2, False),                           # dilation
        (4, 3, 2, 1, True),
        (2, 3, 0, 1, False),                           # stride > kernel
        (3, 2, ((1, 0),), 1, True),                    # per-side padding
        (3, 1, "same", 1, False),
        (5, 2, 2, 1, False),
    ],
    3: [
        (2, None, 0, 1, False),
        ((2, 3, 2), (1, 2, 2), (1, 1, 0), 1, True),
        (3, 2, 1, (1, 2, 1), False),
        ((1, 3, 3), 1, (0, 1, 1), 1, False),
        (3, 3, 1, 1, True),
        (2, (2, 1, 3), ((0, 1), (1, 0), (1, 1)), 1, True),
        ((3, 1, 2), (2, 1, 1), (1, 0, 1), (2, 1, 1), True),
    ],
}
# narrow planes take the kernels' scalar path, wide ones (>= 8 interior outputs per row) also
# the vectorized row primitives; batch 1 and 7
SHAPES = {1: [(1, 2, 11), (7, 1, 50)], 3: [(1, 2, 5, 6, 7), (2, 1, 4, 3, 24)]}


def _cases(symmetric_only=False, no_dilation=False):
    for ndim, geometries in GEOMETRIES.items():
        for g in geometries:
            k, s, p, d, cm = g
            if no_dilation and d != 1:
                continue
            if symmetric_only and not (isinstance(p, int) or all(isinstance(v, int) for v in p)):
                continue
            for shape in SHAPES[ndim]:
                yield pytest.param(ndim, g, shape, id=f"{ndim}d-{shape[-1]}-" + "-".join(
                    str(v).replace(" ", "") for v in g))


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _op(module, name, ndim):
    return getattr(module, f"{name}{ndim}d"), getattr(module, f"{name}{ndim}d_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ndim, geometry, shape", list(_cases()))
def test_extremum_matches_reference_exactly(ndim, geometry, shape, dtype):
    k, s, p, d, cm = geometry
    x = _data(shape, dtype)
    for kind in ("max_pool", "min_pool"):
        fwd, bwd = _op(cyconv, kind, ndim)
        rfwd, rbwd = _op(ref, kind, ndim)
        y, idx = fwd(x, k, s, p, d, ceil_mode=cm, return_indices=True)
        yr, idxr = rfwd(x, k, s, p, d, ceil_mode=cm, return_indices=True)
        assert y.dtype == dtype and idx.dtype == np.int64 and y.ndim == ndim + 2
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(idx, idxr)
        np.testing.assert_array_equal(fwd(x, k, s, p, d, ceil_mode=cm), y)  # values-only path
        gy = _data(y.shape, dtype, seed=1)
        g = bwd(gy, x, k, s, p, d, ceil_mode=cm)
        np.testing.assert_array_equal(g, rbwd(gy, x, k, s, p, d, ceil_mode=cm))
        np.testing.assert_array_equal(bwd(gy, x, k, s, p, d, ceil_mode=cm, indices=idx), g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ndim, geometry, shape", list(_cases(no_dilation=True)))
def test_avg_matches_reference(ndim, geometry, shape, dtype):
    k, s, p, _, cm = geometry
    fwd, bwd = _op(cyconv, "avg_pool", ndim)
    rfwd, rbwd = _op(ref, "avg_pool", ndim)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    x = _data(shape, dtype)
    for count_include_pad in (True, False):
        kw = dict(ceil_mode=cm, count_include_pad=count_include_pad)
        y = fwd(x, k, s, p, **kw)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, rfwd(x.astype(np.float64), k, s, p, **kw), **tol)
        gy = _data(y.shape, dtype, seed=1)
        np.testing.assert_allclose(
            bwd(gy, x, k, s, p, **kw),
            rbwd(gy.astype(np.float64), x.astype(np.float64), k, s, p, **kw), **tol)


FD_CASES = [
    (1, (2, 3, 17), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (1, (2, 2, 20), dict(kernel_size=2, stride=1, dilation=2)),
    (3, (1, 2, 5, 4, 6), dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0),
                              ceil_mode=True)),
    (3, (2, 1, 4, 5, 5), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2, 1))),
]


@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
@pytest.mark.parametrize("ndim, shape, kw", FD_CASES,
                         ids=[f"{c[0]}d-{i}" for i, c in enumerate(FD_CASES)])
def test_finite_differences(ndim, shape, kw, module):
    rng = np.random.default_rng(3)
    # distinct values, far apart compared with eps: no ties, stable selections
    x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0
    eps = 1e-6
    ops = [("max_pool", kw), ("min_pool", kw)]
    if "dilation" not in kw:
        ops += [("avg_pool", dict(kw, count_include_pad=False)), ("avg_pool", kw)]
    for name, args in ops:
        fwd, bwd = _op(module, name, ndim)
        gy = rng.standard_normal(fwd(x, **args).shape)
        grad = bwd(gy, x, **args)
        v = rng.standard_normal(x.shape)
        numeric = (np.sum(gy * fwd(x + eps * v, **args))
                   - np.sum(gy * fwd(x - eps * v, **args))) / (2 * eps)
        assert numeric == pytest.approx(np.sum(grad * v), rel=1e-6, abs=1e-8), (name, args)


@pytest.mark.parametrize("ndim", [1, 3])
def test_ties_and_nan(ndim):
    shape = (1, 1, 9) if ndim == 1 else (1, 1, 3, 3, 9)
    x = np.zeros(shape)
    y, idx = cyconv.max_pool1d(x, 3, return_indices=True) if ndim == 1 else \
        cyconv.max_pool3d(x, 3, return_indices=True)
    first = np.arange(3) * 3  # first element of each window (row-major)
    np.testing.assert_array_equal(idx.reshape(-1), first)
    x.reshape(-1)[[1, 2, 4]] = np.nan
    fwd = cyconv.max_pool1d if ndim == 1 else cyconv.max_pool3d
    rfwd = ref.max_pool1d if ndim == 1 else ref.max_pool3d
    y, idx = fwd(x, 3, return_indices=True)
    yr, idxr = rfwd(x, 3, return_indices=True)
    np.testing.assert_array_equal(idx, idxr)
    np.testing.assert_array_equal(y, yr)
    assert idx.reshape(-1)[0] == 2  # the last NaN of the window wins


def test_benchmark_numpy_competitors_compute_the_same_ops():
    """The pure-NumPy approaches timed by the benchmark rows are right (checked against the
    reference, so their times are of a real implementation)."""
    x1, x3 = _data((2, 3, 20), np.float64), _data((1, 2, 4, 6, 8), np.float64)
    np.testing.assert_array_equal(_bench.numpy_pool_nd(x1, 2, 2, reduce=np.max),
                                  ref.max_pool1d(x1, 2, 2))
    np.testing.assert_allclose(_bench.numpy_pool_nd(x3, 2, 2, reduce=np.mean),
                               ref.avg_pool3d(x3, 2, 2), rtol=1e-13)
    for x, out in ((_data((2, 3, 14, 13), np.float64), (7, 5)), (x1, 30), (x3, (3, None, 5))):
        fn = getattr(ref, f"adaptive_avg_pool{x.ndim - 2}d")
        np.testing.assert_allclose(_bench.numpy_adaptive_avg_pool(x, out), fn(x, out), rtol=1e-12)
    np.testing.assert_allclose(_bench.numpy_global_avg_pool(x3, keepdims=True),
                               ref.global_avg_pool(x3, keepdims=True), rtol=1e-13)


def test_empty_batch_and_validation():
    assert cyconv.max_pool1d(np.zeros((0, 2, 9), np.float32), 3).shape == (0, 2, 3)
    assert cyconv.avg_pool3d_backward(np.zeros((0, 1, 2, 2, 2)), np.zeros((0, 1, 4, 4, 4)),
                                      2).shape == (0, 1, 4, 4, 4)
    with pytest.raises(ValueError, match=r"3-D .*\(2, 3, 8, 8\)"):
        cyconv.max_pool1d(np.zeros((2, 3, 8, 8)), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        cyconv.avg_pool3d(np.zeros((1, 1, 4, 4, 4)), (2, 2))
    with pytest.raises(ValueError, match="padding"):
        cyconv.min_pool1d(np.zeros((1, 1, 8)), 2, padding=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        cyconv.max_pool3d(np.zeros((1, 1, 4, 4, 4), np.int32), 2)


class TestAgainstTorch:
    """PyTorch as an independent oracle (symmetric padding only: torch has no per-side form)."""

    torch = pytest.importorskip("torch")
    F = pytest.importorskip("torch.nn.functional")

    def _torch_grad(self, fn, x, gy):
        xt = self.torch.from_numpy(x).requires_grad_()
        fn(xt).backward(self.torch.from_numpy(gy))
        return xt.grad.numpy()

    @staticmethod
    def _kw(geometry, ndim):
        k, s, p, d, cm = geometry
        if p == "same":
            p = (k - 1) // 2
        return dict(kernel_size=k, stride=s if s is not None else k, padding=p, ceil_mode=cm), d

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("ndim, geometry, shape", list(_cases(symmetric_only=True)))
    def test_max_and_min(self, ndim, geometry, shape, dtype):
        kw, d = self._kw(geometry, ndim)
        tmax = getattr(self.F, f"max_pool{ndim}d")
        x = _data(shape, dtype, seed=5)
        gy = None
        for sign, name in ((1, "max_pool"), (-1, "min_pool")):
            fwd, bwd = _op(cyconv, name, ndim)
            y, idx = fwd(x, dilation=d, return_indices=True, **kw)
            yt, it = tmax(self.torch.from_numpy(sign * x), dilation=d, return_indices=True, **kw)
            np.testing.assert_array_equal(y, sign * yt.numpy())
            np.testing.assert_array_equal(idx, it.numpy())
            gy = _data(y.shape, dtype, seed=6) if gy is None else gy
            expect = self._torch_grad(
                lambda t: tmax(sign * t, dilation=d, **kw), x, sign * gy)
            np.testing.assert_allclose(bwd(gy, x, dilation=d, **kw), expect, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("ndim, geometry, shape",
                             list(_cases(symmetric_only=True, no_dilation=True)))
    def test_avg(self, ndim, geometry, shape, dtype):
        tavg = getattr(self.F, f"avg_pool{ndim}d")
        fwd, bwd = _op(cyconv, "avg_pool", ndim)
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
        x = _data(shape, dtype, seed=7)
        for count_include_pad in (True, False):
            kw, _ = self._kw(geometry, ndim)
            kw["count_include_pad"] = count_include_pad
            y = fwd(x, **kw)
            np.testing.assert_allclose(y, tavg(self.torch.from_numpy(x), **kw).numpy(), **tol)
            gy = _data(y.shape, dtype, seed=8)
            np.testing.assert_allclose(bwd(gy, x, **kw),
                                       self._torch_grad(lambda t: tavg(t, **kw), x, gy), **tol)


# 1-D pooling stacks up to 64 channel rows into one kernel plane (without index outputs);
# every stacking gives the results of one row per plane, bitwise.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 6, 64, 96, 7])
@pytest.mark.parametrize("kw", [dict(kernel_size=2, stride=2), dict(kernel_size=3, stride=2,
                                                                     padding=1),
                                dict(kernel_size=5, stride=1, padding=2, ceil_mode=True)])
def test_1d_rows_stacked_into_planes_match_one_row_per_plane(channels, kw, dtype):
    x = np.random.default_rng(channels).standard_normal((5, channels, 77)).astype(dtype)
    results = {}
    for stacked in (True, False):
        rows = cyconv.PoolRows.STACKED if stacked else cyconv.PoolRows.PLANES
        out = []
        with cyconv.forced_paths(pool_rows=rows):
            for name in ("max_pool1d", "min_pool1d", "avg_pool1d"):
                y = getattr(cyconv, name)(x, **kw)
                gy = np.linspace(-1, 1, y.size).reshape(y.shape).astype(dtype)
                out += [y, getattr(cyconv, name + "_backward")(gy, x, **kw)]
        results[stacked] = out
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)
