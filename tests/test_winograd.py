"""Winograd F(4x4, 3x3) (``algorithm='winograd'``): the documented normwise error bound
against the float64 reference on every geometry it runs (tiny, odd, padded, grouped,
dilated by phases), at
most 20x the direct path's error on a network layer, the same bits for any thread count,
gradients through it, and where the plans take it."""
import numpy as np
import pytest

import cyconv
import cyconv._kernels._winograd
import cyconv.reference as ref
from cyconv import ForwardPath, GradInputPath, GradWeightPath, _conv_winograd, _weight_cache

from support.helpers import DTYPES, assert_gradients_match_finite_differences

# README, accuracy contract: max |error| <= WINOGRAD_EPS * eps * (max|x| * max over output
# channels of sum |w[co]| + max|b|) - every tap's weight counts, padded or not: the
# transformed weights mix all nine
WINOGRAD_EPS = 64


def winograd_scale(x, w, b):
    wsum = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).sum(axis=1).max()
    return np.abs(x).max() * wsum + (0.0 if b is None else np.abs(b).max())


def assert_within_bound(y, x, w, b, **kw):
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    expected = ref.conv2d(x64, w64, b64, **kw)
    err = np.abs(y.astype(np.float64) - expected).max()
    limit = WINOGRAD_EPS * np.finfo(y.dtype).eps * winograd_scale(x, w, b)
    assert err <= limit, (err, limit, kw)


def _data(rng, n, c_in, c_out, size, groups, dtype, bias=True):
    x = rng.standard_normal((n, c_in) + size).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups, 3, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    return x, w, b


GEOMETRIES = [  # (N, C_in, C_out, (H, W), padding, groups)
    (1, 1, 1, (3, 3), 0, 1),
    (1, 1, 1, (1, 1), 1, 1),
    (2, 3, 5, (4, 4), 1, 1),
    (2, 4, 6, (5, 7), 1, 1),
    (1, 8, 9, (9, 2), 1, 1),
    (3, 6, 4, (13, 17), 2, 2),
    (2, 16, 24, (14, 14), ((1, 0), (0, 2)), 1),
    (1, 32, 40, (30, 11), 0, 4),
    (2, 9, 33, (8, 8), "same", 3),
    (1, 4, 8, (2, 5), "full", 1),
    (1, 300, 20, (5, 6), 1, 1),     # C_in beyond one reduction slice (KC)
    (2, 8, 70, (6, 5), 1, 1),       # C_out past whole panels
    (1, 5, 20, (6, 141), 1, 1),     # a tile row past one transposed block of the gradient
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_forward_within_the_documented_bound(geometry, dtype):
    n, c_in, c_out, size, padding, groups = geometry
    rng = np.random.default_rng(c_in * 7 + c_out)
    for bias in (True, False):
        x, w, b = _data(rng, n, c_in, c_out, size, groups, dtype, bias)
        kw = dict(padding=padding, groups=groups)
        assert cyconv.plan_conv(x, w, b, algorithm="winograd", **kw).forward.path == \
            ForwardPath.WINOGRAD
        y = cyconv.conv2d(x, w, b, algorithm="winograd", **kw)
        assert y.dtype == dtype and y.flags.c_contiguous
        assert_within_bound(y, x, w, b, **kw)
        with cyconv.forced_paths(forward=ForwardPath.WINOGRAD):
            np.testing.assert_array_equal(cyconv.conv2d(x, w, b, **kw), y)


def test_error_at_most_20x_the_direct_path_on_a_network_layer():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    wino = np.abs(cyconv.conv2d(x, w, padding=1, algorithm="winograd") - expected).max()
    direct = np.abs(cyconv.conv2d(x, w, padding=1, algorithm="implicit") - expected).max()
    assert wino <= 20 * direct, (wino, direct)


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_for_any_thread_count(dtype):
    rng = np.random.default_rng(1)
    x, w, b = _data(rng, 3, 16, 24, (19, 23), 1, dtype)
    ys = [cyconv.conv2d(x, w, b, padding=1, algorithm="winograd", num_threads=t)
          for t in (1, 2, 3)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_runs_grad_input_on_winograd(dtype):
    rng = np.random.default_rng(2)
    x, w, _ = _data(rng, 2, 32, 40, (11, 13), 1, dtype)
    plans = cyconv.plan_conv(x, w, padding=1, algorithm="winograd")
    assert plans.backward.grad_input == GradInputPath.FORWARD
    gy = rng.standard_normal((2, 40, 11, 13)).astype(dtype)
    grads = cyconv.conv2d_backward(gy, x, w, padding=1, algorithm="winograd")
    expected = ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                   w.astype(np.float64), padding=1)
    # grad_input is the 3x3 stride-1 convolution of gy with the swapped, flipped kernel
    w_t = np.ascontiguousarray(w.swapaxes(0, 1)[:, :, ::-1, ::-1])
    assert_within_bound(grads.grad_input, gy, w_t, None, padding=1)
    assert np.abs(grads.grad_input - expected.grad_input).max() <= \
        WINOGRAD_EPS * np.finfo(dtype).eps * winograd_scale(gy, w_t, None)
    # grad_weight: G^T [sum of the tiles' (A g A^T) . (B^T d B)] G, normwise over the sum
    assert plans.backward.grad_weight == GradWeightPath.WINOGRAD
    weight_scale = np.abs(gy).max() * np.abs(x).max() * gy.shape[0] * np.prod(gy.shape[2:])
    assert np.abs(grads.grad_weight - expected.grad_weight).max() <= \
        WINOGRAD_EPS * np.finfo(dtype).eps * weight_scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_weight_gradient_within_its_bound_and_thread_independent(geometry, dtype):
    n, c_in, c_out, size, padding, groups = geometry
    rng = np.random.default_rng(c_out * 5 + c_in)
    x, w, _ = _data(rng, n, c_in, c_out, size, groups, dtype, bias=False)
    y = cyconv.conv2d(x, w, padding=padding, groups=groups)
    gy = rng.standard_normal(y.shape).astype(dtype)
    kw = dict(padding=padding, groups=groups, need=("weight",), algorithm="winograd")
    got = [cyconv.conv2d_backward(gy, x, w, num_threads=t, **kw).grad_weight for t in (1, 2, 3)]
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    expected = ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                   w.astype(np.float64), padding=padding,
                                   groups=groups).grad_weight
    scale = np.abs(gy).max() * np.abs(x).max() * n * np.prod(y.shape[2:])
    assert np.abs(got[0] - expected).max() <= WINOGRAD_EPS * np.finfo(dtype).eps * scale
    with cyconv.forced_paths(grad_weight=GradWeightPath.WINOGRAD):
        np.testing.assert_array_equal(cyconv.conv2d_backward(
            gy, x, w, padding=padding, groups=groups, need=("weight",)).grad_weight, got[0])


def test_gradients_finite_differences():
    rng = np.random.default_rng(3)
    x, w, b = _data(rng, 2, 32, 32, (6, 7), 1, np.float64)
    gy = rng.standard_normal((2, 32, 6, 7))

    def forward(x_, w_, b_):
        return cyconv.conv2d(x_, w_, b_, padding=1, algorithm="winograd")

    grads = cyconv.conv2d_backward(gy, x, w, padding=1, algorithm="winograd")
    assert_gradients_match_finite_differences(forward, grads, x, w, b, gy, rng)


def test_where_the_plans_take_it():
    f32 = np.float32
    vgg = (np.ones((8, 64, 56, 56), f32), np.ones((64, 64, 3, 3), f32))
    assert cyconv.plan_conv(*vgg, padding=1).forward.path == ForwardPath.WINOGRAD
    assert cyconv.plan_conv(*vgg, padding=1, algorithm="implicit").forward.path != \
        ForwardPath.WINOGRAD
    # too few channels, too small an output, a 5x5 kernel, a stride, a dilation: not 'auto'
    for x, w, kw in [(np.ones((8, 16, 56, 56), f32), np.ones((16, 16, 3, 3), f32), {}),
                     (np.ones((8, 64, 7, 7), f32), np.ones((64, 64, 3, 3), f32), {}),
                     (np.ones((8, 64, 28, 28), f32), np.ones((64, 64, 5, 5), f32), {}),
                     (np.ones((8, 64, 28, 28), f32), np.ones((64, 64, 3, 3), f32),
                      {"stride": 2}),
                     (np.ones((8, 64, 28, 28), f32), np.ones((64, 64, 3, 3), f32),
                      {"dilation": 2})]:  # its phases' outputs are 12 x 12
        assert cyconv.plan_conv(x, w, padding=1, **kw).forward.path != ForwardPath.WINOGRAD
    # a dilated layer whose phases are large enough: by phases (the bench's 'dilated')
    x, w = np.ones((8, 64, 56, 56), f32), np.ones((64, 64, 3, 3), f32)
    assert cyconv.plan_conv(x, w, padding=2, dilation=2).forward.path == ForwardPath.WINOGRAD
    # 'winograd' where it does not apply runs the implicit kernels; forcing it is ignored
    x, w = np.ones((2, 8, 9, 9), f32), np.ones((8, 8, 3, 3), f32)
    assert cyconv.plan_conv(x, w, stride=2, algorithm="winograd").forward.path == \
        cyconv.plan_conv(x, w, stride=2, algorithm="implicit").forward.path
    with cyconv.forced_paths(forward=ForwardPath.WINOGRAD):
        assert cyconv.plan_conv(x, w[:, :, :2], padding=1).forward.path != \
            ForwardPath.WINOGRAD
    # 1-D and 3-D 3-tap convolutions run the implicit kernels under 'winograd' too
    y = cyconv.conv1d(np.ones((1, 4, 9)), np.ones((2, 4, 3)), algorithm="winograd")
    np.testing.assert_allclose(y, 12.0)


DILATED_GEOMETRIES = [  # (N, C_in, C_out, (H, W), padding, dilation, groups)
    (2, 8, 12, (12, 12), 2, 2, 1),                  # four equal phases
    (1, 5, 7, (13, 10), 1, (2, 3), 1),              # phases of unequal sizes and padding
    (2, 6, 4, (17, 9), "same", 3, 2),
    (1, 4, 6, (9, 11), ((0, 3), (4, 1)), (3, 2), 1),
    (1, 3, 5, (2, 3), 4, 4, 1),                     # input phases without a pixel
    (1, 3, 2, (5, 5), 0, 2, 1),                     # phases without an output
    (1, 2, 3, (1, 1), 5, 5, 1),
    (2, 16, 24, (22, 26), 4, 4, 4),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", DILATED_GEOMETRIES)
def test_dilated_forward_by_phases(geometry, dtype):
    n, c_in, c_out, size, padding, dilation, groups = geometry
    rng = np.random.default_rng(c_in * 11 + c_out)
    x, w, b = _data(rng, n, c_in, c_out, size, groups, dtype)
    kw = dict(padding=padding, dilation=dilation, groups=groups)
    assert cyconv.plan_conv(x, w, b, algorithm="winograd", **kw).forward.path == \
        ForwardPath.WINOGRAD
    ys = [cyconv.conv2d(x, w, b, algorithm="winograd", num_threads=t, **kw) for t in (1, 2, 3)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    assert_within_bound(ys[0], x, w, b, **kw)
    # channels-last input: each phase read where it lies, the same bits
    x_last = np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(cyconv.conv2d(x_last, w, b, algorithm="winograd", **kw),
                                  ys[0])


def test_dilation_phases_are_the_convolution():
    """Each phase row is the undilated convolution of the strided slices it names, and the
    phases' outputs cover the output once: checked on the reference alone."""
    rng = np.random.default_rng(13)
    for size, padding, dilation in [((13, 10), ((1, 2), (0, 3)), (2, 3)),
                                    ((4, 9), ((3, 0), (5, 5)), (3, 4)), ((7, 7), 0, 1)]:
        x, w, _ = _data(rng, 1, 2, 3, size, 1, np.float64, bias=False)
        y = ref.conv2d(x, w, padding=padding, dilation=dilation)
        p = cyconv.plan_conv(x, w, padding=padding, dilation=dilation).forward.params
        covered = np.zeros(y.shape[2:], int)
        for h0, w0, ph, pw, hp, wp, oh0, ow0, ohp, owp in _conv_winograd.geo.dilation_phases(p):
            dh, dw = p.dilation
            sub = x[:, :, h0::dh, w0::dw][:, :, :hp, :wp]
            pads = ((ph, ohp + 2 - hp - ph), (pw, owp + 2 - wp - pw))
            got = ref.conv2d(np.pad(sub, ((0, 0), (0, 0)) + tuple(
                (max(lo, 0), max(hi, 0)) for lo, hi in pads)), w) if hp and wp else 0.0
            np.testing.assert_allclose(y[:, :, oh0::dh, ow0::dw], got, atol=1e-12)
            covered[oh0::dh, ow0::dw] += 1
        assert (covered == 1).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_dilated_gradients_on_winograd(dtype):
    """grad_input of a dilated 3x3 stride-1 convolution is one too (run by phases), and its
    weight gradient the sum of its output phases' undilated ones."""
    rng = np.random.default_rng(14)
    x, w, _ = _data(rng, 2, 24, 20, (15, 18), 1, dtype, bias=False)
    kw = dict(padding=2, dilation=2)
    plans = cyconv.plan_conv(x, w, algorithm="winograd", **kw)
    assert plans.backward.grad_input == GradInputPath.FORWARD
    assert plans.backward.grad_weight == GradWeightPath.WINOGRAD
    gy = rng.standard_normal((2, 20, 15, 18)).astype(dtype)
    got = [cyconv.conv2d_backward(gy, x, w, algorithm="winograd", num_threads=t, **kw)
           for t in (1, 2)]
    np.testing.assert_array_equal(got[0].grad_input, got[1].grad_input)
    np.testing.assert_array_equal(got[0].grad_weight, got[1].grad_weight)
    w_t = np.ascontiguousarray(w.swapaxes(0, 1)[:, :, ::-1, ::-1])
    assert_within_bound(got[0].grad_input, gy, w_t, None, padding=2, dilation=2)
    x64, w64, b64 = _data(rng, 2, 8, 8, (9, 10), 1, np.float64)
    gy64 = rng.standard_normal((2, 8, 9, 10))
    grads = cyconv.conv2d_backward(gy64, x64, w64, algorithm="winograd", **kw)
    assert_gradients_match_finite_differences(
        lambda x_, w_, b_: cyconv.conv2d(x_, w_, b_, algorithm="winograd", **kw),
        grads, x64, w64, b64, gy64, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", [GradWeightPath.WINOGRAD, GradWeightPath.WINOGRAD_STAGED])
@pytest.mark.parametrize("geometry", DILATED_GEOMETRIES)
def test_dilated_weight_gradient_by_phases(geometry, path, dtype):
    """Unequal phases, input phases without a pixel, phases without an output, groups: the
    phases' gradients add up within the weight gradient's bound, to the same bits for any
    thread count; the bias gradient (left to its own pass here) is unchanged."""
    n, c_in, c_out, size, padding, dilation, groups = geometry
    rng = np.random.default_rng(c_in * 13 + c_out)
    x, w, _ = _data(rng, n, c_in, c_out, size, groups, dtype, bias=False)
    kw = dict(padding=padding, dilation=dilation, groups=groups)
    y = ref.conv2d(x, w, **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    with cyconv.forced_paths(grad_weight=path):
        assert cyconv.plan_conv(x, w, **kw).backward.grad_weight == path
        got = [cyconv.conv2d_backward(gy, x, w, need=("weight", "bias"), num_threads=t, **kw)
               for t in (1, 2, 3)]
    for g in got[1:]:
        np.testing.assert_array_equal(g.grad_weight, got[0].grad_weight)
    np.testing.assert_array_equal(
        got[0].grad_bias, cyconv.conv2d_backward(gy, x, w, need=("bias",), **kw).grad_bias)
    expected = ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                   w.astype(np.float64), **kw).grad_weight
    scale = np.abs(gy).max() * np.abs(x).max() * n * np.prod(y.shape[2:])
    assert np.abs(got[0].grad_weight - expected).max() <= \
        WINOGRAD_EPS * np.finfo(dtype).eps * scale


def test_transform_matrices_are_checked():
    a_t, g, b_t = _conv_winograd.toom_cook()
    # the 2-D identity on a random patch: A^T [(G w G^T) . (B^T d B)] A = correlation
    rng = np.random.default_rng(4)
    d, w = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    y = a_t @ ((g @ w @ g.T) * (b_t @ d @ b_t.T)) @ a_t.T
    want = np.array([[np.sum(d[i:i + 3, j:j + 3] * w) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    bt, at = (m.copy() for m in cyconv._kernels._winograd.transform_matrices())
    bt[0, 0] = 2
    with pytest.raises(AssertionError, match="inconsistent"):
        _conv_winograd.toom_cook(kernel_matrices=(bt, at))


STAGED_GEOMETRIES = [  # (N, C_in, C_out, (H, W), padding, groups): the staged weight gradient
    (1, 1, 1, (3, 3), 0, 1),
    (2, 3, 5, (4, 4), 1, 1),
    (3, 6, 4, (13, 17), 2, 2),
    (2, 16, 24, (14, 14), ((1, 0), (0, 2)), 1),
    (1, 32, 40, (30, 11), 0, 4),
    (1, 300, 20, (5, 6), 1, 1),
    (2, 8, 70, (6, 5), 1, 1),
    (1, 5, 20, (6, 141), 1, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", STAGED_GEOMETRIES)
def test_staged_weight_gradient_within_its_bound_and_thread_independent(geometry, dtype):
    n, c_in, c_out, size, padding, groups = geometry
    rng = np.random.default_rng(c_out * 7 + c_in)
    x, w, _ = _data(rng, n, c_in, c_out, size, groups, dtype, bias=False)
    y = cyconv.conv2d(x, w, padding=padding, groups=groups)
    gy = rng.standard_normal(y.shape).astype(dtype)
    kw = dict(padding=padding, groups=groups, need=("weight",))
    with cyconv.forced_paths(grad_weight=GradWeightPath.WINOGRAD_STAGED):
        assert cyconv.plan_conv(x, w, padding=padding, groups=groups).backward.grad_weight == \
            GradWeightPath.WINOGRAD_STAGED
        got = [cyconv.conv2d_backward(gy, x, w, num_threads=t, **kw).grad_weight
               for t in (1, 2, 3)]
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    expected = ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                   w.astype(np.float64), padding=padding,
                                   groups=groups).grad_weight
    scale = np.abs(gy).max() * np.abs(x).max() * n * np.prod(y.shape[2:])
    assert np.abs(got[0] - expected).max() <= WINOGRAD_EPS * np.finfo(dtype).eps * scale


def test_staged_weight_gradient_in_several_segments_and_where_auto_takes_it():
    # 256 -> 256 channels: one transformed gradient (9.4 MB in float32) is past the
    # partials' bound, so 'auto' stages it
    f32 = np.float32
    res = (np.ones((8, 256, 14, 14), f32), np.ones((256, 256, 3, 3), f32))
    assert cyconv.plan_conv(*res, padding=1).backward.grad_weight == \
        GradWeightPath.WINOGRAD_STAGED
    vgg = (np.ones((8, 64, 56, 56), f32), np.ones((64, 64, 3, 3), f32))
    assert cyconv.plan_conv(*vgg, padding=1).backward.grad_weight == GradWeightPath.WINOGRAD
    # an image tall enough for two segments of the stage (8 -> 12 float64 channels take
    # 36 x (8 + 16) values per tile): the segments add up in order, within the reference's
    # rounding, and to the same bits for any thread count
    from cyconv import _conv_tuning
    per_tile_row = 36 * (8 + 16) * 3 * 8
    height = 4 * (_conv_tuning.WINOGRAD_STAGE_BYTES // per_tile_row) + 8
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 8, height, 10))
    w = rng.standard_normal((12, 8, 3, 3))
    gy = rng.standard_normal((1, 12, height, 10))
    with cyconv.forced_paths(grad_weight=GradWeightPath.WINOGRAD_STAGED):
        got = [cyconv.conv2d_backward(gy, x, w, padding=1, need=("weight",),
                                      num_threads=t).grad_weight for t in (1, 2)]
    np.testing.assert_array_equal(got[0], got[1])
    expected = ref.conv2d_backward(gy, x, w, padding=1).grad_weight
    np.testing.assert_allclose(got[0], expected, rtol=1e-10, atol=1e-9)


def test_transformed_weights_are_kept_for_unchanged_weights_only():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 8, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((2, 6, 9, 9)).astype(np.float32)
    kw = dict(padding=1, algorithm="winograd")
    kept = _weight_cache.KEPT
    kept.clear()
    first = cyconv.conv2d(x, w, **kw)
    assert len(kept.keys()) == 1
    np.testing.assert_array_equal(cyconv.conv2d(x, w.copy(), **kw), first)  # same bits: kept
    w[0, 0, 1, 1] += 1.0  # changed in place (as an optimizer step does): not kept
    changed = cyconv.conv2d(x, w, **kw)
    kept.clear()
    np.testing.assert_array_equal(changed, cyconv.conv2d(x, w, **kw))
    assert not np.array_equal(changed, first)
    # -0.0 and 0.0 compare equal but are different bits: a weight of -0.0 is not served
    # the transform of 0.0
    w0 = np.zeros_like(w)
    cyconv.conv2d(x, w0, **kw)
    negative = -w0
    kept_result = cyconv.conv2d(x, negative, **kw)
    kept.clear()
    np.testing.assert_array_equal(np.signbit(kept_result),
                                  np.signbit(cyconv.conv2d(x, negative, **kw)))
    # grad_input's swapped, flipped kernel is kept apart from the forward's
    grads = cyconv.conv2d_backward(gy, x, w, **kw)
    kept.clear()
    np.testing.assert_array_equal(grads.grad_input,
                                  cyconv.conv2d_backward(gy, x, w, **kw).grad_input)


def test_transformed_weights_cache_stays_within_its_budget():
    cache = _weight_cache.WeightCache(budget=3000)
    sources = [np.full(100, float(i)) for i in range(4)]  # 800 bytes each
    for i, s in enumerate(sources):
        cache.put(i, s, np.zeros(50))  # + 400 bytes: two entries fit
    assert cache.keys() == [2, 3]
    assert cache.get(3, sources[3]) is not None and cache.get(1, sources[1]) is None
    assert cache.get(3, sources[2]) is None  # same key, other bits
    cache.put(9, np.zeros(1000), np.zeros(1))  # larger than the budget: not kept
    assert 9 not in cache.keys()


def test_transformed_weights_kept_per_weight_for_layers_of_one_shape():
    """Two layers with the same shapes (one key) each keep their transform: alternating
    them transforms each once; each is served its own, never the other's; a weight that
    differs from a kept one in a single element is not served it."""
    cache = _weight_cache.WeightCache(budget=10_000)
    a, b = np.arange(100.0), np.arange(100.0)[::-1].copy()
    ua, ub = np.zeros(10), np.ones(10)
    cache.put("k", a, ua)
    cache.put("k", b, ub)
    assert cache.get("k", a.copy()) is ua and cache.get("k", b.copy()) is ub
    assert cache.keys() == ["k", "k"]
    near = a.copy()
    near[37] += 1.0  # not one of the spread elements the lookup looks at first
    assert cache.get("k", near) is None
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 64, 14, 14)).astype(np.float32)
    w1, w2 = (rng.standard_normal((64, 64, 3, 3)).astype(np.float32) for _ in range(2))
    kept = _weight_cache.KEPT
    kept.clear()
    y1, y2 = cyconv.conv2d(x, w1, padding=1), cyconv.conv2d(x, w2, padding=1)
    assert len(kept.keys()) == 2
    for _ in range(2):
        np.testing.assert_array_equal(cyconv.conv2d(x, w1, padding=1), y1)
        np.testing.assert_array_equal(cyconv.conv2d(x, w2, padding=1), y2)
    assert len(kept.keys()) == 2  # both served from the cache
    w1 += 0.5  # updated in place (an optimizer step): its entry is replaced, not added
    cyconv.conv2d(x, w1, padding=1)
    assert len(kept.keys()) == 2
    steps = [np.full(100, float(i)) for i in range(12)]  # new arrays every step (alive:
    for w in steps:                                        # each at its own address)
        cache.put("k", w, np.zeros(10))
    assert cache.keys() == ["k"] * _weight_cache.WeightCache.PER_KEY


@pytest.mark.parametrize("path", [GradWeightPath.WINOGRAD, GradWeightPath.WINOGRAD_STAGED])
@pytest.mark.parametrize("shape", [(1, 1, 1000, 1000), (2, 3, 301, 402)])
def test_weight_gradient_of_one_constant_planes_within_its_bound(shape, path):
    """Planes of one constant, where every float32 rounding goes one way: the staged GEMMs
    add their reduction into double every WINOGRAD_PARTIAL_TILES tiles (summed over the
    whole batch in float32 they were 1.6-2.4x the bound), chunks cut the same way for any
    thread count."""
    x = np.ones(shape, np.float32)
    w = np.ones((2, shape[1], 3, 3), np.float32)
    gy = np.full((shape[0], 2) + shape[2:], 0.1, np.float32)
    with cyconv.forced_paths(grad_weight=path):
        got = [cyconv.conv2d_backward(gy, x, w, padding=1, need=("weight",),
                                      num_threads=t).grad_weight for t in (1, 2)]
    np.testing.assert_array_equal(got[0], got[1])
    expected = ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                   w.astype(np.float64), padding=1).grad_weight
    scale = 0.1 * shape[0] * shape[2] * shape[3]
    assert np.abs(got[0] - expected).max() <= WINOGRAD_EPS * np.finfo(np.float32).eps * scale
