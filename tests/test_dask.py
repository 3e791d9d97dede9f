"""cyconv.dask against the single cyconv call on the same data (synchronous scheduler).

Property tests draw random shapes, strides, dilations, padding forms and modes, groups, kernels larger
than some chunks and uneven chunks along N and every spatial dim. Pooling, forward and
backward, must be bitwise equal to the single call (each output element comes from the same
window in the same order). Convolutions agree within the accuracy contract: a block's width
decides which elements take the kernels' vector lanes or scalar tails, the algorithm 'auto'
picks may differ per block, and weight/bias gradients are sums over blocks.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dask  # the test extra installs dask[array] and distributed
import dask.array as da

import cyconv
import cyconv.dask as cd
from cyconv import _shapes

TOL = {np.float32: 2e-6, np.float64: 1e-12}
DTYPES = st.sampled_from([np.float32, np.float64])


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


@st.composite
def chunkings(draw, size, last_at_least=1):
    """Uneven chunks of ``size``: some of a single element, some larger than a kernel."""
    last = draw(st.integers(min(last_at_least, size), size))
    chunks, left = [], size - last
    while left:
        c = draw(st.integers(1, left))
        chunks.append(c)
        left -= c
    return tuple(chunks) + (last,)


@st.composite
def paddings(draw, kernel, dilation, ndim, *, pool):
    forms = ["int", "pairs"] + ([] if pool else ["valid", "same", "full"]
                                + (["causal"] if ndim == 1 else []))
    form = draw(st.sampled_from(forms))
    limit = [k // 2 if pool else d * (k - 1) + 2 for k, d in zip(kernel, dilation)]
    if form == "int":
        return draw(st.integers(0, min(limit)))
    if form == "pairs":
        return tuple((draw(st.integers(0, lim)), draw(st.integers(0, lim))) for lim in limit)
    return form


def _sizes(draw, kernel, dilation, stride, padding, largest):
    sizes = []
    for i, (k, d) in enumerate(zip(kernel, dilation)):
        pads = _shapes.resolve_padding(padding, kernel, dilation, stride, (largest,) * len(kernel))[i]
        smallest = max(1, d * (k - 1) + 1 - pads[0] - pads[1])
        if padding == "same" and stride[i] > 1:
            smallest = 1
        sizes.append(draw(st.integers(smallest, max(smallest, largest))))
    return tuple(sizes)


def _chunked(draw, a, last_at_least=None):
    last_at_least = last_at_least or (1,) * a.ndim
    chunks = tuple(draw(chunkings(s, m)) if i != 1 else (s,)
                   for i, (s, m) in enumerate(zip(a.shape, last_at_least)))
    return da.from_array(a, chunks=chunks)


def _per_dim(draw, ndim, strategy):
    return tuple(draw(strategy) for _ in range(ndim))


@st.composite
def conv_cases(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 30, 2: 13, 3: 7}[ndim]
    groups = draw(st.sampled_from([1, 1, 2]))
    cig, cog = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = _per_dim(draw, ndim, st.integers(1, 5 if ndim < 3 else 3))
    dilation = _per_dim(draw, ndim, st.integers(1, 3))
    stride = _per_dim(draw, ndim, st.integers(1, 4))
    padding = draw(paddings(kernel, dilation, ndim, pool=False))
    sizes = _sizes(draw, kernel, dilation, stride, padding, largest)
    dtype = draw(DTYPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 4)), cig * groups) + sizes).astype(dtype)
    w = rng.standard_normal((cog * groups, cig) + kernel).astype(dtype)
    b = rng.standard_normal(cog * groups).astype(dtype) if draw(st.booleans()) else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
              flip=draw(st.booleans()), algorithm=draw(st.sampled_from(["auto", "direct",
                                                                        "im2col", "implicit"])))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    pads = _shapes.resolve_padding(padding, kernel, dilation, stride, sizes)
    if all(max(pair) < size if mode == "reflect" else max(pair) <= size
           for pair, size in zip(pads, sizes)):
        kw["padding_mode"] = mode  # else torch's limits refuse the mode: zeros it is
    return ndim, x, _chunked(draw, x), w, b, kw, rng, draw


def _assert_within_contract(got, want, bound, dtype, what):
    """Both results are within TOL * bound of the exact value, so of each other within 2x."""
    assert got.shape == want.shape and got.dtype == want.dtype, what
    excess = np.abs(got.astype(np.float64) - want) - 2 * TOL[np.dtype(dtype).type] * bound
    assert excess.size == 0 or excess.max() <= 1e-300, f"{what}: max excess {excess.max():.3g}"


def _abs_bound(fn, *arrays, **kw):
    """The op on |inputs| in float64: the accuracy contract's scale for each element."""
    return fn(*[None if a is None else np.abs(a).astype(np.float64) for a in arrays], **kw)


@given(conv_cases())
def test_conv_forward_and_backward_equal_the_single_call(case):
    ndim, x, xd, w, b, kw, rng, draw = case
    conv, backward = getattr(cyconv, f"conv{ndim}d"), getattr(cyconv, f"conv{ndim}d_backward")
    y = conv(x, w, b, **kw)
    got = getattr(cd, f"conv{ndim}d")(xd, w, b, **kw).compute()
    # not bitwise: an element's vector lane or scalar tail (FMA or not) depends on the width
    # of the block it lands in, even with a pinned algorithm
    bound = _abs_bound(conv, x, w, b, **kw)
    _assert_within_contract(got, y, bound, x.dtype, "forward")
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    want = backward(gy, x, w, **kw)
    gyd = _chunked(draw, gy)
    split_every = draw(st.sampled_from([None, 2, 3]))
    grads = dask.compute(*getattr(cd, f"conv{ndim}d_backward")(gyd, xd, w, **kw,
                                                              split_every=split_every))
    bounds = backward(np.abs(gy).astype(np.float64), np.abs(x).astype(np.float64),
                      np.abs(w).astype(np.float64), **kw)
    for name, g, wnt, bnd in zip(("grad_input", "grad_weight", "grad_bias"), grads, want, bounds):
        _assert_within_contract(g, wnt, bnd, x.dtype, name)


@st.composite
def conv_transpose_cases(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 12, 2: 6, 3: 4}[ndim]
    groups = draw(st.sampled_from([1, 2]))
    cig, cog = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = _per_dim(draw, ndim, st.integers(1, 4 if ndim < 3 else 3))
    dilation = _per_dim(draw, ndim, st.integers(1, 3))
    stride = _per_dim(draw, ndim, st.integers(1, 4))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding = tuple((draw(st.integers(0, d * (k - 1))), draw(st.integers(0, d * (k - 1))))
                    for k, d in zip(kernel, dilation))
    sizes = _per_dim(draw, ndim, st.integers(1, largest))
    out = _shapes.conv_transpose_output_shape(sizes, kernel, stride, padding, dilation,
                                              output_padding)
    if min(out) < 1:
        padding = 0
    dtype = draw(DTYPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 3)), cig * groups) + sizes).astype(dtype)
    w = rng.standard_normal((cig * groups, cog) + kernel).astype(dtype)
    b = rng.standard_normal(cog * groups).astype(dtype) if draw(st.booleans()) else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
              output_padding=output_padding, flip=draw(st.booleans()))
    if ndim == 3 and cig * cog <= 4:
        kw["algorithm"] = "im2col"  # off this branch's conv3d direct path (see conv_cases)
    return ndim, x, _chunked(draw, x), w, b, kw, rng, draw


@given(conv_transpose_cases())
def test_conv_transpose_forward_and_backward_equal_the_single_call(case):
    ndim, x, xd, w, b, kw, rng, draw = case
    op, backward = (getattr(cyconv, f"conv_transpose{ndim}d"),
                    getattr(cyconv, f"conv_transpose{ndim}d_backward"))
    y = op(x, w, b, **kw)
    got = getattr(cd, f"conv_transpose{ndim}d")(xd, w, b, **kw).compute()
    _assert_within_contract(got, y, _abs_bound(op, x, w, b, **kw), x.dtype, "forward")
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    want = backward(gy, x, w, **kw)
    grads = dask.compute(*getattr(cd, f"conv_transpose{ndim}d_backward")(_chunked(draw, gy), xd,
                                                                         w, **kw))
    bounds = backward(np.abs(gy).astype(np.float64), np.abs(x).astype(np.float64),
                      np.abs(w).astype(np.float64), **kw)
    for name, g, wnt, bnd in zip(("grad_input", "grad_weight", "grad_bias"), grads, want, bounds):
        _assert_within_contract(g, wnt, bnd, x.dtype, name)


@st.composite
def pool_cases(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 30, 2: 13, 3: 7}[ndim]
    kind = draw(st.sampled_from(["max", "min", "avg"]))
    kernel = _per_dim(draw, ndim, st.integers(1, 5 if ndim < 3 else 3))
    dilation = _per_dim(draw, ndim, st.integers(1, 3)) if kind != "avg" else (1,) * ndim
    stride = _per_dim(draw, ndim, st.integers(1, 4))
    padding = draw(paddings(kernel, dilation, ndim, pool=True))
    pads = _shapes.resolve_padding(padding, kernel, dilation, stride)
    sizes = tuple(max(1, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, largest))
                  for k, d, (lo, hi) in zip(kernel, dilation, pads))
    ceil_mode = draw(st.booleans())
    dtype = draw(DTYPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 3)), draw(st.integers(1, 3))) + sizes)
    if draw(st.booleans()):  # ties: the first maximum in window order must win in every block
        x = np.round(x)
    x = x.astype(dtype)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "avg":
        kw["count_include_pad"] = draw(st.booleans())
    else:
        kw["dilation"] = dilation
    return ndim, kind, x, _chunked(draw, x), kw, rng, draw


@given(pool_cases())
def test_pooling_forward_and_backward_are_bitwise_the_single_call(case):
    ndim, kind, x, xd, kw, rng, draw = case
    op, backward = getattr(cyconv, f"{kind}_pool{ndim}d"), getattr(cyconv, f"{kind}_pool{ndim}d_backward")
    dop, dbackward = getattr(cd, f"{kind}_pool{ndim}d"), getattr(cd, f"{kind}_pool{ndim}d_backward")
    if kind == "avg":
        y = op(x, **kw)
        assert np.array_equal(dop(xd, **kw).compute(), y)
    else:
        y, indices = op(x, **kw, return_indices=True)
        yd, idd = dop(xd, **kw, return_indices=True)
        got_y, got_i = dask.compute(yd, idd)
        assert np.array_equal(got_y, y) and np.array_equal(got_i, indices), "global indices"
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    gyd = _chunked(draw, gy)
    want = backward(gy, x, **kw)
    assert np.array_equal(dbackward(gyd, xd, **kw).compute(), want)
    if kind != "avg":
        with_indices = dbackward(gyd, xd, **kw, indices=idd).compute()
        assert np.array_equal(with_indices, backward(gy, x, **kw, indices=indices))


@st.composite
def global_cases(draw):
    ndim = draw(st.integers(1, 3))
    sizes = _per_dim(draw, ndim, st.integers(1, {1: 20, 2: 8, 3: 5}[ndim]))
    dtype = draw(DTYPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = np.round(rng.standard_normal((draw(st.integers(1, 4)), draw(st.integers(1, 3))) + sizes))
    if draw(st.booleans()):  # NaN: the single call selects the last one in row-major order
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, size=draw(st.integers(1, 3)))] = np.nan
    x = x.astype(dtype)
    return x, _chunked(draw, x), draw(st.booleans()), rng


@given(global_cases())
def test_global_pooling_over_spatial_chunks_equals_the_single_call(case):
    x, xd, keepdims, rng = case
    y, indices = cyconv.global_max_pool(x, keepdims=keepdims, return_indices=True)
    yd, idd = cd.global_max_pool(xd, keepdims=keepdims, return_indices=True)
    got_y, got_i = dask.compute(yd, idd)
    assert np.array_equal(got_y, y, equal_nan=True) and np.array_equal(got_i, indices)
    gy = rng.standard_normal(y.shape).astype(x.dtype)
    want = cyconv.global_max_pool_backward(gy, x, keepdims=keepdims)
    assert np.array_equal(cd.global_max_pool_backward(gy, xd, keepdims=keepdims).compute(), want)
    assert np.array_equal(cd.global_max_pool_backward(gy, xd, keepdims=keepdims,
                                                      indices=idd).compute(), want)
    finite = np.nan_to_num(x)
    fd = da.from_array(finite, chunks=xd.chunks)
    mean = cyconv.global_avg_pool(finite, keepdims=keepdims)
    bound = cyconv.global_avg_pool(np.abs(finite).astype(np.float64), keepdims=keepdims)
    _assert_within_contract(cd.global_avg_pool(fd, keepdims=keepdims).compute(), mean, bound,
                            x.dtype, "global_avg_pool")
    assert np.array_equal(cd.global_avg_pool_backward(gy, fd, keepdims=keepdims).compute(),
                          cyconv.global_avg_pool_backward(gy, finite, keepdims=keepdims))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", [cyconv.ForwardPath.ROWS_WIDE, cyconv.ForwardPath.IMPLICIT_GEMM])
def test_halo_blocks_are_assembled_into_the_kernels_padded_copy(path, dtype):
    """A block read from several pieces is written straight onto the padded grid of a plan
    that copies its input there; the result is the single call's, bitwise (same kernel)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 19, 23)).astype(dtype)
    w = rng.standard_normal((16, 8, 3, 3)).astype(dtype)
    b = rng.standard_normal(16).astype(dtype)
    xd = da.from_array(x, chunks=(1, 8, 7, 9))
    with cyconv.forced_paths(forward=path, input_mode=cyconv.InputMode.PADDED_COPY):
        assert cyconv.plan_conv(x[:, :, :9, :11], w, b).forward.input_mode == \
            cyconv.InputMode.PADDED_COPY
        for padding, flip in ((1, False), (((2, 0), (1, 2)), True)):
            want = cyconv.conv2d(x, w, b, padding=padding, flip=flip)
            got = cd.conv2d(xd, w, b, padding=padding, flip=flip).compute(scheduler="sync")
            np.testing.assert_array_equal(got, want)
