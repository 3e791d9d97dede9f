"""unfold / fold (im2col / col2im) and their gradients, 1-D to 3-D: the kernels against
cyconv.reference, PyTorch (2-D), the adjoint identity and finite differences; thread-count
independence, array-likes, unbatched inputs, ``out=``, degenerate shapes and bad arguments."""
import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
from cyconv import reference as ref
from test_adaptive_pool import _fd_check  # <gy, f(x)> by central differences

DTYPES = [np.float32, np.float64]
# Accuracy contract (README): error within tol * (the same op on |terms|).
TOL = {np.float32: 2e-6, np.float64: 1e-12}

# (image shape (N, C, *spatial), kernel_size, keyword arguments)
CASES = [
    ((2, 3, 11), (3,), {}),
    ((1, 2, 1), (1,), {}),                                         # size 1
    ((2, 2, 13), (2,), dict(stride=5)),                            # stride > kernel
    ((3, 1, 9), (3,), dict(dilation=3, padding=2, stride=2)),
    ((1, 2, 4), (5,), dict(padding=((2, 1),))),                    # kernel > input, per-side pads
    ((2, 3, 7, 9), 3, {}),                                         # int kernel_size: 2-D
    ((2, 3, 7, 9), (2, 3), dict(dilation=(2, 1), padding=(1, 2), stride=(2, 3))),
    ((1, 1, 1, 1), 1, {}),
    ((1, 2, 1, 6), (1, 3), dict(padding=(0, 1))),
    ((2, 2, 5, 5), 2, dict(stride=4)),                             # gaps between blocks
    ((1, 2, 3, 4), 5, dict(padding=2)),                            # kernel > input
    ((1, 2, 6, 7), 3, dict(padding="same")),
    ((2, 1, 5, 6), (3, 2), dict(padding=((2, 0), (0, 3)), dilation=2)),
    ((1, 2, 4, 5, 6), (2, 3, 2), {}),
    ((2, 1, 5, 4, 6), (3, 2, 3), dict(stride=(2, 1, 3), dilation=(1, 2, 1), padding=1)),
    ((1, 2, 1, 1, 1), (1, 1, 1), {}),
    ((1, 1, 3, 3, 3), (2, 2, 2), dict(stride=3, padding=1)),       # stride > kernel, 3-D
]


def _id(case):
    shape, kernel, kw = case
    return f"{'x'.join(map(str, shape))}-k{kernel}-" + "-".join(f"{k}{v}" for k, v in kw.items())


def _data(case, dtype, seed=0):
    shape, kernel, kw = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    cols = ref.unfold(x, kernel, **kw)
    gy = rng.standard_normal(cols.shape).astype(dtype)
    return x, kernel, kw, gy


def _close(got, want, bound, dtype):
    assert got.shape == want.shape and got.dtype == dtype
    assert np.all(np.abs(got - want) <= TOL[np.dtype(dtype).type] * bound + 1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_kernels_match_the_reference(case, dtype):
    x, kernel, kw, cols = _data(case, dtype)
    size = x.shape[2:]
    # unfold and fold_backward copy: exact
    got = cyconv.unfold(x, kernel, **kw)
    np.testing.assert_array_equal(got, ref.unfold(x, kernel, **kw))
    assert got.dtype == dtype and got.flags.c_contiguous
    gy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(cyconv.fold_backward(gy, cols, size, kernel, **kw),
                                  ref.fold_backward(gy, cols, size, kernel, **kw))
    # fold and unfold_backward sum: within the contract of the float64 reference
    cols64 = cols.astype(np.float64)
    want = ref.fold(cols64, size, kernel, **kw)
    bound = ref.fold(np.abs(cols64), size, kernel, **kw)
    _close(cyconv.fold(cols, size, kernel, **kw), want, bound, dtype)
    _close(cyconv.unfold_backward(cols, x, kernel, **kw), want, bound, dtype)
    _close(ref.fold(cols, size, kernel, **kw), want, bound, dtype)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_unfold_and_fold_are_adjoint(case):
    x, kernel, kw, y = _data(case, np.float64)
    lhs = np.vdot(cyconv.unfold(x, kernel, **kw), y)
    rhs = np.vdot(x, cyconv.fold(y, x.shape[2:], kernel, **kw))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
@pytest.mark.parametrize("case", [CASES[3], CASES[6], CASES[12], CASES[14]], ids=_id)
def test_finite_differences(case, module):
    x, kernel, kw, cols = _data(case, np.float64)
    rng = np.random.default_rng(5)
    size = x.shape[2:]
    _fd_check(lambda a: module.unfold(a, kernel, **kw),
              lambda g, a: module.unfold_backward(g, a, kernel, **kw), x, rng)
    _fd_check(lambda a: module.fold(a, size, kernel, **kw),
              lambda g, a: module.fold_backward(g, a, size, kernel, **kw), cols, rng)


def test_results_are_bitwise_identical_for_any_thread_count():
    for case in (((2, 8, 20, 20), 3, dict(padding=1)),
                 ((1, 3, 9, 10, 11), (3, 2, 3), dict(stride=(1, 2, 1), padding=1))):
        x, kernel, kw, cols = _data(case, np.float32)
        size = x.shape[2:]
        assert math.prod(cols.shape) >= cyconv._threads.SMALL_POOL_ELEMENTS  # really threaded
        ops = [lambda n: cyconv.unfold(x, kernel, **kw, num_threads=n),
               lambda n: cyconv.fold(cols, size, kernel, **kw, num_threads=n),
               lambda n: cyconv.unfold_backward(cols, x, kernel, **kw, num_threads=n),
               lambda n: cyconv.fold_backward(x, cols, size, kernel, **kw, num_threads=n)]
        for op in ops:
            want = op(1)
            for n in (2, 3, 5):
                np.testing.assert_array_equal(op(n), want)
            with cyconv.threads(2):
                np.testing.assert_array_equal(op(None), want)


def test_small_calls_run_on_one_thread():
    api = sys.modules["cyconv.fold"]  # the module (cyconv.fold is the function)
    x = np.ones((1, 2, 5, 5))
    assert api._validated("unfold", (x,), (3, 1, 0, 1), 4,
                          lambda: cyconv._fold_params.unfold_params(x, 3, 1, 0, 1))[2] == 1
    big = np.ones((2, 8, 20, 20))
    assert api._validated("unfold", (big,), (3, 1, 1, 1), 4,
                          lambda: cyconv._fold_params.unfold_params(big, 3, 1, 1, 1))[2] == 4


# ---- PyTorch ------------------------------------------------------------------------------------

@st.composite
def torch_configs(draw):
    per_dim = [st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 4)]
    kernel, dilation, padding, stride = (tuple(draw(s) for _ in range(2)) for s in per_dim)
    shape = (draw(st.integers(0, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    return dict(shape=shape, kw=dict(kernel_size=kernel, dilation=dilation, padding=padding,
                                     stride=stride),
                dtype=draw(st.sampled_from(DTYPES)), seed=draw(st.integers(0, 2**16)))


@given(torch_configs())
def test_random_configurations_match_torch(cfg):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(cfg["seed"]).standard_normal(cfg["shape"]).astype(cfg["dtype"])
    kw, size = cfg["kw"], cfg["shape"][2:]
    try:
        want = F.unfold(torch.from_numpy(x), **kw).numpy()
    except RuntimeError:  # no sliding block fits: torch refuses, and so does cyconv
        with pytest.raises(ValueError, match="sliding blocks"):
            cyconv.unfold(x, **kw)
        return
    got = cyconv.unfold(x, **kw)
    np.testing.assert_array_equal(got, want)
    cols = np.random.default_rng(cfg["seed"] + 1).standard_normal(got.shape).astype(x.dtype)
    want = F.fold(torch.from_numpy(cols), size, **kw).numpy()
    bound = ref.fold(np.abs(cols.astype(np.float64)), size, **kw)
    _close(cyconv.fold(cols, size, **kw), want, bound, x.dtype)
    # the gradients torch's autograd computes
    xt = torch.from_numpy(x).requires_grad_()
    F.unfold(xt, **kw).backward(torch.from_numpy(cols))
    _close(cyconv.unfold_backward(cols, x, **kw), xt.grad.numpy(), bound, x.dtype)
    ct = torch.from_numpy(cols).requires_grad_()
    F.fold(ct, size, **kw).backward(torch.from_numpy(x))
    np.testing.assert_array_equal(cyconv.fold_backward(x, cols, size, **kw), ct.grad.numpy())


def test_unbatched_and_torch_layout():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(0).standard_normal((3, 6, 7)).astype(np.float32)
    cols = cyconv.unfold(x, 3, padding=1)
    np.testing.assert_array_equal(cols, F.unfold(torch.from_numpy(x), 3, padding=1).numpy())
    np.testing.assert_array_equal(cyconv.fold(cols, (6, 7), 3, padding=1),
                                  F.fold(torch.from_numpy(cols), (6, 7), 3, padding=1).numpy())
    # torch CPU tensors in
    np.testing.assert_array_equal(cyconv.unfold(torch.from_numpy(x), 3, padding=1), cols)


# ---- unbatched, array-likes, out= -----------------------------------------------------------------

@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
@pytest.mark.parametrize("case", [CASES[0], CASES[6], CASES[14]], ids=_id)
def test_unbatched_call_is_the_batched_call_of_one(case, module):
    x, kernel, kw, cols = _data(case, np.float64)
    x, cols = x[:1], cols[:1]
    size = x.shape[2:]
    gy = np.ones_like(x)
    pairs = [(module.unfold(x[0], kernel, **kw), module.unfold(x, kernel, **kw)),
             (module.fold(cols[0], size, kernel, **kw), module.fold(cols, size, kernel, **kw)),
             (module.unfold_backward(cols[0], x[0], kernel, **kw),
              module.unfold_backward(cols, x, kernel, **kw)),
             (module.fold_backward(gy[0], cols[0], size, kernel, **kw),
              module.fold_backward(gy, cols, size, kernel, **kw))]
    for got, want in pairs:
        assert got.shape == want.shape[1:]
        np.testing.assert_array_equal(got, want[0])


def test_the_spatial_rank_comes_from_kernel_size_or_output_size():
    x = np.arange(2 * 3 * 8, dtype=np.float64).reshape(2, 3, 8)
    # 3-D x: an int kernel_size is 2-D unbatched (PyTorch); a 1-tuple is 1-D batched
    assert cyconv.unfold(x, 2).shape == (2 * 4, 2 * 7)
    assert cyconv.unfold(x, (2,)).shape == (2, 6, 7)
    assert cyconv.unfold(x[None], (2, 2)).shape == (1, 8, 14)
    cols = cyconv.unfold(x, (2,))
    assert cyconv.fold(cols, (8,), 2).shape == (2, 3, 8)      # rank from output_size
    assert cyconv.fold(cols, 8, (2,)).shape == (2, 3, 8)      # or from kernel_size
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\).*2-D unfold.*tuple"):
        cyconv.unfold(np.ones((1, 1, 4, 4, 4, 4)), 2)
    with pytest.raises(ValueError, match="kernel_size .* one entry per dim of output_size"):
        cyconv.fold(cols, (8,), (2, 2))
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 1 to 3"):
        cyconv.unfold(np.ones((1, 1, 2, 2, 2, 2)), (1, 1, 1, 1))


def test_array_likes():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    cols = cyconv.unfold(x, 2)
    np.testing.assert_array_equal(cyconv.unfold(x.tolist(), 2), cols)
    np.testing.assert_array_equal(ref.unfold(x.tolist(), 2), cols)
    np.testing.assert_array_equal(cyconv.fold(cols.tolist(), (4, 5), 2), cyconv.fold(cols, (4, 5), 2))
    np.testing.assert_array_equal(cyconv.unfold_backward(cols.tolist(), x.tolist(), 2),
                                  cyconv.unfold_backward(cols, x, 2))


@pytest.mark.parametrize("unbatched", [False, True])
def test_out_is_written_whole_and_returned(unbatched):
    x, kernel, kw, cols = _data(CASES[12], np.float64)
    if unbatched:
        x, cols = x[0], cols[0]
    size = x.shape[-2:]
    calls = [(lambda out: cyconv.unfold(x, kernel, **kw, out=out), ref.unfold(x, kernel, **kw)),
             (lambda out: cyconv.fold(cols, size, kernel, **kw, out=out),
              ref.fold(cols, size, kernel, **kw)),
             (lambda out: cyconv.unfold_backward(cols, x, kernel, **kw, out=out),
              ref.unfold_backward(cols, x, kernel, **kw)),
             (lambda out: cyconv.fold_backward(x, cols, size, kernel, **kw, out=out),
              ref.fold_backward(x, cols, size, kernel, **kw))]
    for call, want in calls:
        out = np.full_like(want, np.nan)  # every element must be written
        assert call(out) is out
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_bad_out_is_rejected():
    x = np.ones((1, 2, 4, 4))
    cols = cyconv.unfold(x, 2)
    with pytest.raises(ValueError, match=r"out must have shape \(1, 8, 9\)"):
        cyconv.unfold(x, 2, out=np.empty((1, 8, 10)))
    with pytest.raises(ValueError, match="out must have shape .* dtype float64"):
        cyconv.fold(cols, 4, 2, out=np.empty((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        cyconv.unfold(x, 2, out=np.empty((1, 9, 8)).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="overlap"):
        cyconv.fold_backward(x, cols, 4, 2, out=cols)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        cyconv.unfold(x, 2, out=cols.tolist())


# ---- degenerate shapes and bad arguments --------------------------------------------------------

@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
def test_empty_batch(module):
    x = np.ones((0, 3, 5, 5), np.float32)
    cols = module.unfold(x, 3)
    assert cols.shape == (0, 27, 9) and cols.dtype == np.float32
    assert module.fold(cols, 5, 3).shape == (0, 3, 5, 5)
    assert module.unfold_backward(cols, x, 3).shape == x.shape
    assert module.fold_backward(x, cols, 5, 3).shape == cols.shape


@pytest.mark.parametrize("module", [cyconv, ref], ids=["kernels", "reference"])
def test_bad_arguments_raise_naming_them(module):
    x = np.ones((2, 3, 5, 5))
    cols = np.ones((2, 27, 9))
    bad = [
        (lambda: module.unfold(x.astype(np.int64), 3), TypeError, "x must have dtype float32"),
        (lambda: module.fold(cols.astype(np.int32), 5, 3), TypeError, "x must have dtype"),
        (lambda: module.unfold(x, 6), ValueError, "sliding blocks per dim would be"),
        (lambda: module.unfold(x, 3, dilation=3), ValueError, "does not fit"),
        (lambda: module.unfold(x[:, :0], 3), ValueError, "non-empty channel"),
        (lambda: module.unfold(x[:, :, :0], 3), ValueError, "non-empty channel and spatial"),
        (lambda: module.unfold(x, 0), ValueError, "kernel_size must be positive"),
        (lambda: module.unfold(x, 3, stride=(1, 2, 3)), ValueError, "stride"),
        (lambda: module.unfold(x, 3, padding=-1), ValueError, "padding"),
        (lambda: module.unfold(x, 3, dilation=0), ValueError, "dilation"),
        (lambda: module.unfold(x, 2.5), TypeError, "kernel_size"),
        (lambda: module.fold(cols[:, :26], 5, 3), ValueError, "not divisible by prod"),
        (lambda: module.fold(cols[:, :, :8], 5, 3), ValueError, r"L = 8 blocks .* 3 \* 3 = 9"),
        (lambda: module.fold(cols[:, :, :0], 5, 3), ValueError, "non-empty"),
        (lambda: module.fold(cols[:, :0], 5, 3), ValueError, "non-empty"),
        (lambda: module.fold(cols, 2, 3), ValueError, "does not fit in output_size"),
        (lambda: module.fold(cols, 0, 3), ValueError, "output_size must be positive"),
        (lambda: module.fold(cols[0, 0], 5, 3), ValueError, "x must be 3-D"),
        (lambda: module.unfold_backward(cols[:, :, :8], x, 3), ValueError,
         r"grad_output must have shape \(2, 27, 9\) \(the unfold output"),
        (lambda: module.unfold_backward(cols.astype(np.float32), x, 3), TypeError,
         "grad_output must have dtype float64"),
        (lambda: module.fold_backward(x[:, :2], cols, 5, 3), ValueError,
         r"grad_output must have shape \(2, 3, 5, 5\)"),
    ]
    for call, kind, message in bad:
        with pytest.raises(kind, match=message):
            call()


def test_a_kernel_larger_than_the_padded_input_is_refused_as_by_torch():
    torch = pytest.importorskip("torch")
    x = np.ones((1, 1, 2, 5))
    with pytest.raises(RuntimeError):
        torch.nn.functional.unfold(torch.from_numpy(x), 3)
    with pytest.raises(ValueError, match="sliding blocks"):
        cyconv.unfold(x, 3)
    assert cyconv.unfold(x, 3, padding=1).shape == (1, 9, 10)  # padding makes room
