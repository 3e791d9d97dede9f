"""Extreme but valid arguments: index arithmetic beyond 2**31, absurd thread counts,
allocations that cannot succeed.

A real array whose flat index passes 2**31 needs 8+ GiB, so the index arithmetic is proven on
memory-light cases instead: huge padding/dilation/stride (or a huge pooling window) put every
position the kernels compute far beyond 2**31 while the arrays stay tiny. With 32-bit
arithmetic these would read out of bounds (or crash); in Py_ssize_t they match a by-hand sum.
"""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import cyconv
from cyconv import _shapes, _threads
from cyconv import reference as ref

BIG = 2**31


def _conv1d_by_hand(x, w, stride, pad, dilation, out_len):
    """y[n, o, i] = sum over channels and taps whose position (Python ints) is in the input."""
    y = np.zeros((x.shape[0], w.shape[0], out_len))
    for i, t in itertools.product(range(out_len), range(w.shape[2])):
        pos = i * stride - pad + t * dilation
        if 0 <= pos < x.shape[2]:
            y[:, :, i] += x[:, :, pos] @ w[:, :, t].T
    return y


@pytest.mark.parametrize("algorithm", ["direct", "im2col", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_positions_beyond_2_31(algorithm, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 4)).astype(dtype)
    # tap t of output i sits at i * 2**31 - 2**32 + t * (2**31 + 1): one tap per output lands
    # in the input (positions 2, 1, 0), every other one billions of elements away
    S, P, HI, D = BIG, 2 * BIG, 3 * BIG, BIG + 1
    kw = dict(stride=S, padding=((P, HI),), dilation=D)
    y = cyconv.conv1d(x, w, algorithm=algorithm, **kw)
    out_len = _shapes.conv_output_size(5, 4, S, (P, HI), D)
    assert y.shape == (2, 4, out_len) and out_len == 3
    want = _conv1d_by_hand(x.astype(np.float64), w.astype(np.float64), S, P, D, out_len)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert np.all(y != 0)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = cyconv.conv1d_backward(gy, x, w, algorithm=algorithm, **kw)
    # the gradient of sum(gy * y) by hand: every in-range tap contributes once
    gx = np.zeros(x.shape)
    gw = np.zeros(w.shape)
    for i, t in itertools.product(range(out_len), range(4)):
        pos = i * S - P + t * D
        if 0 <= pos < 5:
            gx[:, :, pos] += gy[:, :, i].astype(np.float64) @ w[:, :, t].astype(np.float64)
            gw[:, :, t] += gy[:, :, i].astype(np.float64).T @ x[:, :, pos].astype(np.float64)
    np.testing.assert_allclose(grads.grad_input, gx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads.grad_weight, gw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
def test_conv2d_padded_plane_beyond_2_31(algorithm):
    # the padded plane has ~2**42 elements: flat offsets need 64 bits
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 3, 4))
    w = rng.standard_normal((3, 2, 2, 2))
    kw = dict(stride=(2**20, 2**20), padding=((2**20, 2**20), (2**20 - 1, 2**20)),
              dilation=(2**20, 2**20 - 2))
    y = cyconv.conv2d(x, w, algorithm=algorithm, **kw)
    want = np.zeros(y.shape)
    for oh, ow, th, tw in itertools.product(range(y.shape[2]), range(y.shape[3]), range(2),
                                            range(2)):
        h = oh * 2**20 - 2**20 + th * 2**20
        v = ow * 2**20 - (2**20 - 1) + tw * (2**20 - 2)
        if 0 <= h < 3 and 0 <= v < 4:
            want[:, :, oh, ow] += x[:, :, h, v] @ w[:, :, th, tw].T
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert np.any(y != 0)


@pytest.mark.parametrize("ndim, k", [(1, 2**32 + 1), (2, 2**29 + 1)])
def test_pooling_window_beyond_2_31(ndim, k):
    # one window of k**ndim taps (> 2**31) centred on a tiny input: the kernels clip it
    x = np.random.default_rng(3).standard_normal((2, 3) + (3,) * ndim)
    pad = k // 2
    planes = x.reshape(2, 3, -1)
    fwd = {kind: getattr(cyconv, f"{kind}_pool{ndim}d") for kind in ("max", "min", "avg")}
    y, idx = fwd["max"](x, k, padding=pad, return_indices=True)
    assert y.shape == (2, 3) + (1,) * ndim
    np.testing.assert_array_equal(y.reshape(2, 3), planes.max(axis=2))
    np.testing.assert_array_equal(idx.reshape(2, 3), planes.argmax(axis=2))
    y, idx = fwd["min"](x, k, padding=pad, return_indices=True)
    np.testing.assert_array_equal(idx.reshape(2, 3), planes.argmin(axis=2))
    gx = getattr(cyconv, f"max_pool{ndim}d_backward")(np.ones(y.shape), x, k, padding=pad)
    np.testing.assert_array_equal(gx.reshape(2, 3, -1).sum(axis=2), np.ones((2, 3)))
    np.testing.assert_array_equal(gx.reshape(2, 3, -1).argmax(axis=2), planes.argmax(axis=2))
    # the vectorized row paths (values only, average) clip such windows to the row too
    np.testing.assert_array_equal(fwd["max"](x, k, padding=pad).reshape(2, 3),
                                  planes.max(axis=2))
    np.testing.assert_allclose(
        fwd["avg"](x, k, padding=pad, count_include_pad=False).reshape(2, 3),
        planes.mean(axis=2), rtol=1e-12)
    # count_include_pad divides by the whole window (it fits the padded input exactly)
    np.testing.assert_allclose(fwd["avg"](x, k, padding=pad).reshape(2, 3),
                               planes.sum(axis=2) / float(k) ** ndim, rtol=1e-12)
    np.testing.assert_allclose(
        getattr(cyconv, f"avg_pool{ndim}d_backward")(np.ones(y.shape), x, k, padding=pad),
        np.full(x.shape, 1 / float(k) ** ndim), rtol=1e-12)


@pytest.mark.parametrize("kind", ["max", "min", "avg"])
@pytest.mark.parametrize("stride", [10**7, 2**40])
def test_pooling_stride_far_beyond_the_input(kind, stride):
    # one window per dim; the scratch rows must not grow with the stride
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 6))
    y = getattr(cyconv, f"{kind}_pool2d")(x, 3, stride, 1)
    want = getattr(ref, f"{kind}_pool2d")(x, 3, stride, 1)
    np.testing.assert_allclose(y, want, rtol=1e-12)
    gy = np.ones(y.shape)
    np.testing.assert_allclose(getattr(cyconv, f"{kind}_pool2d_backward")(gy, x, 3, stride, 1),
                               getattr(ref, f"{kind}_pool2d_backward")(gy, x, 3, stride, 1),
                               rtol=1e-12)


@pytest.mark.parametrize("arg, value", [("stride", 2**61), ("padding", 2**61),
                                        ("dilation", 2**61), ("padding", ((0, 2**61),))])
def test_values_that_could_overflow_64_bit_indices_are_rejected(arg, value):
    x, w = np.ones((1, 1, 4)), np.ones((1, 1, 2))
    with pytest.raises(ValueError, match=arg):
        cyconv.conv1d(x, w, **{arg: value})
    with pytest.raises(ValueError, match="padding|kernel_size"):
        cyconv.max_pool1d(x, 2**61 + 1, padding=2**60)


def test_padded_grid_beyond_2_60_elements_is_rejected():
    # each pad is allowed, their product over three dims is not
    x, w = np.ones((1, 1, 2, 2, 2)), np.ones((1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="padding"):
        cyconv.conv3d(x, w, padding=2**21)
    cyconv.conv3d(x, w, padding=2**18, stride=2**18)  # ~2**57 elements: fine, and tiny


def test_implicit_workspace_that_cannot_be_allocated_raises_memory_error():
    # 'implicit' copies x onto the padded grid: here 64 channels x 2**42 elements
    x = np.ones((1, 64, 1, 7), np.float32)
    w = np.ones((64, 64, 1, 3), np.float32)
    with pytest.raises(MemoryError):
        cyconv.conv2d(x, w, padding=((0, 0), (BIG, BIG)), stride=(1, BIG),
                      dilation=(1, 2**30), algorithm="implicit")


def test_output_that_cannot_be_allocated_raises_memory_error():
    # a valid 1x1 convolution whose output would need 2**45 bytes: MemoryError, no kernel runs
    x = np.ones((1, 1, 1), np.float32)
    w = np.lib.stride_tricks.as_strided(np.ones(1, np.float32), (2**40, 1, 1), (0, 0, 0))
    with pytest.raises(MemoryError):
        cyconv.conv1d(x, w, padding=2)


@pytest.mark.parametrize("n", [10**6, 2**40])
def test_absurd_thread_counts_are_capped_not_fatal(n):
    x = np.random.default_rng(4).standard_normal((2, 3, 8, 8))
    w = np.random.default_rng(5).standard_normal((4, 3, 3, 3))
    want = cyconv.conv2d(x, w, num_threads=1)
    np.testing.assert_array_equal(cyconv.conv2d(x, w, num_threads=n), want)
    np.testing.assert_array_equal(cyconv.max_pool2d(x, 2, num_threads=n),
                                  cyconv.max_pool2d(x, 2, num_threads=1))
    assert _threads.resolve(n) == _threads.MAX_THREADS


def test_absurd_omp_num_threads_is_capped_not_fatal():
    code = ("import numpy as np, cyconv; x = np.ones((2, 3, 8, 8)); w = np.ones((4, 3, 3, 3));"
            "print(cyconv.get_num_threads(), float(cyconv.conv2d(x, w).sum()))")
    env = dict(os.environ, OMP_NUM_THREADS="1000000")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1000000", str(2.0 * 3 * 9 * 4 * 36)]


@pytest.mark.parametrize("pool", ["max_pool1d", "min_pool1d"])
def test_pool_window_with_no_input_element_gives_an_infinity_and_no_gradient(pool):
    # taps at -1 and +1 around a single element: the window holds padding only. PyTorch returns
    # -inf for max (index 1, out of range: its own backward then writes past the plane); cyconv
    # returns -inf for max, +inf for min, index -1, and routes no gradient from it
    x = np.array([[[5.0]]])
    fill = -np.inf if pool == "max_pool1d" else np.inf
    for module in (cyconv, ref):
        y, indices = getattr(module, pool)(x, 2, padding=1, dilation=2, return_indices=True)
        np.testing.assert_array_equal(y, [[[fill]]])
        np.testing.assert_array_equal(indices, [[[-1]]])
        for kw in ({}, {"indices": indices}):
            np.testing.assert_array_equal(
                getattr(module, pool + "_backward")(np.ones((1, 1, 1)), x, 2, padding=1,
                                                    dilation=2, **kw), [[[0.0]]])
    # windows with and without input elements in one row, float32 too
    x = np.arange(1.0, 4.0, dtype=np.float32).reshape(1, 1, 3)
    y, indices = getattr(cyconv, pool)(x, 2, 1, 1, 4, return_indices=True)
    np.testing.assert_array_equal(y, [[[fill]]])
    np.testing.assert_array_equal(indices, [[[-1]]])
    x = np.arange(12.0).reshape(1, 1, 12)
    y, indices = getattr(cyconv, pool)(x, 2, 1, 1, 3, return_indices=True)
    np.testing.assert_array_equal(y, getattr(ref, pool)(x, 2, 1, 1, 3))
    assert indices.min() >= 0  # every window reaches the input
    # an index below -1 is still refused
    with pytest.raises(ValueError, match="indices"):
        getattr(cyconv, pool + "_backward")(np.ones((1, 1, 1)), np.array([[[5.0]]]), 2,
                                            padding=1, dilation=2,
                                            indices=np.array([[[-2]]], dtype=np.int64))


@pytest.mark.parametrize("kwargs, word", [
    (dict(x=np.ones((1, 2, 3, 3, 3, 3), np.float32)), "x"),
    (dict(repeats="abc"), "repeats"), (dict(repeats=0), "repeats"), (dict(repeats=None), "repeats"),
    (dict(backward="yes"), "backward"), (dict(num_threads=0), "num_threads"),
])
def test_tune_rejects_bad_arguments_naming_them(kwargs, word):
    # a 4-D spatial x used to reach the kernels and fail there ("No matching signature found")
    args = dict(x=np.ones((1, 2, 6, 6), np.float32), weight=np.ones((2, 2, 3, 3), np.float32))
    args.update(kwargs)
    if args["x"].ndim == 6:
        args["weight"] = np.ones((2, 2, 3, 3, 3, 3), np.float32)
    with pytest.raises((ValueError, TypeError), match=word):
        cyconv.tune(**args)
