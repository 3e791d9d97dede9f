"""Pooling kernels against cyconv.reference (and PyTorch when installed)."""
import numpy as np
import pytest

import cyconv
from cyconv import pool as _pool
from cyconv import reference as ref
from cyconv._kernels import _isa
from cyconv._kernels import _pool as pool_kernels
from cyconv.reference import _pool as ref_nd

DTYPES = [np.float32, np.float64]
EXTREMA = [
    ("max", cyconv.max_pool2d, cyconv.max_pool2d_backward, ref.max_pool2d, ref.max_pool2d_backward),
    ("min", cyconv.min_pool2d, cyconv.min_pool2d_backward, ref.min_pool2d, ref.min_pool2d_backward),
]
EXTREMA_IDS = [e[0] for e in EXTREMA]

# (kernel_size, stride, padding, dilation, ceil_mode)
GEOMETRIES = [
    (1, None, 0, 1, False),
    (2, None, 0, 1, False),                            # windows tile the input
    (3, None, 0, 1, True),                             # tiles, with uncovered rows/columns
    (3, 2, 1, 1, True),                                # ceil_mode with overhang on even sizes
    ((2, 3), (1, 2), (1, 1), 1, True),                 # non-square
    ((3, 1), 1, (1, 0), 1, False),
    (3, 1, 1, 2, False),                               # dilation
    (2, 3, 0, 1, False),                               # stride > kernel
    (2, 3, 1, 1, True),
    (3, 3, 1, 1, True),
    (3, 2, ((1, 0), (0, 1)), 1, True),                 # asymmetric per-side padding
    ((3, 2), 2, (1, 0), (1, 2), True),
    ((2, 3), (2, 1), ((0, 1), (1, 1)), (2, 1), False),
]
# Narrow planes take the kernels' scalar path only; wide ones (>= 8 outputs whose windows lie
# inside the input) also the vectorized row primitives, incl. the rounding of rows up to whole
# vectors near the end of a plane. Odd and even sizes, batch 1 and 7.
SHAPES = [(1, 2, 10, 11), (7, 1, 9, 46)]
AVG_GEOMETRIES = [g for g in GEOMETRIES if g[3] == 1]


def _id(g):
    return "k{}-s{}-p{}-d{}-{}".format(*g[:4], "ceil" if g[4] else "floor").replace(" ", "")


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=["narrow", "wide"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_id)
@pytest.mark.parametrize("kind, fwd, bwd, rfwd, rbwd", EXTREMA, ids=EXTREMA_IDS)
def test_extremum_matches_reference_exactly(kind, fwd, bwd, rfwd, rbwd, geometry, shape, dtype):
    k, s, p, d, cm = geometry
    x = _data(shape, dtype)
    y, idx = fwd(x, k, s, p, d, ceil_mode=cm, return_indices=True)
    yr, idxr = rfwd(x, k, s, p, d, ceil_mode=cm, return_indices=True)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(idx, idxr)
    np.testing.assert_array_equal(fwd(x, k, s, p, d, ceil_mode=cm), y)  # values-only path
    gy = _data(y.shape, dtype, seed=1)
    g = bwd(gy, x, k, s, p, d, ceil_mode=cm)
    assert g.dtype == dtype and g.shape == x.shape
    # the kernel adds the gradients meeting in one input in output order, like np.add.at
    np.testing.assert_array_equal(g, rbwd(gy, x, k, s, p, d, ceil_mode=cm))
    np.testing.assert_array_equal(bwd(gy, x, k, s, p, d, ceil_mode=cm, indices=idx), g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("shape", SHAPES, ids=["narrow", "wide"])
@pytest.mark.parametrize("geometry", AVG_GEOMETRIES, ids=_id)
def test_avg_matches_reference(geometry, shape, count_include_pad, dtype):
    k, s, p, _, cm = geometry
    kw = dict(ceil_mode=cm, count_include_pad=count_include_pad)
    x = _data(shape, dtype)
    y = cyconv.avg_pool2d(x, k, s, p, **kw)
    assert y.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, ref.avg_pool2d(x.astype(np.float64), k, s, p, **kw),
                               rtol=tol, atol=tol)
    gy = _data(y.shape, dtype, seed=1)
    g = cyconv.avg_pool2d_backward(gy, x, k, s, p, **kw)
    assert g.dtype == dtype and g.shape == x.shape
    np.testing.assert_allclose(g, ref.avg_pool2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                                          k, s, p, **kw), rtol=tol, atol=tol)


def test_grid_has_ceil_mode_overhang():
    """The ceil_mode geometries above really produce windows reaching past the padded input."""
    for k, s, p, d, cm in GEOMETRIES:
        if cm and any(cyconv.max_pool2d(np.zeros(shape), k, s, p, d, ceil_mode=True).shape
                      != cyconv.max_pool2d(np.zeros(shape), k, s, p, d).shape for shape in SHAPES):
            break
    else:
        pytest.fail("no ceil_mode overhang case in GEOMETRIES")


def test_ties_go_to_the_first_element_of_each_window():
    x = np.ones((1, 1, 4, 6))
    y, idx = cyconv.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx[0, 0], [[0, 2, 4], [12, 14, 16]])
    g = cyconv.max_pool2d_backward(np.ones_like(y), x, 2)
    expected = np.zeros((4, 6))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(g[0, 0], expected)
    _, idx_min = cyconv.min_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx_min, idx)
    np.testing.assert_array_equal(cyconv.min_pool2d_backward(np.ones_like(y), x, 2)[0, 0], expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, fwd, bwd, rfwd, rbwd", EXTREMA, ids=EXTREMA_IDS)
def test_ties_on_wide_constant_input(kind, fwd, bwd, rfwd, rbwd, dtype):
    """Constant input through the vectorized paths: every window picks its first element."""
    x = np.full((2, 3, 9, 50), 0.5, dtype)
    for k, s, p, d in ((2, None, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2)):
        y, idx = fwd(x, k, s, p, d, return_indices=True)
        np.testing.assert_array_equal(idx, rfwd(x, k, s, p, d, return_indices=True)[1])
        g = bwd(np.ones_like(y), x, k, s, p, d)
        np.testing.assert_array_equal(g, rbwd(np.ones_like(y), x, k, s, p, d))
    # signed zeros compare equal: the first one is kept, with its sign
    z = np.zeros((1, 1, 2, 40), dtype)
    z[..., 0, ::2] = -0.0
    y = fwd(z, 2)
    assert np.all(np.signbit(y))


def test_nan_propagates_and_padding_never_wins():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    for fwd, rfwd in ((cyconv.max_pool2d, ref.max_pool2d), (cyconv.min_pool2d, ref.min_pool2d)):
        y, idx = fwd(x, 3, 1, 1, return_indices=True)
        yr, idxr = rfwd(x, 3, 1, 1, return_indices=True)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(idx, idxr)
        assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 5
    neg = np.full((1, 1, 3, 3), -np.inf)
    y, idx = cyconv.max_pool2d(neg, 3, 1, 1, return_indices=True)
    assert np.all(y == -np.inf)
    # an all -inf window selects its first real element, never a padded position
    assert idx[0, 0, 0, 0] == 0 and idx[0, 0, 1, 1] == 0 and idx[0, 0, 2, 2] == 4
    g = cyconv.max_pool2d_backward(np.ones_like(y), neg, 3, 1, 1)
    np.testing.assert_array_equal(g, ref.max_pool2d_backward(np.ones_like(y), neg, 3, 1, 1))
    pos = np.full((1, 1, 3, 3), np.inf)
    y, idx = cyconv.min_pool2d(pos, 3, 1, 1, return_indices=True)
    assert np.all(y == np.inf) and idx[0, 0, 2, 2] == 4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, fwd, bwd, rfwd, rbwd", EXTREMA, ids=EXTREMA_IDS)
def test_nan_on_wide_input(kind, fwd, bwd, rfwd, rbwd, dtype):
    """NaN through the vectorized paths: a NaN takes over from any later non-NaN, and a later
    NaN takes over from an earlier one (PyTorch's ``val > best || isnan(val)``)."""
    x = _data((2, 2, 9, 40), dtype, seed=2)
    x[0, 0, 2, 5] = x[0, 0, 2, 6] = x[0, 0, 3, 5] = np.nan
    x[1, 1, 4, :] = np.nan
    for k, s, p, d in ((2, None, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2), ((2, 3), 1, 0, 1)):
        y, idx = fwd(x, k, s, p, d, return_indices=True)
        yr, idxr = rfwd(x, k, s, p, d, return_indices=True)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(idx, idxr)
        np.testing.assert_array_equal(fwd(x, k, s, p, d), y)
        gy = _data(y.shape, dtype, seed=3)
        np.testing.assert_array_equal(bwd(gy, x, k, s, p, d), rbwd(gy, x, k, s, p, d))


def test_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 3 * 9 * 20).reshape(2, 3, 9, 20) / 10.0  # distinct values: no ties
    eps = 1e-6
    for fwd, bwd, kw in (
            (cyconv.max_pool2d, cyconv.max_pool2d_backward, dict(kernel_size=3, stride=2, padding=1)),
            (cyconv.max_pool2d, cyconv.max_pool2d_backward, dict(kernel_size=2)),
            (cyconv.min_pool2d, cyconv.min_pool2d_backward, dict(kernel_size=2, stride=1)),
            (cyconv.min_pool2d, cyconv.min_pool2d_backward, dict(kernel_size=3, dilation=2)),
            (cyconv.avg_pool2d, cyconv.avg_pool2d_backward,
             dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
            (cyconv.avg_pool2d, cyconv.avg_pool2d_backward,
             dict(kernel_size=(2, 3), stride=(1, 2), padding=((1, 0), (1, 1)), ceil_mode=True)),
            (ref.avg_pool2d, ref.avg_pool2d_backward, dict(kernel_size=(2, 3), stride=1, padding=(1, 1))),
            (ref.avg_pool2d, ref.avg_pool2d_backward,
             dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
            (ref.max_pool2d, ref.max_pool2d_backward, dict(kernel_size=2, stride=1)),
            (ref.min_pool2d, ref.min_pool2d_backward, dict(kernel_size=3, stride=2, padding=1))):
        gy = rng.standard_normal(fwd(x, **kw).shape)
        grad = bwd(gy, x, **kw)
        v = rng.standard_normal(x.shape)
        numeric = (np.sum(gy * fwd(x + eps * v, **kw)) - np.sum(gy * fwd(x - eps * v, **kw))) / (2 * eps)
        assert numeric == pytest.approx(np.sum(grad * v), rel=1e-6, abs=1e-8), (fwd, kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_results(dtype):
    x = _data((3, 5, 17, 41), dtype, seed=4)
    outs = []
    for n in (1, 2, 3):
        res = []
        for fwd, bwd in ((cyconv.max_pool2d, cyconv.max_pool2d_backward),
                         (cyconv.min_pool2d, cyconv.min_pool2d_backward)):
            for args in ((3, 2, 1), (2,)):
                y, idx = fwd(x, *args, return_indices=True, num_threads=n)
                gy = np.ones_like(y)
                res += [y, idx, bwd(gy, x, *args, num_threads=n),
                        bwd(gy, x, *args, indices=idx, num_threads=n)]
        a = cyconv.avg_pool2d(x, 3, 2, 1, num_threads=n)
        res += [a, cyconv.avg_pool2d_backward(np.ones_like(a), x, 3, 2, 1, num_threads=n)]
        outs.append(res)
    for other in outs[1:]:
        for u, v in zip(outs[0], other):
            np.testing.assert_array_equal(u, v)


def test_non_contiguous_inputs_are_accepted_and_never_modified():
    base = _data((2, 6, 24, 50), np.float64, seed=5)
    x = base[:, ::2, ::2, ::-1].transpose(0, 1, 3, 2)  # (2, 3, 50, 12), no unit stride anywhere
    before = x.copy()
    for fwd, bwd, rfwd, rbwd in ((cyconv.max_pool2d, cyconv.max_pool2d_backward,
                                  ref.max_pool2d, ref.max_pool2d_backward),
                                 (cyconv.min_pool2d, cyconv.min_pool2d_backward,
                                  ref.min_pool2d, ref.min_pool2d_backward)):
        y, idx = fwd(x, 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(y, rfwd(x, 3, 2, 1))
        gy = _data(y.shape[:3] + (2 * y.shape[3],), np.float64, seed=6)[..., ::2]
        idx_nc = np.asfortranarray(idx)
        gy_before = gy.copy()
        g = bwd(gy, x, 3, 2, 1)
        np.testing.assert_array_equal(g, rbwd(gy, x, 3, 2, 1))
        np.testing.assert_array_equal(bwd(gy, x, 3, 2, 1, indices=idx_nc), g)
        np.testing.assert_array_equal(gy, gy_before)
    # the window sums may cancel: tolerance relative to the terms (|x| ~ 1), not to the result
    np.testing.assert_allclose(cyconv.avg_pool2d(x, 3, 2, 1), ref.avg_pool2d(x, 3, 2, 1), rtol=1e-14,
                               atol=1e-15)
    a = cyconv.avg_pool2d(x, 2)
    gy = np.ones(a.shape[::-1]).T
    np.testing.assert_allclose(cyconv.avg_pool2d_backward(gy, x, 2), ref.avg_pool2d_backward(gy, x, 2),
                               rtol=1e-14)
    np.testing.assert_array_equal(x, before)
    # x's own layout does not leak into the result
    assert cyconv.max_pool2d_backward(np.ones(y.shape), x, 3, 2, 1).flags.c_contiguous


def test_empty_batch():
    empty = np.zeros((0, 3, 8, 8), np.float32)
    assert cyconv.max_pool2d(empty, 2).shape == (0, 3, 4, 4)
    y, idx = cyconv.min_pool2d(empty, 3, 2, 1, return_indices=True)
    assert y.shape == idx.shape == (0, 3, 4, 4) and idx.dtype == np.int64
    assert cyconv.avg_pool2d(empty, 3, 1, 1).shape == (0, 3, 8, 8)
    g0 = np.zeros((0, 3, 4, 4), np.float32)
    assert cyconv.avg_pool2d_backward(g0, empty, 2).shape == empty.shape
    assert cyconv.max_pool2d_backward(g0, empty, 2).shape == empty.shape
    assert cyconv.max_pool2d_backward(g0, empty, 2, indices=np.zeros(g0.shape, np.int64)).shape == empty.shape


@pytest.mark.parametrize("ndim, shape, k, s, p, d, cm", [
    (1, (3, 2, 47), 3, 2, 1, 2, True),
    (1, (2, 2, 30), 2, None, 0, 1, False),
    (3, (2, 2, 6, 5, 40), (3, 2, 2), (2, 1, 2), (1, 1, 0), 1, True),  # overhang in D and H
    (3, (1, 3, 4, 6, 20), 2, None, 0, 1, False),
    (3, (2, 1, 7, 5, 9), 3, 2, ((1, 0), (0, 1), (1, 1)), (2, 1, 1), False),
])
def test_kernels_are_generic_over_spatial_dims(ndim, shape, k, s, p, d, cm):
    """The 5-D kernels behind the 2-D API also do 1-D and 3-D pooling (via pool.py's private
    helpers), matching the N-d reference."""
    x = _data(shape, np.float64, seed=9)
    for largest, rf, rb in ((True, ref_nd._make(ndim)[0], ref_nd._make(ndim)[3]),
                            (False, ref_nd._make(ndim)[1], ref_nd._make(ndim)[4])):
        y, idx = _pool._extremum(x, k, s, p, d, cm, True, None, ndim, largest)
        yr, idxr = rf(x, k, s, p, d, ceil_mode=cm, return_indices=True)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(idx, idxr)
        # values only: the separable row kernels, depth rows included in the vertical pass
        np.testing.assert_array_equal(_pool._extremum(x, k, s, p, d, cm, False, None, ndim, largest),
                                      yr)
        gy = _data(y.shape, np.float64, seed=10)
        g = _pool._extremum_backward(gy, x, k, s, p, d, cm, None, None, ndim, largest)
        np.testing.assert_array_equal(g, rb(gy, x, k, s, p, d, ceil_mode=cm))
        np.testing.assert_array_equal(
            _pool._extremum_backward(gy, x, k, s, p, d, cm, idx, None, ndim, largest), g)
    if d != 1:
        return
    ravg, ravg_b = ref_nd._make(ndim)[2], ref_nd._make(ndim)[5]
    for cip in (True, False):
        y = _pool._avg(x, k, s, p, cm, cip, None, ndim)
        np.testing.assert_allclose(y, ravg(x, k, s, p, ceil_mode=cm, count_include_pad=cip),
                                   rtol=1e-14, atol=1e-14)
        gy = _data(y.shape, np.float64, seed=11)
        np.testing.assert_allclose(_pool._avg_backward(gy, x, k, s, p, cm, cip, None, ndim),
                                   ravg_b(gy, x, k, s, p, ceil_mode=cm, count_include_pad=cip),
                                   rtol=1e-14, atol=1e-14)


def _symmetric(g):
    return isinstance(g[2], int) or all(isinstance(v, int) for v in g[2])


TORCH_GEOMETRIES = [g for g in GEOMETRIES if _symmetric(g)]  # torch has no per-side padding


class TestAgainstTorch:
    torch = pytest.importorskip("torch")
    F = pytest.importorskip("torch.nn.functional")

    def _grad(self, fn, x, gy, **kw):
        xt = self.torch.from_numpy(x).requires_grad_()
        out = fn(xt, **kw)
        yt = out[0] if isinstance(out, tuple) else out
        yt.backward(self.torch.from_numpy(gy))
        return xt.grad.numpy()

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("geometry", TORCH_GEOMETRIES, ids=_id)
    def test_max_and_min_pool_with_indices_and_gradient(self, geometry, dtype):
        k, s, p, d, cm = geometry
        kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=cm)
        for shape in SHAPES:
            x = np.round(_data(shape, dtype) * 3) / 3  # ties, to pin down which one is chosen
            y, idx = cyconv.max_pool2d(x, return_indices=True, **kw)
            yt, it = self.F.max_pool2d(self.torch.from_numpy(x), return_indices=True, **kw)
            np.testing.assert_array_equal(y, yt.numpy())
            np.testing.assert_array_equal(idx, it.numpy())
            gy = _data(y.shape, dtype, seed=1)
            np.testing.assert_array_equal(cyconv.max_pool2d_backward(gy, x, **kw),
                                          self._grad(self.F.max_pool2d, x, gy, **kw))
            # min pooling is max pooling of -x, ties and all
            y, idx = cyconv.min_pool2d(x, return_indices=True, **kw)
            yt, it = self.F.max_pool2d(self.torch.from_numpy(-x), return_indices=True, **kw)
            np.testing.assert_array_equal(y, -yt.numpy())
            np.testing.assert_array_equal(idx, it.numpy())

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("count_include_pad", [True, False], ids=["incl_pad", "excl_pad"])
    @pytest.mark.parametrize("geometry", [g for g in TORCH_GEOMETRIES if g[3] == 1], ids=_id)
    def test_avg_pool(self, geometry, count_include_pad, dtype):
        k, s, p, _, cm = geometry
        kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm, count_include_pad=count_include_pad)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        for shape in SHAPES:
            x = _data(shape, dtype)
            y = cyconv.avg_pool2d(x, **kw)
            np.testing.assert_allclose(y, self.F.avg_pool2d(self.torch.from_numpy(x), **kw).numpy(),
                                       rtol=tol, atol=tol)
            gy = _data(y.shape, dtype, seed=1)
            np.testing.assert_allclose(cyconv.avg_pool2d_backward(gy, x, **kw),
                                       self._grad(self.F.avg_pool2d, x, gy, **kw), rtol=tol, atol=tol)

    def test_nan_selection(self):
        x = np.array([[[[np.nan, 3.0, np.nan, 2.0] + [0.0] * 36,
                        [1.0, np.nan, 1.0, 1.0] + [0.0] * 36]]])
        for k in (2, (2, 4)):
            _, idx = cyconv.max_pool2d(x, k, return_indices=True)
            _, it = self.F.max_pool2d(self.torch.from_numpy(x), k, return_indices=True)
            np.testing.assert_array_equal(idx, it.numpy())  # the last NaN of a window

    def test_reference_per_side_padding(self):
        """Per-side padding is explicit padding: torch on a padded copy."""
        x = _data((2, 3, 9, 11), np.float64)
        pads = ((1, 0), (0, 1))
        xp = self.F.pad(self.torch.from_numpy(x), (0, 1, 1, 0), value=-np.inf)
        y, idx = ref.max_pool2d(x, 3, 2, pads, return_indices=True)
        yt, it = self.F.max_pool2d(xp, 3, 2, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        ih, iw = np.divmod(it.numpy(), 12)
        np.testing.assert_array_equal(idx, (ih - 1) * 11 + iw)
        xz = self.F.pad(self.torch.from_numpy(x), (0, 1, 1, 0))
        np.testing.assert_allclose(ref.avg_pool2d(x, 3, 2, pads),
                                   self.F.avg_pool2d(xz, 3, 2).numpy(), rtol=1e-14)

    @pytest.mark.parametrize("ndim", [1, 3])
    def test_reference_1d_3d(self, ndim):
        x = _data((2, 3) + (7, 6, 9)[3 - ndim:], np.float64)
        fmax = getattr(self.F, f"max_pool{ndim}d")
        favg = getattr(self.F, f"avg_pool{ndim}d")
        rmax, _, ravg = ref_nd._make(ndim)[:3]
        y, idx = rmax(x, 3, 2, 1, ceil_mode=True, return_indices=True)
        yt, it = fmax(self.torch.from_numpy(x), 3, 2, 1, ceil_mode=True, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(idx, it.numpy())
        np.testing.assert_allclose(ravg(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                   favg(self.torch.from_numpy(x), 3, 2, 1, ceil_mode=True,
                                        count_include_pad=False).numpy(), rtol=1e-14)


X8 = np.ones((2, 3, 8, 8))
G4 = np.ones((2, 3, 4, 4))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: cyconv.max_pool2d(X8[0, 0], 2), ValueError, r"x must be 4-D"),
    (lambda: cyconv.avg_pool2d(X8[None], 2), ValueError, r"x must be 4-D"),
    (lambda: cyconv.max_pool2d_backward(G4, X8[0, 0], 2), ValueError, r"x must be 4-D"),
    (lambda: cyconv.max_pool2d(X8.astype(np.int64), 2), TypeError, r"x must have dtype float32 or float64"),
    (lambda: cyconv.min_pool2d_backward(G4, X8.astype(np.float16), 2), TypeError, r"float16 inputs are computed in float32 only when every float array is float16: got grad_output float64, x float16"),
    (lambda: cyconv.avg_pool2d(X8.astype(np.complex128), 2), TypeError, r"x must have dtype"),
    (lambda: cyconv.avg_pool2d_backward(G4, X8.astype(np.int32), 2), TypeError, r"x must have dtype"),
    (lambda: cyconv.max_pool2d(X8, 0), ValueError, r"kernel_size must be positive"),
    (lambda: cyconv.avg_pool2d(X8, (2, 0)), ValueError, r"kernel_size must be positive"),
    (lambda: cyconv.max_pool2d(X8, (2, 2, 2)), ValueError, r"kernel_size must be an int or a sequence of 2"),
    (lambda: cyconv.max_pool2d(X8, 2.0), TypeError, r"kernel_size must be an int"),
    (lambda: cyconv.max_pool2d(X8, 2, 0), ValueError, r"stride must be positive"),
    (lambda: cyconv.max_pool2d(X8, 2, dilation=0), ValueError, r"dilation must be positive"),
    (lambda: cyconv.avg_pool2d(X8, 2, padding=-1), ValueError, r"padding must be >= 0"),
    (lambda: cyconv.avg_pool2d(X8, 3, padding=((0, -1), (0, 0))), ValueError, r"padding must be non-negative"),
    (lambda: cyconv.max_pool2d(X8, 2, padding=2), ValueError, r"padding .* at most half of kernel_size"),
    (lambda: cyconv.min_pool2d(X8, 3, padding=((0, 2), (0, 0))), ValueError, r"padding .* at most half of kernel_size"),
    (lambda: cyconv.max_pool2d(X8, 9), ValueError, r"output size .* too small"),
    (lambda: cyconv.max_pool2d(X8, 3, dilation=4), ValueError, r"output size .* too small"),
    (lambda: cyconv.max_pool2d(X8, 2, ceil_mode=1), TypeError, r"ceil_mode must be a bool"),
    (lambda: cyconv.max_pool2d(X8, 2, return_indices=None), TypeError, r"return_indices must be a bool"),
    (lambda: cyconv.avg_pool2d(X8, 2, count_include_pad="no"), TypeError, r"count_include_pad must be a bool"),
    (lambda: cyconv.max_pool2d(X8, 2, num_threads=-1), ValueError, r"num_threads must be a positive int"),
    (lambda: cyconv.avg_pool2d_backward(G4, X8, 2, num_threads=0), ValueError, r"num_threads must be a positive int"),
    (lambda: cyconv.max_pool2d_backward(np.ones((2, 3, 4, 3)), X8, 2), ValueError, r"grad_output must have shape \(2, 3, 4, 4\)"),
    (lambda: cyconv.avg_pool2d_backward(G4[0], X8, 2), ValueError, r"grad_output must have shape"),
    (lambda: cyconv.avg_pool2d_backward(G4.astype(np.float32), X8, 2), TypeError, r"grad_output must have dtype float64"),
    (lambda: cyconv.min_pool2d_backward(G4.astype(int), X8, 2), TypeError, r"grad_output must have dtype float32 or float64"),
    (lambda: cyconv.max_pool2d_backward(G4, X8, 2, indices=np.zeros((2, 3, 4, 4), np.int32)), TypeError, r"indices must be the int64 array"),
    (lambda: cyconv.max_pool2d_backward(G4, X8, 2, indices=[[0]]), ValueError, r"indices must have shape"),  # lists are array-likes
    (lambda: cyconv.max_pool2d_backward(G4, X8, 2, indices=np.zeros((2, 3, 4, 3), np.int64)), ValueError, r"indices must have shape"),
    (lambda: cyconv.max_pool2d_backward(G4, X8, 2, indices=np.full((2, 3, 4, 4), 64)), ValueError, r"indices must lie in \[0, 64\)"),
    (lambda: cyconv.min_pool2d_backward(G4, X8, 2, indices=np.full((2, 3, 4, 4), -2)), ValueError, r"indices must lie in \[0, 64\)"),
])
def test_validation(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- the separable SIMD row kernels (_poolsimd.h) on every ISA ---------------------------
# Row widths around one and two vectors of each ISA (16/8/4 float32 lanes, 8/4/2 float64,
# and twice that many inputs for stride 2): every tail length, the overlapped last block,
# rows shorter than one vector; odd and even widths; ties, NaN and -inf in the data.
ROW_WIDTHS = [1, 3, 4, 8, 9, 16, 17, 18, 31, 33, 34, 35, 64, 67]
# (kernel_size, stride, padding, dilation, ceil_mode)
ROW_GEOMETRIES = [
    (2, 2, 0, 1, False),                  # windows tile: route-in-registers backward
    ((1, 2), 2, 0, 1, True),              # tiling rows with ceil overhang (not tiled then)
    (3, 2, 1, 1, False),                  # padding on both sides, stride-2 de-interleave
    (3, 2, 1, 1, True),                   # ceil_mode overhang
    (3, 2, ((0, 1), (1, 0)), 1, True),    # one-sided padding
    ((2, 3), 1, (1, 1), 1, False),        # stride 1
    (3, 3, 1, 1, True),                   # stride 3: scalar lanes from the row buffer
    ((2, 2), 2, 1, 2, False),             # dilation (max/min only)
]


def _isas():
    return list(range(_isa.cpu_isa() + 1))


@pytest.fixture
def pool_isa(request):
    previous = _isa.current_isa()
    chosen = _isa.select_isa(request.param)
    yield chosen
    _isa.select_isa(previous)


_REFERENCE_CACHE = {}


def _cached(key, compute):
    """Reference results shared by the ISA instances of a test (the reference is the slow part)."""
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = compute()
    return _REFERENCE_CACHE[key]


def _row_data(shape, dtype, seed):
    x = np.round(_data(shape, dtype, seed) * 2) / 2    # many ties
    flat = x.reshape(-1)
    rng = np.random.default_rng(seed)
    flat[rng.integers(0, flat.size, max(1, flat.size // 40))] = np.nan
    flat[rng.integers(0, flat.size, max(1, flat.size // 40))] = -np.inf
    return x


@pytest.mark.parametrize("pool_isa", _isas(), indirect=True, ids=lambda i: f"isa{i}")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", ROW_GEOMETRIES, ids=_id)
def test_row_kernels_every_tail_and_isa(pool_isa, geometry, dtype):
    k, s, p, d, cm = geometry
    with cyconv.threads(1):     # threads are test_row_kernels_bitwise_identical_...'s subject
        _check_row_widths(k, s, p, d, cm, dtype, geometry)


def _check_row_widths(k, s, p, d, cm, dtype, geometry):
    for width in ROW_WIDTHS:
        x = _row_data((2, 1, 5, width), dtype, seed=width)
        try:
            ref.max_pool2d(x, k, s, p, d, ceil_mode=cm)
        except ValueError:
            continue                                    # too narrow for this window
        key = (geometry, np.dtype(dtype).name, width)
        for kind, fwd, bwd, rfwd, rbwd in EXTREMA:
            yr = _cached(key + (kind,), lambda: rfwd(x, k, s, p, d, ceil_mode=cm))
            np.testing.assert_array_equal(fwd(x, k, s, p, d, ceil_mode=cm), yr, err_msg=str(width))
            gy = _data(yr.shape, dtype, seed=width + 1)
            gr = _cached(key + (kind, "bwd"), lambda: rbwd(gy, x, k, s, p, d, ceil_mode=cm))
            np.testing.assert_array_equal(bwd(gy, x, k, s, p, d, ceil_mode=cm), gr,
                                          err_msg=str(width))
        if d != 1:
            continue
        xf = _data(x.shape, dtype, seed=width)
        x64 = xf.astype(np.float64)
        tol = 1e-6 if dtype == np.float32 else 1e-14
        for cip in (True, False):
            kw = dict(ceil_mode=cm, count_include_pad=cip)
            y = cyconv.avg_pool2d(xf, k, s, p, **kw)
            yr = _cached(key + ("avg", cip), lambda: ref.avg_pool2d(x64, k, s, p, **kw))
            np.testing.assert_allclose(y, yr, rtol=tol, atol=tol, err_msg=str(width))
            gy = _data(y.shape, dtype, seed=width + 2)
            gr = _cached(key + ("avg", cip, "bwd"),
                         lambda: ref.avg_pool2d_backward(gy.astype(np.float64), x64, k, s, p, **kw))
            np.testing.assert_allclose(cyconv.avg_pool2d_backward(gy, xf, k, s, p, **kw), gr,
                                       rtol=tol, atol=tol, err_msg=str(width))


@pytest.mark.parametrize("pool_isa", _isas(), indirect=True, ids=lambda i: f"isa{i}")
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_kernels_bitwise_identical_for_1_2_3_threads(pool_isa, dtype):
    x = _row_data((3, 5, 14, 67), dtype, seed=3)
    results = []
    for n in (1, 2, 3):
        out = []
        for fwd, bwd, args in ((cyconv.max_pool2d, cyconv.max_pool2d_backward, (2,)),
                               (cyconv.min_pool2d, cyconv.min_pool2d_backward, (3, 2, 1))):
            y = fwd(x, *args, num_threads=n)
            out += [y, bwd(np.ones_like(y), x, *args, num_threads=n)]
        a = cyconv.avg_pool2d(np.nan_to_num(x), 3, 2, 1, num_threads=n)
        out += [a, cyconv.avg_pool2d_backward(a, x, 3, 2, 1, num_threads=n)]
        results.append(out)
    for other in results[1:]:
        for u, v in zip(results[0], other):
            np.testing.assert_array_equal(u, v)


def test_select_isa_clips_to_the_cpu():
    previous = _isa.current_isa()
    best = _isa.select_isa(-1)
    assert best in (0, 1, 2)
    assert _isa.select_isa(7) == best
    assert _isa.select_isa(0) == 0
    _isa.select_isa(previous)


@pytest.mark.parametrize("stride, ceil_mode", [(1, False), (3, True)])
def test_windows_far_wider_than_the_row_take_the_clipped_path(stride, ceil_mode):
    # 8193-tap windows over 7 columns: the padded row buffers would be >1000x the row, so
    # the kernels reduce over the real columns only (forward values and average gradient)
    x = _row_data((2, 3, 7), np.float64, seed=12)
    kw = dict(padding=4096, ceil_mode=ceil_mode)
    for fwd, rfwd in ((cyconv.max_pool1d, ref.max_pool1d), (cyconv.min_pool1d, ref.min_pool1d)):
        np.testing.assert_array_equal(fwd(x, 8193, stride, **kw), rfwd(x, 8193, stride, **kw))
    xf = _data(x.shape, np.float64, seed=13)
    for cip in (True, False):
        y = cyconv.avg_pool1d(xf, 8193, stride, count_include_pad=cip, **kw)
        np.testing.assert_allclose(y, ref.avg_pool1d(xf, 8193, stride, count_include_pad=cip, **kw),
                                   rtol=1e-14, atol=1e-15)
        gy = _data(y.shape, np.float64, seed=14)
        np.testing.assert_allclose(
            cyconv.avg_pool1d_backward(gy, xf, 8193, stride, count_include_pad=cip, **kw),
            ref.avg_pool1d_backward(gy, xf, 8193, stride, count_include_pad=cip, **kw),
            rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_do_not_depend_on_the_row_prefetch(dtype):
    # the forward prefetches input rows ahead (hints only): off, tiny, default and far ahead
    # must give the same bits, reference-correct, including windows whose prefetch reaches
    # past the last plane, and 1-D / 3-D shapes (3-D windows skip the prefetch)
    x2 = _row_data((2, 3, 37, 41), dtype, seed=21)
    x1 = _row_data((2, 3, 53), dtype, seed=22)
    x3 = _row_data((1, 2, 5, 9, 11), dtype, seed=23)
    g2 = _data((2, 3, 18, 20), dtype, seed=24)
    calls = [
        (lambda: cyconv.max_pool2d(x2, 3, 2, 1), lambda: ref.max_pool2d(x2, 3, 2, 1)),
        (lambda: cyconv.avg_pool2d(x2, 3, 2, 1), lambda: ref.avg_pool2d(x2, 3, 2, 1)),
        (lambda: cyconv.avg_pool2d(x2, (2, 3), (3, 1), ceil_mode=True),
         lambda: ref.avg_pool2d(x2, (2, 3), (3, 1), ceil_mode=True)),
        (lambda: cyconv.max_pool1d(x1, 4, 3), lambda: ref.max_pool1d(x1, 4, 3)),
        (lambda: cyconv.avg_pool3d(x3, 2, 2), lambda: ref.avg_pool3d(x3, 2, 2)),
        # the 2-wide tiling max backward prefetches too (its input rows; in float64 also the
        # grad_x rows it writes, past the last plane at the end)
        (lambda: cyconv.max_pool2d_backward(g2, x2, 2, 2), lambda: ref.max_pool2d_backward(g2, x2, 2, 2)),
    ]
    previous = pool_kernels.set_prefetch_bytes(0)
    try:
        for fwd, rfwd in calls:
            expected = fwd()
            np.testing.assert_allclose(expected, rfwd(), rtol=1e-5 if dtype == np.float32 else 1e-12)
            for nbytes in (1, 4096, 1 << 20):
                pool_kernels.set_prefetch_bytes(nbytes)
                for threads in (1, 2):
                    np.testing.assert_array_equal(_with_threads(fwd, threads), expected)
                pool_kernels.set_prefetch_bytes(0)
    finally:
        pool_kernels.set_prefetch_bytes(previous)


def _with_threads(call, threads):
    with cyconv.threads(threads):
        return call()
