"""Channels-last input: an (N, C, *spatial) view of (N, *spatial, C) memory runs the
channels-last row kernel where it lies (no NCHW copy), equals the reference for every
geometry, and comes back in the same memory format - on that path and on the others (which
run on an NCHW copy)."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cyconv
import cyconv.reference as ref
from cyconv import ForwardPath, _outputs

from support.helpers import DTYPES, assert_close


def channels_last(a):
    """``a`` (N, C, *spatial) copied into channels-last memory, as an NCHW view."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def is_channels_last(a):
    """An input the channels-last path reads: channels-last memory, not C-contiguous."""
    return not a.flags.c_contiguous and nhwc_memory(a)


def nhwc_memory(a):
    """A result in channels-last memory (C-contiguous too when C or the pixels are 1)."""
    return np.moveaxis(a, 1, -1).flags.c_contiguous


def _op(ndim):
    return getattr(cyconv, f"conv{ndim}d"), getattr(ref, f"conv{ndim}d")


def _data(rng, n, c_in, c_out, spatial, kernel, groups, dtype, bias=True):
    x = rng.standard_normal((n, c_in) + spatial).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    return x, w, b


def _check(y, x, w, b, dtype, **kw):
    ndim = x.ndim - 2
    _, ref_op = _op(ndim)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    expected = ref_op(x64, w64, b64, **kw)
    bound = ref_op(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), **kw)
    assert_close(y, expected, bound, dtype, str(kw))


# (N, C_in, C_out, spatial, kernel, stride, padding, dilation, groups): 1x1, 3x3 and others,
# outputs narrower than a tile, widths that are not a multiple of it, groups, size-1 dims
GEOMETRIES = [
    (2, 16, 32, (9, 30), (1, 1), 1, 0, 1, 1),      # pointwise: each image one row
    (1, 8, 32, (2, 3), (1, 1), 1, 0, 1, 1),        # pointwise, fewer pixels than a tile
    (2, 8, 40, (7, 7), (1, 1), 2, 0, 1, 1),        # strided 1x1
    (2, 16, 32, (11, 17), (3, 3), 1, 1, 1, 1),
    (1, 16, 64, (5, 5), (3, 3), 1, 1, 1, 1),       # rows narrower than a tile
    (2, 8, 32, (12, 23), (3, 3), 2, 1, 1, 1),
    (2, 8, 48, (13, 31), (3, 3), 1, 2, 2, 1),
    (2, 12, 48, (10, 20), (3, 3), 1, 1, 1, 3),     # groups
    (1, 3, 32, (21, 21), (7, 7), 2, 3, 1, 1),      # a stem
    (2, 6, 36, (8, 40), (3, 5), (1, 2), (0, 2), 1, 1),
    (1, 4, 32, (1, 1), (1, 1), 1, 0, 1, 1),        # one pixel
    (1, 4, 32, (1, 16), (1, 3), 1, 0, 1, 1),       # unpadded, read in place
    (3, 4, 33, (6, 33), (2, 2), 1, 0, 1, 1),       # even kernel, channel tail
]
GEOMETRIES_ND = [
    (2, 8, 32, (40,), (5,), 1, 2, 1, 1),
    (2, 8, 32, (40,), (1,), 1, 0, 1, 1),
    (1, 8, 32, (5,), (3,), 2, 1, 1, 2),
    (2, 4, 32, (5, 6, 7), (3, 3, 3), 1, 1, 1, 1),
    (1, 4, 32, (4, 5, 6), (1, 1, 1), 1, 0, 1, 1),
    (1, 4, 32, (6, 7, 9), (3, 1, 3), 2, (1, 0, 1), 1, 1),
]


def _kw(spatial, stride, padding, dilation, groups):
    return dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES + GEOMETRIES_ND)
def test_channels_last_path_matches_reference(geometry, dtype):
    n, c_in, c_out, spatial, kernel, stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(sum(spatial) + c_out)
    kw = _kw(spatial, stride, padding, dilation, groups)
    op, _ = _op(len(spatial))
    for bias in (True, False):
        x, w, b = _data(rng, n, c_in, c_out, spatial, kernel, groups, dtype, bias)
        xl = channels_last(x)
        # one pixel: the memory is C-contiguous as well, and taken as NCHW
        layout_is_nhwc = is_channels_last(xl)
        assert layout_is_nhwc == (np.prod(spatial) > 1)
        with cyconv.forced_paths(forward=ForwardPath.CHANNELS_LAST):
            path = cyconv.plan_conv(xl, w, b, **kw).forward.path
            assert (path == ForwardPath.CHANNELS_LAST) == layout_is_nhwc
            y = op(xl, w, b, **kw)
        assert nhwc_memory(y) if layout_is_nhwc else y.flags.c_contiguous
        _check(y, x, w, b, dtype, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_auto_reads_channels_last_for_1x1_and_3x3(dtype):
    rng = np.random.default_rng(0)
    for kernel, padding in (((1, 1), 0), ((3, 3), 1)):
        x, w, b = _data(rng, 2, 32, 64, (14, 14), kernel, 1, dtype)
        xl = channels_last(x)
        plans = cyconv.plan_conv(xl, w, b, padding=padding)
        assert plans.forward.path == ForwardPath.CHANNELS_LAST, str(plans)
        assert str(plans.forward) == "channels-last"
        assert cyconv.plan_conv(x, w, b, padding=padding).forward.path != \
            ForwardPath.CHANNELS_LAST
        y = cyconv.conv2d(xl, w, b, padding=padding)
        assert is_channels_last(y)
        _check(y, x, w, b, dtype, padding=padding)


@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_reads_channels_last_where_it_lies(dtype):
    rng = np.random.default_rng(8)
    x, w, b = _data(rng, 2, 64, 64, (14, 17), (3, 3), 1, dtype)
    xl = channels_last(x)
    plan = cyconv.plan_conv(xl, w, b, padding=1).forward  # 'auto' takes Winograd here
    assert plan.path == ForwardPath.WINOGRAD and plan.channels_last
    assert str(plan) == "winograd"
    y = cyconv.conv2d(xl, w, b, padding=1)
    assert is_channels_last(y)
    np.testing.assert_array_equal(y, cyconv.conv2d(x, w, b, padding=1))  # same kernel
    out = np.empty(y.shape, dtype)  # an NCHW out= is written directly as well
    np.testing.assert_array_equal(cyconv.conv2d(xl, w, b, padding=1, out=out), y)


@pytest.mark.parametrize("algorithm", ["direct", "im2col", "implicit", "fft"])
def test_other_paths_run_on_a_copy_and_return_channels_last(algorithm):
    rng = np.random.default_rng(1)
    for groups, c_out in ((1, 16), (8, 8)):  # dense, and depthwise (too few lanes per group)
        x, w, b = _data(rng, 2, 8, c_out, (9, 10), (3, 3), groups, np.float64)
        xl = channels_last(x)
        plan = cyconv.plan_conv(xl, w, b, padding=1, groups=groups, algorithm=algorithm).forward
        if plan.path != ForwardPath.CHANNELS_LAST:
            assert str(plan).endswith("on an NCHW copy")
        y = cyconv.conv2d(xl, w, b, padding=1, groups=groups, algorithm=algorithm)
        assert is_channels_last(y)
        np.testing.assert_array_equal(
            y, cyconv.conv2d(x, w, b, padding=1, groups=groups, algorithm=algorithm)
            if plan.path != ForwardPath.CHANNELS_LAST else y)
        _check(y, x, w, b, np.float64, padding=1, groups=groups)


def test_forcing_the_path_on_nchw_input_keeps_the_usual_choice():
    rng = np.random.default_rng(2)
    x, w, b = _data(rng, 2, 16, 32, (8, 8), (3, 3), 1, np.float32)
    with cyconv.forced_paths(forward=ForwardPath.CHANNELS_LAST):
        assert cyconv.plan_conv(x, w, b, padding=1).forward.path != ForwardPath.CHANNELS_LAST
        y = cyconv.conv2d(x, w, b, padding=1)
    assert y.flags.c_contiguous
    _check(y, x, w, b, np.float32, padding=1)


@pytest.mark.parametrize("kernel, padding", [((1, 1), 0), ((3, 3), 1)])
def test_no_full_size_copy(kernel, padding):
    rng = np.random.default_rng(3)
    # large enough that per-thread scratch (Winograd's tiles for the 3x3) is well below it
    x, w, b = _data(rng, 8, 64, 64, (128, 128), kernel, 1, np.float32)
    xl = channels_last(x)
    cyconv.conv2d(xl, w, b, padding=padding)  # plans cached, pools warm
    # every result a fresh allocation, counted in the peaks (the 32 MiB results would
    # otherwise reuse a recycled buffer: test_memory.py)
    saved = _outputs.capacity()
    _outputs.set_capacity(0)
    try:
        _peaks_without_a_copy(x, xl, w, b, padding)
    finally:
        _outputs.set_capacity(saved)


def _peaks_without_a_copy(x, xl, w, b, padding):
    tracemalloc.start()
    try:
        y = cyconv.conv2d(xl, w, b, padding=padding)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the result, packed weights and per-thread scratch: far less than another input
    assert peak - y.nbytes < x.nbytes // 4, (peak, y.nbytes, x.nbytes)
    # while the same call on a strided view that is not channels-last copies it
    tracemalloc.start()
    try:
        y = cyconv.conv2d(xl[:, :, ::-1], w, b, padding=padding)
        peak_copy = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_copy - y.nbytes >= x.nbytes


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_for_any_thread_count(dtype):
    rng = np.random.default_rng(4)
    for kernel, padding in (((1, 1), 0), ((3, 3), 1)):
        x, w, b = _data(rng, 3, 16, 48, (13, 29), kernel, 1, dtype)
        xl = channels_last(x)
        with cyconv.forced_paths(forward=ForwardPath.CHANNELS_LAST):
            ys = [cyconv.conv2d(xl, w, b, padding=padding, num_threads=t) for t in (1, 2, 3)]
        for y in ys[1:]:
            np.testing.assert_array_equal(y, ys[0])


def test_out_in_either_layout():
    rng = np.random.default_rng(5)
    x, w, b = _data(rng, 2, 16, 32, (9, 9), (3, 3), 1, np.float32)
    expected = cyconv.conv2d(x, w, b, padding=1)
    for src in (x, channels_last(x)):
        for out in (np.empty_like(expected), channels_last(np.empty_like(expected))):
            got = cyconv.conv2d(src, w, b, padding=1, out=out)
            assert got is out
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="C-contiguous"):
        cyconv.conv2d(x, w, b, padding=1, out=np.empty_like(expected)[:, :, ::-1])


def test_unbatched_float16_padding_modes_and_layers():
    rng = np.random.default_rng(6)
    x, w, b = _data(rng, 1, 16, 32, (10, 12), (3, 3), 1, np.float32)
    xl = channels_last(x)
    y = cyconv.conv2d(xl[0], w, b, padding=1)  # (C, H, W) view of (H, W, C) memory
    assert y.shape == (32, 10, 12) and np.moveaxis(y, 0, -1).flags.c_contiguous
    np.testing.assert_allclose(y, cyconv.conv2d(x, w, b, padding=1)[0], rtol=1e-5, atol=1e-5)
    for mode in ("reflect", "replicate", "circular"):
        got = cyconv.conv2d(xl, w, b, padding=1, padding_mode=mode)
        assert is_channels_last(got)
        np.testing.assert_array_equal(got, cyconv.conv2d(x, w, b, padding=1,
                                                         padding_mode=mode))
    half = cyconv.conv2d(xl.astype(np.float16), w.astype(np.float16), b.astype(np.float16),
                         padding=1)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, cyconv.conv2d(x, w, b, padding=1), rtol=2e-2, atol=5e-2)
    layer = cyconv.nn.Conv2d(16, 32, 3, padding=1, rng=np.random.default_rng(0))
    np.testing.assert_allclose(layer.forward(xl), layer.forward(x), rtol=1e-5, atol=1e-5)
    grads_cl = layer.backward(np.ones((1, 32, 10, 12), np.float32))
    layer.forward(x)
    np.testing.assert_allclose(grads_cl, layer.backward(np.ones((1, 32, 10, 12), np.float32)),
                               rtol=1e-5, atol=1e-5)


@st.composite
def _configs(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2]))
    cig, cog = draw(st.integers(1, 5)), draw(st.sampled_from([1, 7, 16, 33]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim))
    largest = {1: 40, 2: 12, 3: 6}[ndim]
    sizes = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - lo - hi), largest))
                  for k, d, (lo, hi) in zip(kernel, dilation, pads))
    return dict(shape=(draw(st.integers(1, 3)), cig * groups) + sizes,
                weight_shape=(cog * groups, cig) + kernel, dtype=draw(st.sampled_from(DTYPES)),
                bias=draw(st.booleans()), flip=draw(st.booleans()),
                forced=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
                kw=dict(stride=stride, padding=pads, dilation=dilation, groups=groups))


@given(_configs())
def test_random_configurations_match_reference_in_the_same_format(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype, kw = cfg["dtype"], cfg["kw"]
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    w = rng.standard_normal(cfg["weight_shape"]).astype(dtype)
    b = rng.standard_normal(w.shape[0]).astype(dtype) if cfg["bias"] else None
    xl = channels_last(x)
    op, _ = _op(x.ndim - 2)
    forced = ForwardPath.CHANNELS_LAST if cfg["forced"] else None
    with cyconv.forced_paths(forward=forced):
        y = op(xl, w, b, flip=cfg["flip"], num_threads=1, **kw)
        np.testing.assert_array_equal(op(xl, w, b, flip=cfg["flip"], num_threads=2, **kw), y)
    assert nhwc_memory(y) if is_channels_last(xl) else y.flags.c_contiguous
    wf = np.flip(w, tuple(range(2, w.ndim))) if cfg["flip"] else w
    _check(y, x, np.ascontiguousarray(wf), b, dtype, **kw)


def test_torch_channels_last_tensor_is_read_in_place():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, w, b = _data(rng, 2, 16, 32, (9, 11), (3, 3), 1, np.float32)
    tx = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    assert cyconv.plan_conv(tx, w, b, padding=1).forward.path == ForwardPath.CHANNELS_LAST
    y = cyconv.conv2d(tx, w, b, padding=1)
    assert is_channels_last(y)
    expected = torch.nn.functional.conv2d(tx, torch.from_numpy(w), torch.from_numpy(b),
                                          padding=1)
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-4, atol=1e-4)
