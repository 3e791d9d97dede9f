"""Pooling kernels against cyconv.reference (and PyTorch when installed)."""
import numpy as np
import pytest

import cyconv
from cyconv import reference as ref

DTYPES = [np.float32, np.float64]
EXTREMA = [
    ("max", cyconv.max_pool2d, cyconv.max_pool2d_backward, ref.max_pool2d, ref.max_pool2d_backward),
    ("min", cyconv.min_pool2d, cyconv.min_pool2d_backward, ref.min_pool2d, ref.min_pool2d_backward),
]

# (input shape, kernel_size, stride, padding, dilation, ceil_mode)
CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((1, 2, 11, 10), 3, 2, 1, 1, True),                   # ceil_mode with overhang
    ((7, 1, 9, 13), (2, 3), (1, 2), (1, 1), 1, True),      # batch 7, non-square
    ((2, 2, 12, 12), 3, 1, 1, 2, False),                  # dilation
    ((1, 3, 10, 10), 2, 3, 0, 1, False),                  # stride > kernel
    ((2, 2, 7, 9), 3, 2, ((1, 0), (0, 1)), 1, True),      # asymmetric per-side padding
    ((1, 1, 5, 5), 1, 1, 0, 1, False),
    ((2, 4, 15, 6), (3, 2), 2, (1, 0), (1, 2), True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind, fwd, bwd, rfwd, rbwd", EXTREMA, ids=[e[0] for e in EXTREMA])
def test_extremum_matches_reference_exactly(kind, fwd, bwd, rfwd, rbwd, case, dtype):
    shape, k, s, p, d, cm = case
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    y, idx = fwd(x, k, s, p, d, ceil_mode=cm, return_indices=True)
    yr, idxr = rfwd(x, k, s, p, d, ceil_mode=cm, return_indices=True)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(idx, idxr)
    assert y.dtype == dtype and idx.dtype == np.int64
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    g = bwd(gy, x, k, s, p, d, ceil_mode=cm)
    g_idx = bwd(gy, x, k, s, p, d, ceil_mode=cm, indices=idx)
    gr = rbwd(gy, x, k, s, p, d, ceil_mode=cm)
    np.testing.assert_array_equal(g, g_idx)
    # overlapping windows add several gradients into one input: the same additions, maybe in
    # another order than np.add.at
    np.testing.assert_allclose(g, gr, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", [c for c in CASES if c[4] == 1])
def test_avg_matches_reference(case, count_include_pad, dtype):
    shape, k, s, p, _, cm = case
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    y = cyconv.avg_pool2d(x, k, s, p, ceil_mode=cm, count_include_pad=count_include_pad)
    yr = ref.avg_pool2d(x.astype(np.float64), k, s, p, ceil_mode=cm,
                        count_include_pad=count_include_pad)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, yr, rtol=tol, atol=tol)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    g = cyconv.avg_pool2d_backward(gy, x, k, s, p, ceil_mode=cm, count_include_pad=count_include_pad)
    gr = ref.avg_pool2d_backward(gy.astype(np.float64), x.astype(np.float64), k, s, p,
                                 ceil_mode=cm, count_include_pad=count_include_pad)
    np.testing.assert_allclose(g, gr, rtol=tol, atol=tol)


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


def test_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8) / 10.0  # distinct values: no ties
    eps = 1e-6
    for fwd, bwd, kw in (
            (cyconv.max_pool2d, cyconv.max_pool2d_backward, dict(kernel_size=3, stride=2, padding=1)),
            (cyconv.min_pool2d, cyconv.min_pool2d_backward, dict(kernel_size=2, stride=1)),
            (cyconv.avg_pool2d, cyconv.avg_pool2d_backward,
             dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
            (ref.avg_pool2d, ref.avg_pool2d_backward, dict(kernel_size=(2, 3), stride=1, padding=(1, 1))),
            (ref.max_pool2d, ref.max_pool2d_backward, dict(kernel_size=2, stride=1))):
        gy = rng.standard_normal(fwd(x, **kw).shape)
        grad = bwd(gy, x, **kw)
        v = rng.standard_normal(x.shape)
        numeric = (np.sum(gy * fwd(x + eps * v, **kw)) - np.sum(gy * fwd(x - eps * v, **kw))) / (2 * eps)
        assert numeric == pytest.approx(np.sum(grad * v), rel=1e-6, abs=1e-8)


def test_thread_count_does_not_change_results():
    x = np.random.default_rng(4).standard_normal((3, 5, 17, 19)).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        y, idx = cyconv.max_pool2d(x, 3, 2, 1, return_indices=True, num_threads=n)
        a = cyconv.avg_pool2d(x, 3, 2, 1, num_threads=n)
        ga = cyconv.avg_pool2d_backward(np.ones_like(a), x, 3, 2, 1, num_threads=n)
        gm = cyconv.max_pool2d_backward(np.ones_like(y), x, 3, 2, 1, num_threads=n)
        outs.append((y, idx, a, ga, gm))
    for other in outs[1:]:
        for u, v in zip(outs[0], other):
            np.testing.assert_array_equal(u, v)


def test_non_contiguous_empty_and_unmodified():
    base = np.random.default_rng(5).standard_normal((2, 6, 10, 12))
    x = base[:, ::2, :, ::-1].transpose(0, 1, 3, 2)
    before = x.copy()
    np.testing.assert_array_equal(cyconv.max_pool2d(x, 2), ref.max_pool2d(x, 2))
    np.testing.assert_allclose(cyconv.avg_pool2d(x, 3, 2, 1), ref.avg_pool2d(x, 3, 2, 1), rtol=1e-14)
    np.testing.assert_array_equal(x, before)
    empty = np.zeros((0, 3, 8, 8), np.float32)
    assert cyconv.max_pool2d(empty, 2).shape == (0, 3, 4, 4)
    assert cyconv.avg_pool2d_backward(np.zeros((0, 3, 4, 4), np.float32), empty, 2).shape == empty.shape


def _torch_compatible(case):
    padding = case[3]
    return isinstance(padding, int) or all(isinstance(v, int) for v in padding)


TORCH_CASES = [c for c in CASES if _torch_compatible(c)]  # torch has no per-side padding


class TestAgainstTorch:
    torch = pytest.importorskip("torch")
    F = pytest.importorskip("torch.nn.functional")

    @pytest.mark.parametrize("case", TORCH_CASES)
    def test_max_pool_and_indices(self, case):
        shape, k, s, p, d, cm = case
        x = np.random.default_rng(0).standard_normal(shape)
        y, idx = cyconv.max_pool2d(x, k, s, p, d, ceil_mode=cm, return_indices=True)
        yt, it = self.F.max_pool2d(self.torch.from_numpy(x), k, s, p, d, ceil_mode=cm, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(idx, it.numpy())

    @pytest.mark.parametrize("count_include_pad", [True, False])
    @pytest.mark.parametrize("case", [c for c in TORCH_CASES if c[4] == 1])
    def test_avg_pool(self, case, count_include_pad):
        shape, k, s, p, _, cm = case
        x = np.random.default_rng(0).standard_normal(shape)
        xt = self.torch.from_numpy(x).requires_grad_()
        yt = self.F.avg_pool2d(xt, k, s, p, ceil_mode=cm, count_include_pad=count_include_pad)
        gy = np.random.default_rng(1).standard_normal(tuple(yt.shape))
        yt.backward(self.torch.from_numpy(gy))
        y = cyconv.avg_pool2d(x, k, s, p, ceil_mode=cm, count_include_pad=count_include_pad)
        g = cyconv.avg_pool2d_backward(gy, x, k, s, p, ceil_mode=cm, count_include_pad=count_include_pad)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: cyconv.max_pool2d(x[0], 2), ValueError, r"x must be 4-D"),
    (lambda x: cyconv.max_pool2d(x.astype(np.int64), 2), TypeError, r"x must have dtype float32 or float64"),
    (lambda x: cyconv.avg_pool2d(x.astype(np.complex128), 2), TypeError, r"x must have dtype"),
    (lambda x: cyconv.max_pool2d(x, 0), ValueError, r"kernel_size must be positive"),
    (lambda x: cyconv.max_pool2d(x, 2, 0), ValueError, r"stride must be positive"),
    (lambda x: cyconv.max_pool2d(x, 2, dilation=0), ValueError, r"dilation must be positive"),
    (lambda x: cyconv.avg_pool2d(x, 2, padding=-1), ValueError, r"padding must be >= 0"),
    (lambda x: cyconv.max_pool2d(x, 2, padding=2), ValueError, r"padding .* at most half of kernel_size"),
    (lambda x: cyconv.max_pool2d(x, 9), ValueError, r"output size .* too small"),
    (lambda x: cyconv.max_pool2d(x, 2, ceil_mode=1), TypeError, r"ceil_mode must be a bool"),
    (lambda x: cyconv.avg_pool2d(x, 2, count_include_pad="no"), TypeError, r"count_include_pad must be a bool"),
    (lambda x: cyconv.max_pool2d(x, 2, num_threads=-1), ValueError, r"num_threads must be a positive int"),
    (lambda x: cyconv.max_pool2d_backward(np.ones((2, 3, 4, 3)), x, 2), ValueError, r"grad_output must have shape \(2, 3, 4, 4\)"),
    (lambda x: cyconv.avg_pool2d_backward(np.ones((2, 3, 4, 4), np.float32), x, 2), TypeError, r"grad_output must have dtype float64"),
    (lambda x: cyconv.max_pool2d_backward(np.ones((2, 3, 4, 4)), x, 2, indices=np.zeros((2, 3, 4, 4), np.int32)), TypeError, r"indices must be the int64 array"),
    (lambda x: cyconv.max_pool2d_backward(np.ones((2, 3, 4, 4)), x, 2, indices=np.zeros((2, 3, 4, 3), np.int64)), ValueError, r"indices must have shape"),
    (lambda x: cyconv.max_pool2d_backward(np.ones((2, 3, 4, 4)), x, 2, indices=np.full((2, 3, 4, 4), 64)), ValueError, r"indices must lie in \[0, 64\)"),
])
def test_validation(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.ones((2, 3, 8, 8)))


@pytest.mark.parametrize("shape, k", [((2, 3, 10, 37), 2), ((1, 2, 11, 31), 3), ((2, 2, 9, 40), (3, 2))])
@pytest.mark.parametrize("kind, fwd, bwd, rfwd, rbwd", EXTREMA, ids=[e[0] for e in EXTREMA])
def test_backward_when_windows_tile_the_input(kind, fwd, bwd, rfwd, rbwd, shape, k):
    """stride == kernel, no padding: the streaming backward (uncovered rows/columns zeroed)."""
    x = np.round(np.random.default_rng(7).standard_normal(shape) * 2)  # many ties
    x[0, 0, 1, 3] = np.nan
    y, idx = fwd(x, k, return_indices=True)
    gy = np.random.default_rng(8).standard_normal(y.shape)
    g = bwd(gy, x, k)
    np.testing.assert_array_equal(g, bwd(gy, x, k, indices=idx))
    np.testing.assert_array_equal(g, rbwd(gy, x, k))
