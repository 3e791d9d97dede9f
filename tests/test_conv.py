"""cyconv.conv2d / conv2d_backward against cyconv.reference, for every algorithm and ISA."""
import numpy as np
import pytest

import cyconv
from cyconv import _shapes, reference as ref
from cyconv._kernels import _isa as kernels
from support.helpers import DTYPES, assert_close as _assert_close

ALGORITHMS = ["direct", "im2col", "implicit"]

# (N, C_in, H, W, C_out, kernel, stride, padding, dilation, groups)
CASES = [
    (2, 3, 9, 11, 5, (3, 3), 1, 1, 1, 1),
    (1, 4, 8, 8, 6, (2, 2), 1, "same", 1, 1),            # even kernel, extra pad at the end
    (7, 2, 10, 7, 4, (3, 2), (2, 1), 0, 1, 2),           # batch 7, non-square kernel, groups
    (3, 6, 13, 12, 6, (3, 3), 1, 1, 1, 6),               # depthwise
    (2, 8, 12, 12, 12, (3, 3), 1, 2, 2, 4),              # dilation, groups
    (2, 5, 11, 9, 7, (2, 3), 3, ((1, 0), (2, 1)), 1, 1),  # stride > kernel, asymmetric pad
    (1, 3, 7, 7, 2, (5, 5), 1, "full", 1, 1),
    (2, 16, 6, 5, 33, (1, 1), 1, 0, 1, 1),               # 1x1, C_out not a tile multiple
    (2, 9, 17, 19, 50, (3, 3), 2, "same", 1, 1),          # 'same' with stride 2
    (1, 70, 5, 5, 9, (3, 3), 1, 1, 1, 1),                # K over the tile depth
    (1, 1, 20, 23, 3, (7, 4), (3, 2), (3, 1), (1, 2), 1),
    (2, 12, 10, 14, 70, (3, 3), 1, 1, 1, 1),             # rows of 14: row-tiled direct kernel,
    (2, 8, 9, 21, 12, (3, 3), 1, 1, 1, 2),               # 2 channel panels / groups
    (1, 5, 6, 7, 9, (3, 3), 1, 1, 2, 1),                 # one tile per row, dilation
    (2, 6, 8, 16, 20, (3, 3), 1, 1, 1, 1),               # 16-pixel rows: narrow row tiles
]


def _data(case, dtype, seed=0):
    n, c, h, w, co, k, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((co, c // groups) + k).astype(dtype)
    bias = rng.standard_normal(co).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, weight, bias, kw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_reference(case, flip, algorithm, dtype):
    x, w, b, kw = _data(case, dtype)
    y = cyconv.conv2d(x, w, b, flip=flip, algorithm=algorithm, **kw)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    expected = ref.conv2d(x64, w64, b64, flip=flip, **kw)
    bound = ref.conv2d(np.abs(x64), np.abs(w64), np.abs(b64), flip=flip, **kw)
    _assert_close(y, expected, bound, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_backward_matches_reference(case, flip, algorithm, dtype):
    x, w, _, kw = _data(case, dtype)
    y = ref.conv2d(x, w, flip=flip, **kw)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = cyconv.conv2d_backward(gy, x, w, flip=flip, algorithm=algorithm, **kw)
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    expected = ref.conv2d_backward(gy64, x64, w64, flip=flip, **kw)
    bound = ref.conv2d_backward(np.abs(gy64), np.abs(x64), np.abs(w64), flip=flip, **kw)
    for name in ("grad_input", "grad_weight", "grad_bias"):
        _assert_close(getattr(grads, name), getattr(expected, name), getattr(bound, name), dtype)



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", [cyconv.GradWeightPath.PADDED_WIDE,
                                  cyconv.GradWeightPath.PADDED_NARROW])
@pytest.mark.parametrize("n, size", [(300, 6), (37, 8), (3, 70)])
def test_padded_weight_gradient_over_many_small_images(n, size, path, dtype):
    """The padded weight gradient sums several small images in working precision before each
    double accumulation (_conv_tuning.WEIGHT_GRAD_PARTIAL_POSITIONS): still within the
    contract, the same bits for any thread count, whatever the batch's remainder."""
    rng = np.random.default_rng(n + size)
    x = rng.standard_normal((n, 12, size, size)).astype(dtype)
    w = rng.standard_normal((20, 12, 3, 3)).astype(dtype)
    gy = rng.standard_normal((n, 20, size, size)).astype(dtype)
    with cyconv.forced_paths(grad_weight=path):
        assert cyconv.plan_conv(x, w, padding=1).backward.grad_weight == path
        got = [cyconv.conv2d_backward(gy, x, w, padding=1, need=("weight",),
                                      num_threads=t).grad_weight for t in (1, 2, 3)]
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    expected = ref.conv2d_backward(gy64, x64, w64, padding=1).grad_weight
    bound = ref.conv2d_backward(np.abs(gy64), np.abs(x64), np.abs(w64), padding=1).grad_weight
    _assert_close(got[0], expected, bound, dtype)


@pytest.mark.parametrize("path", [cyconv.GradWeightPath.PADDED_WIDE,
                                  cyconv.GradWeightPath.PADDED_NARROW])
@pytest.mark.parametrize("shape,k", [((1, 1, 1000, 1000), 1), ((1, 2, 10**6), 3),
                                     ((1, 1, 300, 400), 3)])
def test_padded_weight_gradient_of_one_long_image_of_one_sign(shape, k, path):
    """An image longer than WEIGHT_GRAD_PARTIAL_POSITIONS is summed in float chunks reaching
    it, each added into double: on data of one sign, where every rounding goes one way,
    within 2x the contract's bound (the image summed in float was 19x at 10^6 positions)."""
    x = np.ones(shape, np.float32)
    w = np.ones((2, shape[1]) + (k,) * (len(shape) - 2), np.float32)
    pad = k // 2
    ndim = len(shape) - 2
    y_shape = (1, 2) + shape[2:]
    gy = np.full(y_shape, 0.1, np.float32)
    with cyconv.forced_paths(grad_weight=path):
        got = getattr(cyconv, f"conv{ndim}d_backward")(gy, x, w, padding=pad,
                                                        need=("weight",)).grad_weight
    gy64, x64, w64 = (a.astype(np.float64) for a in (gy, x, w))
    expected = getattr(ref, f"conv{ndim}d_backward")(gy64, x64, w64, padding=pad).grad_weight
    # all terms positive: the bound is the expected value
    assert np.all(np.abs(got - expected) <= 2 * 2e-6 * expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c_in,c_out,groups,k", [(40, 24, 1, 3), (13, 7, 1, 3), (24, 16, 2, 3),
                                                 (256, 40, 1, 1)])
def test_padded_weight_gradient_channel_blocks(c_in, c_out, groups, k, dtype):
    """A padded weight-gradient work item covers several blocks of input channels (each
    grad_output chunk used by all of them); the thread count changes that blocking
    (1 thread: every block of a panel in one item; 16: one block, then fewer taps, per
    item) but not a bit of the result, which matches the reference."""
    rng = np.random.default_rng(c_in)
    x = rng.standard_normal((3, c_in, 9, 11)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(dtype)
    gy = rng.standard_normal((3, c_out, 9, 11)).astype(dtype)
    kw = dict(padding=k // 2, groups=groups)
    with cyconv.forced_paths(grad_weight=cyconv.GradWeightPath.PADDED_WIDE):
        assert cyconv.plan_conv(x, w, **kw).backward.grad_weight == \
            cyconv.GradWeightPath.PADDED_WIDE
        got = [cyconv.conv2d_backward(gy, x, w, need=("weight",), num_threads=t,
                                      **kw).grad_weight for t in (1, 2, 3, 16)]
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    expected = ref.conv2d_backward(gy64, x64, w64, **kw).grad_weight
    bound = ref.conv2d_backward(np.abs(gy64), np.abs(x64), np.abs(w64), **kw).grad_weight
    _assert_close(got[0], expected, bound, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c_in,spatial,c_out,kernel,kw", [
    (3, 20, (12, 12), 50, (5, 5), {}),                                  # lenet2-like, valid
    (2, 3, (9, 300), 5, (3, 3), dict(padding=1)),                       # pieces inside a row
    (2, 4, (15, 17), 6, (3, 3), dict(padding=2, dilation=2)),
    (2, 5, (40,), 7, (7,), dict(stride=2, padding=3)),                  # clipped at both ends
    (2, 6, (5, 6, 7), 4, (3, 2, 3),
     dict(stride=(1, 2, 1), padding=((1, 0), (0, 1), (2, 2)), dilation=(2, 1, 1))),
    (1, 3, (1, 1), 3, (3, 3), dict(padding=1)),                         # every tap but one clipped
])
def test_lowered_weight_gradient_panels_packed_from_x(n, c_in, spatial, c_out, kernel, kw,
                                                      dtype):
    """The lowered weight gradient packs its B panels straight from x, without bounds tests
    where a row's taps are all inside: against the reference wherever a piece starts or ends
    (inside an output row, across rows) and however the taps are clipped; the same bits for
    any thread count."""
    ndim = len(spatial)
    rng = np.random.default_rng(c_in * 7 + c_out)
    x = rng.standard_normal((n, c_in) + spatial).astype(dtype)
    w = rng.standard_normal((c_out, c_in) + kernel).astype(dtype)
    gy = rng.standard_normal(getattr(ref, f"conv{ndim}d")(x, w, **kw).shape).astype(dtype)
    backward = getattr(cyconv, f"conv{ndim}d_backward")
    with cyconv.forced_paths(grad_weight=cyconv.GradWeightPath.IM2COL):
        assert cyconv.plan_conv(x, w, **kw).backward.grad_weight == cyconv.GradWeightPath.IM2COL
        got = [backward(gy, x, w, need=("weight",), num_threads=t, **kw).grad_weight
               for t in (1, 2, 3)]
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    reference = getattr(ref, f"conv{ndim}d_backward")
    expected = reference(gy64, x64, w64, **kw).grad_weight
    bound = reference(np.abs(gy64), np.abs(x64), np.abs(w64), **kw).grad_weight
    _assert_close(got[0], expected, bound, dtype)


def test_auto_lowers_the_weight_gradient_where_the_padded_grid_is_mostly_empty():
    """'auto' takes the lowered weight gradient for lenet2 (64 outputs on a 144-position
    grid, 50 output channels), keeps the padded kernel with few output channels or a full
    grid, and 'implicit' keeps the padded kernel."""
    f64 = np.float64
    lenet2 = (np.ones((64, 20, 12, 12), f64), np.ones((50, 20, 5, 5), f64))
    assert cyconv.plan_conv(*lenet2).backward.grad_weight == cyconv.GradWeightPath.IM2COL
    assert cyconv.plan_conv(*lenet2, algorithm="implicit").backward.grad_weight in (
        cyconv.GradWeightPath.PADDED_WIDE, cyconv.GradWeightPath.PADDED_NARROW)
    few_outputs = (np.ones((64, 6, 14, 14), f64), np.ones((16, 6, 5, 5), f64))
    full_grid = (np.ones((8, 32, 28, 28), f64), np.ones((48, 32, 5, 5), f64))
    for x, w in (few_outputs, full_grid):
        assert cyconv.plan_conv(x, w).backward.grad_weight in (
            cyconv.GradWeightPath.PADDED_WIDE, cyconv.GradWeightPath.PADDED_NARROW)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4], CASES[5]])
def test_gradients_finite_differences(case, algorithm):
    """Directional derivatives of <grad_output, conv(x, w, b)> match the kernels' gradients."""
    x, w, b, kw = _data(case, np.float64, seed=3)
    rng = np.random.default_rng(4)
    gy = rng.standard_normal(cyconv.conv2d(x, w, b, **kw).shape)
    grads = cyconv.conv2d_backward(gy, x, w, algorithm=algorithm, **kw)
    eps = 1e-6

    def loss(x_, w_, b_):
        return float(np.sum(gy * cyconv.conv2d(x_, w_, b_, algorithm=algorithm, **kw)))

    for name, arg, grad in (("x", x, grads.grad_input), ("w", w, grads.grad_weight),
                            ("b", b, grads.grad_bias)):
        v = rng.standard_normal(arg.shape)
        args_plus = {"x": x, "w": w, "b": b}
        args_minus = dict(args_plus)
        args_plus[name] = arg + eps * v
        args_minus[name] = arg - eps * v
        numeric = (loss(args_plus["x"], args_plus["w"], args_plus["b"])
                   - loss(args_minus["x"], args_minus["w"], args_minus["b"])) / (2 * eps)
        analytic = float(np.sum(grad * v))
        assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-6), name


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_results_identical_for_any_thread_count(algorithm, dtype):
    x, w, b, kw = _data((5, 8, 23, 21, 12, (3, 3), 1, 1, 1, 2), dtype)
    gy = np.random.default_rng(2).standard_normal((5, 12, 23, 21)).astype(dtype)
    outs = []
    for n in (1, 2, 3):
        y = cyconv.conv2d(x, w, b, algorithm=algorithm, num_threads=n, **kw)
        g = cyconv.conv2d_backward(gy, x, w, algorithm=algorithm, num_threads=n, **kw)
        outs.append((y, *g))
    for other in outs[1:]:
        for a, b_ in zip(outs[0], other):
            np.testing.assert_array_equal(a, b_)


@pytest.fixture(params=[0, 1, 2])
def forced_isa(request):
    """Each micro-kernel family the CPU supports (0 generic, 1 AVX2, 2 AVX-512), selected
    for the test and restored after it."""
    isa = request.param
    if isa > kernels.cpu_isa():
        pytest.skip(f"CPU lacks ISA level {isa}")
    previous = kernels.current_isa()
    assert kernels.select_isa(isa) == isa
    yield isa
    kernels.select_isa(previous)


@pytest.mark.parametrize("width,npx,short,computed", [
    (28, 6, 5, 28), (32, 6, 5, 32), (56, 6, 5, 56), (14, 6, 5, 15), (8, 6, 5, 10),
    (7, 6, 5, 10), (1, 6, 5, 5), (6, 6, 5, 6), (112, 14, 0, 112), (32, 14, 0, 42),
    (30, 6, 0, 30), (5, 4, 3, 6), (7, 6, 4, 12)])
def test_row_tiles_width(width, npx, short, computed):
    """The pixels the wide row tiles compute for a row: the plan's accounting of the
    kernels' short tiles (none where the level has no short instance, or one that is not
    one pixel shorter)."""
    from cyconv import _conv_geometry
    assert _conv_geometry.row_tiles_width(width, npx, short) == computed


def test_weight_grad_blocking_takes_panels_only_where_they_cut_the_traffic():
    """The padded weight gradient's items take several output-channel panels only where
    the input does not fit L3 and that cuts the input + grad_output traffic
    WEIGHT_GRAD_PANELS_MIN_CUT-fold, keep their tiles within WEIGHT_GRAD_TILE_BYTES (beyond
    one panel and block) and leave two items per thread (fewer taps as the last resort)."""
    from cyconv import _conv_geometry, _conv_tuning as tuning
    blocking = _conv_geometry.weight_grad_blocking
    big = tuning.L3_CACHE_BYTES // 8 + 1  # doubles past L3
    # res1x1-like: the input is 4x grad_output, 8 panels: all panels, blocks for 2 threads
    assert blocking(8, 43, 1, 1, 768, big, big // 4, 8, 2) == (8, 11, 1)
    # ... but one panel while the input fits L3
    assert blocking(8, 43, 1, 1, 768, big // 2, big // 8, 8, 2) == (1, 43, 1)
    # input and grad_output alike: one panel, every block
    assert blocking(8, 11, 9, 1, 768, big, big, 8, 2) == (1, 11, 9)
    # one thread: fewer, larger items
    assert blocking(8, 43, 1, 1, 768, big, big // 4, 8, 1)[0] == 8
    # many threads: one panel and one block, then fewer taps
    assert blocking(2, 2, 27, 1, 768, big, big // 4, 8, 16) == (1, 1, 2)
    for panels, blocks, taps in [(8, 43, 1), (3, 5, 25), (1, 7, 401), (16, 2, 9)]:
        for n_threads in (1, 2, 4):
            pb, cb, tb = blocking(panels, blocks, taps, 2, 1152, big * 2, big // 4, 4,
                                  n_threads)
            assert 1 <= pb <= panels and 1 <= cb <= blocks and 1 <= tb <= taps
            assert pb * cb == 1 or pb * cb * tb * 1152 <= tuning.WEIGHT_GRAD_TILE_BYTES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c_in,c_out,groups,k", [(256, 40, 1, 1), (96, 72, 2, 1),
                                                 (20, 50, 1, 5), (13, 40, 1, 3),
                                                 (14, 24, 2, 1), (8, 16, 2, 1)])
def test_padded_weight_gradient_any_blocking_same_bits(c_in, c_out, groups, k, dtype):
    """Work items of several output-channel panels, input-channel blocks and tap blocks
    (what weight_grad_blocking picks by the input's size and the thread count) give the
    same bits as one panel, block and tap per item, and match the reference. 1x1 kernels
    (no padding) read the input in place: a group's last channel block overlaps the one
    before it (7 channels per group), or, with fewer channels than a block, the input is
    copied with slack (4)."""
    from cyconv import _conv_backward, _conv_geometry as geo
    from cyconv._kernels import _isa
    from cyconv._validate import conv_params
    rng = np.random.default_rng(c_in + k)
    x = rng.standard_normal((3, c_in, 9, 11)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(dtype)
    gy = rng.standard_normal((3, c_out, 9, 11)).astype(dtype)
    p = conv_params(x, w, None, stride=1, padding=k // 2, dilation=1, groups=groups, ndim=2)
    ob, npx = _isa.direct_tile_shape(dtype == np.float32, False)
    panels, blocks = geo.ceil_div(c_out // groups, ob), geo.ceil_div(c_in // groups, npx)
    got = []
    for blocking in [(1, 1, 1), (panels, blocks, k * k), (2, 3, 2), (panels, 1, 1),
                     (1, blocks, 3)]:
        gw = np.zeros_like(w)
        _conv_backward._padded_weight_grad(p, gy.reshape(3, c_out, -1), geo.to5d(x, 2),
                                           geo.to5d(gw, 2), False, 2, blocking=blocking)
        got.append(gw)
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    kw = dict(padding=k // 2, groups=groups)
    expected = ref.conv2d_backward(gy64, x64, w64, **kw).grad_weight
    bound = ref.conv2d_backward(np.abs(gy64), np.abs(x64), np.abs(w64), **kw).grad_weight
    _assert_close(got[0], expected, bound, dtype)


def test_weight_chunks_are_powers_of_two_within_their_bounds():
    """The partial weight gradients: a power of two, within the pieces, the most allowed and
    the memory budget, but at least MIN_WEIGHT_CHUNKS where the pieces allow."""
    from cyconv import _conv_geometry, _conv_tuning as tuning
    budget = tuning.PARTIAL_BYTES
    assert _conv_geometry.weight_chunks(32, 16, 1) == 16
    assert _conv_geometry.weight_chunks(32, 16, budget // 6) == 4      # 6 fit: 4
    assert _conv_geometry.weight_chunks(32, 16, budget * 10) == tuning.MIN_WEIGHT_CHUNKS
    assert _conv_geometry.weight_chunks(3, 16, 1) == 2
    assert _conv_geometry.weight_chunks(1, 16, budget * 10) == 1
    assert _conv_geometry.weight_chunks(0, 16, 1) == 1
    for pieces in range(1, 40):
        for most in (1, 8, 16):
            for size in (1, budget // 5, budget):
                c = _conv_geometry.weight_chunks(pieces, most, size)
                assert c & (c - 1) == 0 and 1 <= c <= max(1, min(pieces, most))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride,mode", [(1, None), (2, None), (1, "in-place")])
def test_row_tiles_cover_every_width(forced_isa, dtype, stride, mode):
    """The wide row tiles end each row on short tiles (one pixel less) where the level has
    them: every output width from 1 to 40 (1, 2 and 3 short tiles, none, rows narrower than
    one tile), with a bias, on 16 + 3 output channels (a partial panel), read as a padded
    copy and in place, match the reference."""
    rng = np.random.default_rng(stride)
    c_in, c_out = 5, 19
    w = rng.standard_normal((c_out, c_in, 1, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    in_place = cyconv.InputMode.IN_PLACE if mode else cyconv.InputMode.PADDED_COPY
    for out_w in range(1, 41):
        x = rng.standard_normal((2, c_in, 3, (out_w - 1) * stride + 1)).astype(dtype)
        kw = dict(stride=(1, stride), padding=(0, 1))
        with cyconv.forced_paths(forward=cyconv.ForwardPath.ROWS_WIDE, input_mode=in_place):
            plan = cyconv.plan_conv(x, w, b, **kw)
            assert plan.forward.path == cyconv.ForwardPath.ROWS_WIDE
            assert plan.forward.input_mode == in_place
            y = cyconv.conv2d(x, w, b, **kw)
        expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64),
                              b.astype(np.float64), **kw)
        assert y.shape == expected.shape
        tol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max(),
                                   err_msg=f"output width {out_w}")


def test_every_microkernel_isa_agrees(forced_isa):
    """Force each micro-kernel family the CPU supports; all must satisfy the contract."""
    for dtype in DTYPES:
        # implicit paths (offset GEMM kernel, row-tiled direct kernel) on stride-1 cases
        for case in (CASES[9], CASES[11], CASES[12], CASES[14]):
            x, w, b, kw = _data(case, dtype)
            x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
            _assert_close(cyconv.conv2d(x, w, b, algorithm="implicit", **kw),
                          ref.conv2d(x64, w64, b64, **kw),
                          ref.conv2d(np.abs(x64), np.abs(w64), np.abs(b64), **kw), dtype)
        x, w, b, kw = _data(CASES[8], dtype)
        y = cyconv.conv2d(x, w, b, algorithm="im2col", **kw)
        gy = np.ones_like(y)
        grads = cyconv.conv2d_backward(gy, x, w, algorithm="im2col", **kw)
        x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
        _assert_close(y, ref.conv2d(x64, w64, b64, **kw),
                      ref.conv2d(np.abs(x64), np.abs(w64), np.abs(b64), **kw), dtype)
        expected = ref.conv2d_backward(gy.astype(np.float64), x64, w64, **kw)
        bound = ref.conv2d_backward(gy.astype(np.float64), np.abs(x64), np.abs(w64), **kw)
        _assert_close(grads.grad_input, expected.grad_input, bound.grad_input, dtype)
        _assert_close(grads.grad_weight, expected.grad_weight, bound.grad_weight, dtype)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_non_contiguous_inputs_and_inputs_unmodified(algorithm):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 8, 14, 10)).transpose(0, 1, 3, 2)[:, ::2]   # (3, 4, 10, 14)
    w = np.asfortranarray(rng.standard_normal((6, 4, 3, 3)))[:, :, ::-1]
    b = rng.standard_normal(12)[::2]
    x_copy, w_copy, b_copy = x.copy(), w.copy(), b.copy()
    y = cyconv.conv2d(x, w, b, padding=1, algorithm=algorithm)
    np.testing.assert_allclose(y, ref.conv2d(x, w, b, padding=1), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)[..., ::-1]
    grads = cyconv.conv2d_backward(gy, x, w, padding=1, algorithm=algorithm)
    expected = ref.conv2d_backward(gy, x, w, padding=1)
    for a, e in zip(grads, expected):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(b, b_copy)


def test_need_subsets_and_empty_batch():
    x = np.ones((2, 3, 5, 5))
    w = np.ones((4, 3, 3, 3))
    gy = np.ones((2, 4, 3, 3))
    g = cyconv.conv2d_backward(gy, x, w, need=("weight",))
    assert g.grad_input is None and g.grad_bias is None and g.grad_weight.shape == w.shape
    g = cyconv.conv2d_backward(gy, x, w, need=("input", "bias"))
    assert g.grad_weight is None
    np.testing.assert_array_equal(g.grad_bias, np.full(4, 18.0))
    y = cyconv.conv2d(np.ones((0, 3, 5, 5)), w)
    assert y.shape == (0, 4, 3, 3)
    g = cyconv.conv2d_backward(np.ones((0, 4, 3, 3)), np.ones((0, 3, 5, 5)), w)
    assert g.grad_input.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(g.grad_weight, np.zeros_like(w))


def test_out_argument():
    x, w, b, kw = _data(CASES[0], np.float32)
    out = np.empty((2, 5, 9, 11), np.float32)
    y = cyconv.conv2d(x, w, b, out=out, **kw)
    assert y is out
    np.testing.assert_array_equal(out, cyconv.conv2d(x, w, b, **kw))
    with pytest.raises(ValueError, match="out must have shape"):
        cyconv.conv2d(x, w, b, out=np.empty((2, 5, 9, 10), np.float32), **kw)
    with pytest.raises(ValueError, match="out must have shape"):
        cyconv.conv2d(x, w, b, out=np.empty((2, 5, 9, 11), np.float64), **kw)
    with pytest.raises(ValueError, match="C-contiguous"):
        cyconv.conv2d(x, w, b, out=np.empty((2, 5, 11, 9), np.float32).transpose(0, 1, 3, 2), **kw)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_nan_and_inf_propagate_like_the_reference(algorithm):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 9, 9))
    x[0, 1, 4, 4] = np.nan
    x[1, 2, 0, 8] = np.inf
    w = rng.standard_normal((4, 3, 3, 3))
    y = cyconv.conv2d(x, w, padding=1, algorithm=algorithm)
    expected = ref.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(y[finite], expected[finite], rtol=1e-10, atol=1e-10)


def test_algorithm_auto_rule():
    from cyconv.conv import choose_algorithm
    from cyconv._validate import conv_params
    depthwise = conv_params(np.ones((1, 8, 5, 5)), np.ones((8, 1, 3, 3)), None, stride=1,
                            padding=0, dilation=1, groups=8, ndim=2)
    dense = conv_params(np.ones((1, 8, 5, 5)), np.ones((16, 8, 3, 3)), None, stride=1,
                        padding=0, dilation=1, groups=1, ndim=2)
    strided = conv_params(np.ones((1, 8, 9, 9)), np.ones((16, 8, 3, 3)), None, stride=2,
                          padding=1, dilation=1, groups=1, ndim=2)
    pointwise = conv_params(np.ones((1, 8, 5, 5)), np.ones((16, 8, 1, 1)), None, stride=1,
                            padding=0, dilation=1, groups=1, ndim=2)
    assert choose_algorithm(depthwise) == "direct"
    assert choose_algorithm(dense) == "implicit"
    # 5-pixel rows: the row tiles take them where they cover 5 pixels exactly (AVX2's short
    # tile; 1.4-2.7x faster than im2col there, benchmarks/README.md "AVX2 row kernels"),
    # else they waste too much (AVX-512's tiles of 8 or 14)
    from cyconv import _conv_geometry
    npx = kernels.direct_tile_shape(False)[1]
    exact = _conv_geometry.row_tiles_width(5, npx, kernels.short_tile_pixels()) == 5
    assert choose_algorithm(strided) == ("implicit" if exact else "im2col")
    padded_1x1 = conv_params(np.ones((1, 8, 5, 5)), np.ones((16, 8, 1, 1)), None, stride=1,
                             padding=1, dilation=1, groups=1, ndim=2)
    strided_1x1 = conv_params(np.ones((1, 8, 5, 5)), np.ones((16, 8, 1, 1)), None, stride=2,
                              padding=0, dilation=1, groups=1, ndim=2)
    assert choose_algorithm(pointwise) == "implicit"   # a GEMM on NCHW, read in place
    assert choose_algorithm(padded_1x1) == "im2col"
    assert choose_algorithm(strided_1x1) == "im2col"


@pytest.mark.parametrize("c_in,c_out,groups,forward", [
    (3, 3, 1, "direct"), (1, 9, 1, "direct"), (2, 4, 1, "direct"), (6, 6, 2, "direct"),
    (3, 4, 1, "im2col"), (2, 2, 1, "direct")])
def test_forward_stays_direct_for_few_channels_while_the_gradients_follow_the_shared_rule(
        c_in, c_out, groups, forward):
    x = np.ones((1, c_in, 32, 32), np.float32)
    w = np.ones((c_out, c_in // groups, 3, 3), np.float32)
    plans = cyconv.plan_conv(x, w, padding=1, groups=groups)
    assert plans.forward.path.value == forward
    product = (c_in // groups) * (c_out // groups)
    assert plans.backward.algorithm == ("direct" if product <= 4 else "im2col")
    # an explicit algorithm is honoured as given
    assert cyconv.plan_conv(x, w, padding=1, groups=groups,
                            algorithm="im2col").forward.path.value == "im2col"


# The 1x1 GEMM path: pixel counts around the micro-kernel's NR (full panels, a narrow last
# panel, blocks across images), channel counts around MR and past KC, groups, 1-3 spatial
# dims.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,c_in,c_out,groups", [
    ((1,), 3, 5, 1), ((47,), 8, 8, 1), ((48,), 16, 9, 1), ((49,), 7, 17, 1),
    ((97,), 12, 6, 3), ((7, 7), 64, 64, 1), ((13, 11), 20, 50, 2), ((56, 56), 32, 16, 1),
    ((3, 4, 5), 6, 10, 2), ((2, 9, 9), 33, 24, 1),
    ((5, 7), 300, 7, 1),  # more input channels than one reduction chunk (KC)
])
def test_pointwise_forward_matches_reference(shape, c_in, c_out, groups, dtype):
    rng = np.random.default_rng(len(shape) * 1000 + c_in * 10 + c_out)
    ndim = len(shape)
    conv = getattr(cyconv, f"conv{ndim}d")
    x = rng.standard_normal((3, c_in) + shape).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + (1,) * ndim).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    expected = getattr(ref, f"conv{ndim}d")(x, w, b, groups=groups)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for algorithm in ("auto", "implicit"):
        y = conv(x, w, b, groups=groups, algorithm=algorithm)
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max())
    one = conv(x, w, b, groups=groups, num_threads=1)
    np.testing.assert_array_equal(conv(x, w, b, groups=groups, num_threads=3), one)
    grads = getattr(cyconv, f"conv{ndim}d_backward")(np.ones_like(expected), x, w,
                                                        groups=groups)
    expected_grads = getattr(ref, f"conv{ndim}d_backward")(np.ones_like(expected), x, w,
                                                            groups=groups)
    np.testing.assert_allclose(grads.grad_input, expected_grads.grad_input, rtol=tol,
                               atol=tol * np.abs(expected_grads.grad_input).max())


# ---- validation: every bad input is a clear ValueError/TypeError, raised before any kernel


def _ok():
    return np.ones((2, 4, 8, 8), np.float32), np.ones((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("make_args, exc, match", [
    (lambda x, w: ((x[0, 0], w), {}), ValueError, r"x must be 4-D.*\(8, 8\)"),
    (lambda x, w: ((x, w[0]), {}), ValueError, r"weight must be 4-D"),
    (lambda x, w: ((x, np.ones((6, 3, 3, 3), np.float32)), {}), ValueError, r"weight shape \(6, 3, 3, 3\)"),
    (lambda x, w: ((x, np.ones((6, 2, 3, 3), np.float32)), {"groups": 3}), ValueError, r"not divisible by groups=3"),
    (lambda x, w: ((x, np.ones((5, 2, 3, 3), np.float32)), {"groups": 2}), ValueError, r"weight has 5 output channels"),
    (lambda x, w: ((x, w), {"groups": 0}), ValueError, r"groups must be positive"),
    (lambda x, w: ((x, w), {"groups": 1.5}), TypeError, r"groups must be an int"),
    (lambda x, w: ((x, w), {"stride": 0}), ValueError, r"stride must be positive"),
    (lambda x, w: ((x, w), {"stride": (1, 2, 3)}), ValueError, r"stride must be an int or a sequence of 2"),
    (lambda x, w: ((x, w), {"dilation": -1}), ValueError, r"dilation must be positive"),
    (lambda x, w: ((x, w), {"padding": -1}), ValueError, r"padding must be >= 0"),
    (lambda x, w: ((x, w), {"padding": ((1, -1), (0, 0))}), ValueError, r"padding must be non-negative"),
    (lambda x, w: ((x, w), {"padding": "sideways"}), ValueError, r"padding must be"),
    (lambda x, w: ((x, w), {"padding": "causal"}), ValueError, r"causal"),
    (lambda x, w: ((x, np.ones((6, 4, 9, 9), np.float32)), {}), ValueError, r"output size .* too small"),
    (lambda x, w: ((x, w), {"dilation": 5}), ValueError, r"output size .* too small"),
    (lambda x, w: ((x, w.astype(np.float64)), {}), TypeError, r"x and weight must share a dtype"),
    (lambda x, w: ((x.astype(np.int32), w), {}), TypeError, r"x must have dtype float32 or float64, got int32"),
    (lambda x, w: ((x.astype(np.complex64), w), {}), TypeError, r"x must have dtype float32 or float64"),
    (lambda x, w: ((x.astype(np.float16), w), {}), TypeError, r"float16 inputs are computed in float32 only when every float array is float16"),
    (lambda x, w: ((x, w, np.ones(5, np.float32)), {}), ValueError, r"bias must have shape \(6,\)"),
    (lambda x, w: ((x, w, np.ones(6, np.float64)), {}), TypeError, r"bias must share the dtype"),
    (lambda x, w: ((x, w), {"algorithm": "toom-cook"}), ValueError, r"algorithm must be one of"),
    (lambda x, w: ((x, w), {"num_threads": 0}), ValueError, r"num_threads must be a positive int"),
    (lambda x, w: ((x, w), {"flip": "yes"}), TypeError, r"flip must be a bool"),
    (lambda x, w: ((None, w), {}), TypeError, r"x must be an array"),
])
def test_forward_validation(make_args, exc, match):
    x, w = _ok()
    args, kwargs = make_args(x, w)
    with pytest.raises(exc, match=match):
        cyconv.conv2d(*args, **kwargs)


def test_backward_validation():
    x, w = _ok()
    gy = np.ones((2, 6, 6, 6), np.float32)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 6, 6, 6\)"):
        cyconv.conv2d_backward(gy[:, :, :5], x, w)
    with pytest.raises(TypeError, match=r"grad_output must have dtype float32"):
        cyconv.conv2d_backward(gy.astype(np.float64), x, w)
    with pytest.raises(ValueError, match=r"need has unknown entries"):
        cyconv.conv2d_backward(gy, x, w, need=("inputs",))
    with pytest.raises(TypeError, match=r"grad_output must have dtype float32 or float64"):
        cyconv.conv2d_backward(gy.astype(np.int64), x, w)


def test_tune_caches_the_faster_algorithm():
    from cyconv import _conv_plan, conv
    x = np.ones((2, 8, 12, 12), np.float32)
    w = np.ones((8, 1, 3, 3), np.float32)
    timings = cyconv.tune(x, w, padding=1, groups=8, num_threads=1, repeats=1)
    assert set(timings) == {"direct", "im2col", "implicit", "fft", "winograd"}  # 2-D 3x3
    assert all(t > 0 for t in timings.values())
    winner = min(timings, key=timings.get)
    p = conv._validate.conv_params(x, w, None, stride=1, padding=1, dilation=1, groups=8, ndim=2)
    assert _conv_plan.resolve_algorithm(p, "auto", 1) == winner
    # 'auto' still gives the reference answer, whichever algorithm won
    np.testing.assert_allclose(cyconv.conv2d(x, w, padding=1, groups=8, num_threads=1),
                               ref.conv2d(x, w, padding=1, groups=8), rtol=1e-6)
    with pytest.raises(ValueError, match="x must have"):
        cyconv.tune(np.ones(3, np.float32), w)
    timings = cyconv.tune(x.astype(np.float64), w.astype(np.float64), padding=1, groups=8,
                          num_threads=1, repeats=1, backward=False)
    assert set(timings) == {"direct", "im2col", "implicit", "fft", "winograd"}
    timings = cyconv.tune(x[:, :, :, :5], w[:, :, :, :2], padding=1, groups=8, num_threads=1,
                          repeats=1, backward=False)
    assert set(timings) == {"direct", "im2col", "implicit", "fft"}  # winograd: 3x3 only
    # 1-D: FFTs in float64 only (float32's direct kernels stay faster)
    x1, w1 = np.ones((2, 8, 12), np.float32), np.ones((8, 8, 3), np.float32)
    assert set(cyconv.tune(x1, w1, num_threads=1, repeats=1, backward=False)) == \
        {"direct", "im2col", "implicit"}
    assert "fft" in cyconv.tune(x1.astype(np.float64), w1.astype(np.float64), num_threads=1,
                                repeats=1, backward=False)


# The row-tiled kernel's [pixel][channel] tiles leave through a 16x16 block transpose:
# channel counts and row widths around multiples of 16, with and without bias (strided
# convolutions always run on the row tiles, whatever their channel count).
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_out,width,stride", [(32, 16, 1), (64, 24, 1), (32, 40, 1),
                                                (64, 128, 1), (20, 47, 2), (33, 80, 2),
                                                (48, 29, 2), (17, 3, 2)])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("path", [cyconv.ForwardPath.ROWS_WIDE, cyconv.ForwardPath.ROWS_NARROW])
def test_row_tiles_unpack_to_nchw(c_out, width, stride, with_bias, dtype, path):
    rng = np.random.default_rng(c_out * 1000 + width)
    x = rng.standard_normal((2, 24, 5, width)).astype(dtype)
    w = rng.standard_normal((c_out, 24, 3, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if with_bias else None
    with cyconv.forced_paths(forward=path):
        assert cyconv.plan_conv(x, w, b, stride=stride, padding=1).forward.path == path
        y = cyconv.conv2d(x, w, b, stride=stride, padding=1)
    expected = ref.conv2d(x, w, b, stride=stride, padding=1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max())


# The fused depthwise plane kernels (one input channel per group, unit row stride): every
# kernel width they specialize (1-7) and the generic one (8+), dilation, height stride,
# depth multipliers, asymmetric padding, rows shorter and longer than a vector chunk.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial,kernel,kw", [
    ((56, 56), (3, 3), dict(padding=1)),
    ((13, 29), (5, 5), dict(padding=2)),
    ((9, 70), (1, 1), dict()),
    ((12, 31), (2, 4), dict(padding=((1, 0), (2, 1)))),
    ((17, 37), (3, 6), dict(padding=2, stride=(2, 1))),
    ((11, 40), (7, 7), dict(padding=(1, 4), dilation=(1, 2))),
    ((6, 90), (3, 9), dict(padding=(1, 4))),
    ((200,), (11,), dict(padding=5)),
    ((5,), (3,), dict(padding=1, dilation=2)),
])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_planes_match_reference(spatial, kernel, kw, multiplier, dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(sum(spatial) + sum(kernel) + multiplier)
    conv = getattr(cyconv, f"conv{ndim}d")
    conv_bwd = getattr(cyconv, f"conv{ndim}d_backward")
    x = rng.standard_normal((3, 6) + spatial).astype(dtype)
    w = rng.standard_normal((6 * multiplier, 1) + kernel).astype(dtype)
    b = rng.standard_normal(6 * multiplier).astype(dtype)
    expected = getattr(ref, f"conv{ndim}d")(x, w, b, groups=6, **kw)
    y = conv(x, w, b, groups=6, algorithm="direct", **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = conv_bwd(gy, x, w, groups=6, algorithm="direct", **kw)
    expected_grads = getattr(ref, f"conv{ndim}d_backward")(gy, x, w, groups=6, **kw)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for got, want in ((y, expected), (grads.grad_input, expected_grads.grad_input),
                      (grads.grad_weight, expected_grads.grad_weight)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    again = conv_bwd(gy, x, w, groups=6, algorithm="direct", num_threads=3, **kw)
    np.testing.assert_array_equal(again.grad_weight, grads.grad_weight)
    np.testing.assert_array_equal(again.grad_input, grads.grad_input)
    np.testing.assert_array_equal(conv(x, w, b, groups=6, algorithm="direct", num_threads=3,
                                       **kw), y)
    # subsets of the gradients, and true convolution (flip): the same numbers
    bias_only = conv_bwd(gy, x, w, groups=6, algorithm="direct", need=("bias",), **kw)
    np.testing.assert_array_equal(bias_only.grad_bias, grads.grad_bias)
    weight_only = conv_bwd(gy, x, w, groups=6, algorithm="direct", need=("weight",), **kw)
    assert weight_only.grad_input is None and weight_only.grad_bias is None
    np.testing.assert_array_equal(weight_only.grad_weight, grads.grad_weight)
    input_only = conv_bwd(gy, x, w, groups=6, algorithm="direct", need=("input",), **kw)
    np.testing.assert_array_equal(input_only.grad_input, grads.grad_input)
    flip_axes = tuple(range(2, 2 + ndim))
    flipped = conv_bwd(gy, x, np.flip(w, flip_axes), groups=6, algorithm="direct",
                       flip=True, **kw)
    np.testing.assert_array_equal(flipped.grad_input, grads.grad_input)
    np.testing.assert_array_equal(flipped.grad_weight, np.flip(grads.grad_weight, flip_axes))


def test_depthwise_planes_on_every_isa(forced_isa):
    rng = np.random.default_rng(forced_isa)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 4, 9, 45)).astype(dtype)
        w = rng.standard_normal((4, 1, 3, 5)).astype(dtype)
        y = cyconv.conv2d(x, w, padding=(1, 2), groups=4, algorithm="direct")
        gy = np.ones_like(y)
        grads = cyconv.conv2d_backward(gy, x, w, padding=(1, 2), groups=4,
                                       algorithm="direct")
        want = ref.conv2d_backward(gy, x, w, padding=(1, 2), groups=4)
        tol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y, ref.conv2d(x, w, padding=(1, 2), groups=4),
                                   rtol=tol, atol=tol * 10)
        np.testing.assert_allclose(grads.grad_weight, want.grad_weight, rtol=tol,
                                   atol=tol * np.abs(want.grad_weight).max())
        np.testing.assert_allclose(grads.grad_input, want.grad_input, rtol=tol,
                                   atol=tol * 10)


# The implicit path pads the input either per work item (small images: one item per image
# and group) or in one whole copy beforehand; both feed the same tiles, so the results are
# bitwise equal.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kernel,kw", [
    ((3, 8, 40), (16, 8, 5), dict(padding=2)),
    ((2, 6, 9, 30), (12, 3, 3, 3), dict(padding=(1, 2), groups=2)),
    ((2, 4, 5, 6, 29), (8, 4, 3, 3, 3), dict(padding=1, stride=(1, 1, 2))),
    ((4, 16, 7, 7), (32, 16, 3, 3), dict(padding=((0, 2), (1, 1)), dilation=2)),
])
@pytest.mark.parametrize("path", [cyconv.ForwardPath.ROWS_WIDE, cyconv.ForwardPath.ROWS_NARROW])
def test_per_item_padding_matches_whole_copy(shape, kernel, kw, dtype, path):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kernel).astype(dtype)
    b = rng.standard_normal(kernel[0]).astype(dtype)
    conv = getattr(cyconv, f"conv{len(shape) - 2}d")
    results = []
    for mode in (cyconv.InputMode.PER_ITEM, cyconv.InputMode.PADDED_COPY):
        with cyconv.forced_paths(forward=path, input_mode=mode):
            plan = cyconv.plan_conv(x, w, b, **kw).forward
            assert (plan.path, plan.input_mode) == (path, mode)
            results.append(conv(x, w, b, **kw))
    per_item, whole = results
    np.testing.assert_array_equal(per_item, whole)
    expected = getattr(ref, f"conv{len(shape) - 2}d")(x, w, b, **kw)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(whole, expected, rtol=tol, atol=tol * np.abs(expected).max())


# Both row kernel families (channels on the lanes; forced pixels on the lanes), 1-D/2-D/3-D,
# strides, dilation, causal, 'full' and one-sided padding, groups, no padding, rows shorter
# than a tile, partial channel panels; against the reference and, bitwise, between the
# ways of reading the input: the channel-lane tiles read an input padded along the width
# alone in place (the tiles at a row's ends read copies of just their columns), or a
# padded copy per work item or of the whole input (depth/height padding: the last cases).
UNPADDED_ROW_CASES = [
    ((3, 8, 200), (16, 8, 5), dict(padding=2)),
    ((2, 12, 130), (20, 12, 3), dict(padding="causal", dilation=3)),
    ((2, 6, 70), (14, 6, 7), dict(padding="full")),
    ((2, 8, 300), (10, 4, 4), dict(padding=((3, 0),), groups=2)),
    ((2, 8, 100), (32, 8, 5), dict(padding=2, stride=2)),
    ((2, 8, 40), (7, 8, 3), dict(padding=1)),
    ((2, 8, 64), (16, 8, 3), dict()),
    ((2, 4, 3, 150), (10, 4, 2, 3), dict(padding=((0, 0), (1, 1)))),
    ((1, 4, 2, 3, 140), (7, 4, 2, 2, 3), dict(padding=((0, 0), (0, 0), (2, 0)),
                                             dilation=(1, 1, 2))),
    ((2, 5, 6, 70), (11, 5, 3, 3), dict(padding=1)),
    ((1, 3, 4, 3, 66), (13, 3, 3, 3, 3), dict(padding=1, dilation=(1, 1, 2))),
    # rows of one or two vectors: the pixel-lane kernel's calls span 3 rows (with a block
    # of fewer rows at the end of a work item)
    ((2, 5, 6, 20), (11, 5, 3, 3), dict(padding=1)),
    ((1, 3, 4, 5, 12), (9, 3, 3, 3, 3), dict(padding=1)),
    ((2, 4, 9, 32), (16, 4, 3, 3), dict(padding=1, dilation=(2, 1))),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row_kernel,shape,kernel,kw", [
    (row_kernel, *case) for row_kernel in ("pixels", "channels") for case in UNPADDED_ROW_CASES
    # the pixel-lane kernel is for unit width strides only
    if row_kernel == "channels" or case[2].get("stride", 1) == 1])
def test_unpadded_rows_and_pixel_rows_match_reference(shape, kernel, kw, row_kernel, dtype):
    ndim = len(shape) - 2
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kernel).astype(dtype)
    b = rng.standard_normal(kernel[0]).astype(dtype)
    conv = getattr(cyconv, f"conv{ndim}d")
    if row_kernel == "pixels":
        if not kernels.pixel_rows_available():
            pytest.skip("CPU lacks AVX2 for the pixel-lane row kernel")
        path, first_mode = cyconv.ForwardPath.PIXEL_ROWS, cyconv.InputMode.PER_ITEM
    else:
        path = cyconv.ForwardPath.ROWS_NARROW
        # in place even where most of a row's tiles are edge tiles (short rows)
        width_only = all(lo == 0 and hi == 0 for lo, hi in
                         _shapes.resolve_padding(kw.get("padding", 0), kernel[2:],
                                                 (kw.get("dilation", 1),) * ndim
                                                 if isinstance(kw.get("dilation", 1), int)
                                                 else kw["dilation"])[:-1])
        with cyconv.forced_paths(forward=path, input_mode=cyconv.InputMode.IN_PLACE):
            mode = cyconv.plan_conv(x, w, b, **kw).forward.input_mode
        assert (mode == cyconv.InputMode.IN_PLACE) == width_only
        first_mode = mode
    with cyconv.forced_paths(forward=path, input_mode=first_mode):
        assert cyconv.plan_conv(x, w, b, **kw).forward.path == path
        y = conv(x, w, b, **kw)
        np.testing.assert_array_equal(conv(x, w, b, num_threads=3, **kw), y)
    expected = getattr(ref, f"conv{ndim}d")(x.astype(np.float64), w.astype(np.float64),
                                           b.astype(np.float64), **kw)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max())
    for mode in (cyconv.InputMode.PER_ITEM, cyconv.InputMode.PADDED_COPY):
        with cyconv.forced_paths(forward=path, input_mode=mode):
            assert cyconv.plan_conv(x, w, b, **kw).forward.input_mode == mode
            np.testing.assert_array_equal(conv(x, w, b, **kw), y)


def test_pixel_rows_where_they_apply():
    def applies(x_shape, c_out, kernel, dtype=np.float32, stride=1, padding=0):
        x = np.ones(x_shape, dtype)
        w = np.ones((c_out, x_shape[1]) + kernel, dtype)
        plan = cyconv.plan_conv(x, w, stride=stride, padding=padding, algorithm="implicit")
        return plan.forward.path == cyconv.ForwardPath.PIXEL_ROWS

    if not kernels.pixel_rows_available():
        assert not applies((32, 64, 1024), 64, (5,), padding=2)
        return
    assert not applies((32, 64, 1024), 64, (5,), dtype=np.float64, padding=2)
    assert not applies((32, 64, 1024), 64, (5,), stride=2)
    if kernels.current_isa() == 2:
        # AVX-512's float64 pixel-lane tiles (24 pixels) lost to the row tiles everywhere
        assert not applies((64, 20, 12, 12), 50, (5, 5), dtype=np.float64)
    if kernels.current_isa() == 1:
        # AVX2's 4 x 24 tiles only where the row tiles waste clearly more
        assert applies((64, 20, 12, 12), 50, (5, 5))                # lenet2: 8 of 10 pixels
        assert applies((64, 20, 12, 12), 50, (5, 5), dtype=np.float64)
        assert applies((32, 50, 1000), 50, (5,), padding=2)         # 50 of 64 channels
        assert not applies((16, 64, 14, 14), 64, (3, 3), padding=1)  # 14 of 15: row tiles
        assert not applies((32, 64, 1024), 64, (5,), padding=2)     # both full: row tiles
        assert not applies((2, 16, 32, 32, 32), 32, (3, 3, 3), padding=1)
        assert not applies((8, 64, 56, 56), 64, (3, 3), padding=1)
        assert not applies((8, 128, 64, 64), 64, (3, 3), padding=1)  # 45 KiB: beyond L1
        return
    assert applies((32, 64, 1024), 64, (5,), padding=2)             # the conv1d row
    assert applies((2, 16, 32, 32, 32), 32, (3, 3, 3), padding=1)   # the conv3d row
    assert applies((64, 16, 4096), 16, (7,), padding=3)             # 16 channels
    assert applies((32, 50, 1000), 50, (5,), padding=2)
    assert not applies((32, 64, 1024), 64, (5,), dtype=np.float64, padding=2)
    assert not applies((8, 64, 56, 56), 64, (3, 3), padding=1)      # vgg3x3: 56 of 64 lanes
    assert not applies((32, 64, 1024), 64, (5,), stride=2)
    assert not applies((8, 64, 64, 64), 64, (3, 3), padding=1)      # 56 KiB: beyond L1
    assert not applies((8, 256, 2000), 256, (3,), padding=1)


def test_unpadded_rows_where_few_tiles_are_edges():
    from cyconv import _conv_geometry, _conv_tuning
    from cyconv._validate import conv_params

    def in_place(x_shape, kernel, padding, npx):
        x = np.ones(x_shape, np.float32)
        w = np.ones((4, x_shape[1]) + kernel, np.float32)
        p = conv_params(x, w, None, stride=1, padding=padding, dilation=1, groups=1,
                        ndim=len(kernel))
        share = _conv_geometry.unpadded_edge_share(p, npx)
        return share is not None and share <= _conv_tuning.UNPADDED_ROWS_MAX_EDGE

    assert in_place((32, 64, 1024), (5,), 2, 64)          # the conv1d row: 2 of 16 tiles
    assert in_place((2, 3, 5, 100), (1, 3), ((0, 0), (1, 1)), 14)
    assert not in_place((32, 64, 200), (5,), 2, 64)       # 2 of 4 tiles
    assert not in_place((8, 64, 56, 56), (3, 3), 1, 14)   # height padding: padded copy


def test_scratch_buffers_are_reused_per_thread_and_nested_users_get_their_own():
    import threading
    from cyconv import _threads
    _threads.release_scratch()
    with _threads.scratch(100, np.float32) as first:
        with _threads.scratch(50, np.float32) as nested:
            assert not np.shares_memory(first, nested)
        first_base = first.base
    with _threads.scratch(80, np.float32) as again:
        assert again.base is first_base and again.size == 80   # the larger one was kept
    seen = []
    worker = threading.Thread(target=lambda: seen.append(
        _threads.scratch(80, np.float32).__enter__().base))
    worker.start()
    worker.join()
    assert seen[0] is not first_base                            # other threads: their own
    with _threads.scratch(10, np.float64) as other_dtype:
        assert other_dtype.dtype == np.float64
    huge = _threads.SCRATCH_CACHE_BYTES // 4 + 1
    with _threads.scratch(huge, np.float32) as big:
        pass
    with _threads.scratch(80, np.float32) as small:
        assert small.base is not big.base                       # not kept: above the cap
    _threads.release_scratch()
    with _threads.scratch(80, np.float32) as fresh:
        assert fresh.base is not first_base


# grad_input of a strided convolution whose kernel is a multiple (2+) of the stride runs as
# one stride-1 forward convolution per output phase.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial,kernel,stride,padding,groups", [
    ((28, 28), (4, 4), 2, 1, 1),
    ((17, 20), (4, 6), (2, 3), ((1, 2), (2, 0)), 1),
    ((30,), (6,), 3, 2, 2),
    ((6, 8, 9), (4, 2, 4), (2, 1, 2), 1, 1),
    ((11, 12), (4, 4), 2, ((0, 2), (2, 0)), 2),
])
def test_grad_input_by_phases_matches_reference(spatial, kernel, stride, padding, groups,
                                                dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(sum(spatial))
    x = rng.standard_normal((2, 32 * groups) + spatial).astype(dtype)
    w = rng.standard_normal((8 * groups, 32) + kernel).astype(dtype)
    kw = dict(stride=stride, padding=padding, groups=groups)
    plan = cyconv.plan_conv(x, w, algorithm="implicit", **kw).backward
    assert plan.grad_input == cyconv.GradInputPath.PHASES
    y = getattr(ref, f"conv{ndim}d")(x, w, **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    expected = getattr(ref, f"conv{ndim}d_backward")(gy, x, w, **kw).grad_input
    got = getattr(cyconv, f"conv{ndim}d_backward")(gy, x, w, algorithm="implicit",
                                                   need=("input",), **kw).grad_input
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    again = getattr(cyconv, f"conv{ndim}d_backward")(gy, x, w, algorithm="implicit",
                                                     need=("input",), num_threads=3, **kw)
    np.testing.assert_array_equal(again.grad_input, got)


# col2im adds stride-2 kernel rows (dilation 1 along W) two taps at a time, interleaved:
# odd and even kernel widths, more taps than one batch of clip ranges (16), clipped and
# asymmetric padding, a stride only along W, 1-D and 3-D, tiny inputs.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial,kernel,stride,padding", [
    ((17, 19), (7, 7), 2, 3),
    ((17, 19), (5, 4), 2, (1, 2)),
    ((11, 13), (4, 6), (1, 2), 2),
    ((9,), (21,), 2, 10),
    ((40,), (33,), 2, 5),
    ((7, 8, 9), (3, 3, 3), 2, 1),
    ((5, 5), (5, 5), 2, 4),
    ((6, 6), (2, 2), 2, 0),
    ((1, 3), (1, 2), 2, ((0, 0), (1, 0))),
])
def test_col2im_tap_pairs_match_reference(spatial, kernel, stride, padding, dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(sum(spatial) + sum(kernel))
    x = rng.standard_normal((3, 3) + spatial).astype(dtype)
    w = rng.standard_normal((4, 3) + kernel).astype(dtype)
    kw = dict(stride=stride, padding=padding)
    y = getattr(ref, f"conv{ndim}d")(x, w, **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    expected = getattr(ref, f"conv{ndim}d_backward")(gy, x, w, **kw).grad_input
    with cyconv.forced_paths(grad_input=cyconv.GradInputPath.IM2COL):
        backward = getattr(cyconv, f"conv{ndim}d_backward")
        got = backward(gy, x, w, need=("input",), **kw).grad_input
        again = backward(gy, x, w, need=("input",), num_threads=3, **kw).grad_input
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    np.testing.assert_array_equal(again, got)


# col2im adds stride-1 kernel rows (dilation 1 along W) element by element, each input
# element's taps in kw order: no padding (lenet), clipped, asymmetric and wide padding,
# kernels wider than the input, one-tap rows, a stride or dilation along other dims only,
# 1-D and 3-D, pixel blocks that start inside an output row (large images).
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial,kernel,padding,other", [
    ((12, 12), (5, 5), 0, {}),
    ((28, 28), (5, 5), 2, {}),
    ((9, 11), (3, 6), ((1, 2), (3, 1)), {}),
    ((5, 4), (3, 9), (1, 4), {}),
    ((6, 3), (2, 1), 0, {}),
    ((70, 90), (3, 5), 2, {}),
    ((13, 10), (3, 3), 1, {"stride": (2, 1)}),
    ((13, 10), (3, 4), (2, 1), {"dilation": (2, 1)}),
    ((40,), (33,), 16, {}),
    ((3,), (1,), 0, {}),
    ((6, 7, 9), (3, 2, 4), 1, {}),
])
def test_col2im_kernel_rows_match_reference(spatial, kernel, padding, other, dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(sum(spatial) + 3 * sum(kernel))
    x = rng.standard_normal((2, 3) + spatial).astype(dtype)
    w = rng.standard_normal((4, 3) + kernel).astype(dtype)
    kw = dict(padding=padding, **other)
    y = getattr(ref, f"conv{ndim}d")(x, w, **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    expected = getattr(ref, f"conv{ndim}d_backward")(gy, x, w, **kw).grad_input
    with cyconv.forced_paths(grad_input=cyconv.GradInputPath.IM2COL):
        backward = getattr(cyconv, f"conv{ndim}d_backward")
        got = backward(gy, x, w, need=("input",), num_threads=1, **kw).grad_input
        again = backward(gy, x, w, need=("input",), num_threads=3, **kw).grad_input
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    np.testing.assert_array_equal(again, got)


def test_grad_input_phases_only_for_overlapping_even_kernels():
    from cyconv._conv_grad_plan import grad_input_phases as _grad_input_phases
    from cyconv._validate import conv_params

    def phases(kernel, stride, channels=32, dilation=1):
        p = conv_params(np.ones((1, channels, 16, 16)), np.ones((8, channels) + kernel), None,
                        stride=stride, padding=1, dilation=dilation, groups=1, ndim=2)
        return _grad_input_phases(p)

    assert phases((4, 4), 2) is not None
    assert phases((3, 3), 2) is None          # uneven phases: col2im
    assert phases((2, 2), 2) is None          # no overlap: col2im's scatter is cheaper
    assert phases((4, 4), 1) is None          # stride 1 has its own forward path
    assert phases((4, 4), 2, channels=8) is None
    assert phases((4, 4), 2, dilation=2) is None


# grad_weight of a strided convolution as one stride-1 weight gradient per input phase.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial,kernel,stride,padding,groups", [
    ((28, 28), (4, 4), 2, 1, 1),
    ((17, 20), (3, 5), (2, 3), ((1, 2), (2, 0)), 1),
    ((30,), (7,), 3, 3, 2),
    ((6, 8, 9), (3, 2, 4), (2, 1, 2), 1, 1),
    ((11, 12), (5, 4), 2, ((0, 3), (3, 0)), 2),
])
@pytest.mark.parametrize("flip", [False, True])
def test_grad_weight_by_phases_matches_reference(spatial, kernel, stride, padding, groups, flip,
                                                 dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(sum(spatial) + len(kernel))
    x = rng.standard_normal((2, 32 * groups) + spatial).astype(dtype)
    w = rng.standard_normal((32 * groups, 32) + kernel).astype(dtype)
    kw = dict(stride=stride, padding=padding, groups=groups)
    y = getattr(ref, f"conv{ndim}d")(x, w, **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    expected = getattr(ref, f"conv{ndim}d_backward")(gy, x, w, flip=flip, **kw).grad_weight
    backward = getattr(cyconv, f"conv{ndim}d_backward")
    with cyconv.forced_paths(grad_weight=cyconv.GradWeightPath.PHASES):
        assert cyconv.plan_conv(x, w, **kw).backward.grad_weight == \
            cyconv.GradWeightPath.PHASES
        got = backward(gy, x, w, need=("weight",), flip=flip, **kw).grad_weight
        again = backward(gy, x, w, need=("weight",), flip=flip, num_threads=3,
                         **kw).grad_weight
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    np.testing.assert_array_equal(again, got)


def test_auto_takes_weight_gradient_phases_for_small_images_with_a_large_partial():
    """Strided: the lowered weight gradient, except for images of at most 64 outputs whose
    lowered partial (C_out x C_in/groups x taps) is at least 8 L2 caches (each lowered GEMM
    reduces over one image's outputs and reads and writes the whole partial); 'implicit'
    takes the phases wherever they run. The shapes are far from the bound on any L2."""
    def path(size, kernel, stride, channels=32, groups=1, algorithm="auto", dtype=np.float32):
        x = np.ones((2, channels, size, size), dtype)
        w = np.ones((channels, channels // groups) + kernel, dtype)
        return cyconv.plan_conv(x, w, stride=stride, padding=1,
                                groups=groups, algorithm=algorithm).backward.grad_weight
    W = cyconv.GradWeightPath
    for kernel, stride in (((4, 4), 2), ((5, 5), 2), ((3, 3), 2), ((2, 2), 2), ((3, 3), 3)):
        assert path(28, kernel, stride) == W.IM2COL, (kernel, stride)
        assert path(28, kernel, stride, channels=512) == W.IM2COL, (kernel, stride)
        assert path(28, kernel, stride, algorithm="implicit") == W.PHASES, (kernel, stride)
    assert path(8, (4, 4), 2, channels=512) == W.PHASES      # 4x4 outputs, 16 MiB partial
    assert path(8, (3, 3), 2, channels=512, dtype=np.float64) == W.PHASES
    assert path(4, (4, 4), 2, channels=512) == W.PHASES      # 2x2
    assert path(16, (4, 4), 2, channels=512) == W.PHASES     # 8x8
    assert path(18, (4, 4), 2, channels=512) == W.IM2COL     # 9x9
    assert path(8, (4, 4), 2, channels=64) == W.IM2COL       # a 256 KiB partial
    assert path(8, (4, 4), 2, channels=512, groups=32) == W.IM2COL
    assert path(8, (4, 4), 2, channels=512, algorithm="im2col") == W.IM2COL


def test_auto_runs_strided_grad_input_on_col2im():
    def path(kernel, stride, algorithm="auto"):
        x = np.ones((2, 32, 28, 28), np.float32)
        w = np.ones((32, 32) + kernel, np.float32)
        return cyconv.plan_conv(x, w, stride=stride, padding=1,
                                algorithm=algorithm).backward.grad_input
    for kernel, stride in (((4, 4), 2), ((6, 6), 2), ((8, 8), 4), ((3, 3), 2)):
        assert path(kernel, stride) == cyconv.GradInputPath.IM2COL, (kernel, stride)
    assert path((4, 4), 2, algorithm="implicit") == cyconv.GradInputPath.PHASES


def test_grad_input_as_forward_with_few_channels_where_the_level_allows():
    """grad_input runs as a forward convolution with 16-31 input channels only on levels
    that list them (AVX2's 16-lane tiles) and only where grad_output is nearly the input's
    size ('same' or a small valid kernel), not for lenet2's 'full' correlation."""
    from cyconv import _conv_tuning as tuning

    def path(shape, c_out, kernel, **kw):
        x = np.ones(shape, np.float32)
        w = np.ones((c_out, shape[1]) + kernel, np.float32)
        return cyconv.plan_conv(x, w, **kw).backward.grad_input

    few = tuning.GRAD_INPUT_FORWARD_MIN_CHANNELS_SAME.get(kernels.current_isa())
    same = path((16, 16, 28, 28), 32, (3, 3), padding=1)
    assert (same == cyconv.GradInputPath.FORWARD) == (few is not None and few <= 16)
    assert path((64, 20, 12, 12), 50, (5, 5)) == cyconv.GradInputPath.IM2COL     # lenet2
    assert path((16, 32, 28, 28), 32, (3, 3), padding=1) == cyconv.GradInputPath.FORWARD
    assert path((16, 8, 28, 28), 32, (3, 3), padding=1) == cyconv.GradInputPath.IM2COL


def test_padded_weight_gradient_needs_its_broadcast_tiles_filled():
    """The padded weight gradient broadcasts input channels in tiles of the direct kernel's
    pixels: with too few input channels (the RGB stem: 3) the lowered gradient runs instead,
    at a share of the tile set per ISA level (AVX2: 0.75 of its 6; others 0.5)."""
    from cyconv import _conv_tuning as tuning

    def path(c_in, **kw):
        x = np.ones((2, c_in, 28, 28), np.float32)
        w = np.ones((32, c_in, 7, 7), np.float32)
        return cyconv.plan_conv(x, w, padding=3, **kw).backward.grad_weight

    padded = {cyconv.GradWeightPath.PADDED_WIDE, cyconv.GradWeightPath.PADDED_NARROW}
    share = tuning.WEIGHT_GRAD_MIN_BROADCAST_USEFUL.get(kernels.current_isa(),
                                                        tuning.CHANNEL_TILE_MIN_USEFUL)
    for c_in in range(1, 9):
        best = max(c_in / (-(-c_in // kernels.direct_tile_shape(True, narrow)[1])
                           * kernels.direct_tile_shape(True, narrow)[1])
                   for narrow in (False, True))
        fills = best >= share
        assert (path(c_in) in padded) == fills, c_in
        assert (path(c_in, stride=2, algorithm="implicit") == cyconv.GradWeightPath.PHASES) \
            == fills, c_in
    if kernels.current_isa() == 1:
        assert path(3, stride=2) == cyconv.GradWeightPath.IM2COL    # stem7x7
        assert path(5) in padded


# 8-pixel-wide outputs (float32, AVX-512): the row-pair kernel holds two output rows per
# vector and writes whole 8x8 blocks of the output planes.
@pytest.mark.parametrize("spatial,c_in,c_out,kernel,padding,groups,with_bias", [
    ((12, 12), 20, 50, 5, 0, 1, True),        # lenet2
    ((8, 8), 16, 13, 3, 1, 1, False),         # one partial 6-channel panel
    ((10, 10), 12, 20, 3, 0, 2, True),
    ((16, 8), 8, 7, 3, 1, 1, True),           # two 8-row blocks
    ((24, 10), 6, 100, 3, ((1, 1), (0, 0)), 1, False),
])
def test_rowpairs_kernel_matches_reference(spatial, c_in, c_out, kernel, padding, groups,
                                           with_bias):
    rng = np.random.default_rng(c_in * c_out)
    x = rng.standard_normal((3, c_in) + spatial).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups, kernel, kernel)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32) if with_bias else None
    if not kernels.rowpairs_available():
        pytest.skip("CPU lacks AVX-512 for the row-pair kernel")
    with cyconv.forced_paths(forward=cyconv.ForwardPath.ROW_PAIRS):
        plan = cyconv.plan_conv(x, w, b, padding=padding, groups=groups).forward
        assert plan.path == cyconv.ForwardPath.ROW_PAIRS
        y = cyconv.conv2d(x, w, b, padding=padding, groups=groups)
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64),
                          None if b is None else b.astype(np.float64), padding=padding,
                          groups=groups)
    np.testing.assert_allclose(y, expected, rtol=2e-5, atol=2e-5 * np.abs(expected).max())
    with cyconv.forced_paths(forward=cyconv.ForwardPath.ROW_PAIRS):
        again = cyconv.conv2d(x, w, b, padding=padding, groups=groups, num_threads=3)
    np.testing.assert_array_equal(again, y)


def test_rowpairs_kernel_only_where_it_applies():
    def applies(shape, c_out, dtype=np.float32, stride=1):
        x = np.ones((1, 8) + shape, dtype)
        plan = cyconv.plan_conv(x, np.ones((c_out, 8, 3, 3), dtype), stride=stride, padding=1,
                                algorithm="implicit")
        return plan.forward.path == cyconv.ForwardPath.ROW_PAIRS

    if not kernels.rowpairs_available():
        assert not applies((8, 8), 50)
        return
    assert applies((8, 8), 50)
    assert not applies((8, 8), 64)                    # 32-lane tiles are full: they stay
    assert not applies((8, 8), 50, dtype=np.float64)
    assert not applies((9, 8), 50)                    # 9 output rows: not whole 8-row blocks
    assert not applies((8, 9), 50)                    # 9-pixel rows
    assert not applies((16, 16), 50, stride=2)


@pytest.mark.parametrize("algorithm, grad_input, grad_weight", [
    ("direct", "direct", "direct"),
    ("im2col", "im2col", "im2col"),
    ("implicit", "forward", "padded"),
    ("auto", "forward", "padded"),
])
def test_algorithm_chooses_the_paths_of_both_gradients(algorithm, grad_input, grad_weight):
    """algorithm= governs the backward pass too ('im2col' once ran the padded weight
    gradient), and plan_conv reports the paths the call runs."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 32, 10, 12))
    w = rng.standard_normal((32, 32, 3, 3))
    plans = cyconv.plan_conv(x, w, padding=1, algorithm=algorithm)
    # the padded weight gradient's variant (narrow or wide) follows the ISA's channel tiles
    assert (plans.backward.grad_input.value,
            plans.backward.grad_weight.value.split("-")[0]) == (grad_input, grad_weight)
    gy = rng.standard_normal((2, 32, 10, 12))
    got = cyconv.conv2d_backward(gy, x, w, padding=1, algorithm=algorithm)
    want = ref.conv2d_backward(gy, x, w, padding=1)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-11)
    assert str(plans).startswith("forward ")


@pytest.mark.parametrize("path", list(cyconv.ForwardPath))
@pytest.mark.parametrize("c_in,c_out,padding", [(4, 6, 1), (4, 6, 0), (64, 64, 1), (1, 1, 1)])
def test_an_empty_batch_plans_and_runs_on_every_path(path, c_in, c_out, padding):
    x = np.ones((0, c_in, 7, 6), np.float32)
    w = np.ones((c_out, c_in, 3, 3), np.float32)
    with cyconv.forced_paths(forward=path):
        y = cyconv.conv2d(x, w, padding=padding)
        g = cyconv.conv2d_backward(np.ones(y.shape, np.float32), x, w, padding=padding)
    assert y.shape == (0, c_out, 5 + 2 * padding, 4 + 2 * padding)
    assert g.grad_input.shape == x.shape
    np.testing.assert_array_equal(g.grad_weight, 0)
