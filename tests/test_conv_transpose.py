"""conv_transpose1d/2d/3d and their backward: the kernels against the independent NumPy
reference (every algorithm, both dtypes), both against PyTorch (forward and autograd), finite
differences, and the defining identity: a transposed convolution is the input gradient of the
convolution with the same weight."""
import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from support.helpers import assert_close, assert_gradients_match_finite_differences

ALGORITHMS = ["auto", "direct", "im2col", "implicit"]
CONV = {1: (cyconv.conv1d, cyconv.conv1d_backward), 2: (cyconv.conv2d, cyconv.conv2d_backward),
        3: (cyconv.conv3d, cyconv.conv3d_backward)}


def _ops(ndim):
    """(kernel forward, kernel backward, reference forward, reference backward)."""
    name = f"conv_transpose{ndim}d"
    return (getattr(cyconv, name), getattr(cyconv, name + "_backward"), getattr(ref, name),
            getattr(ref, name + "_backward"))


def _case(*values, id):
    return pytest.param(values, id=id)


# (N, C_in, spatial, C_out, kernel, stride, padding, output_padding, dilation, groups)
CASES = [
    _case(2, 3, (7,), 4, (3,), 2, 1, 1, 1, 1, id="1d-stride2-outpad"),
    _case(1, 4, (9,), 6, (4,), 3, ((2, 0),), 2, 2, 2, id="1d-pairs-dilated-groups"),
    _case(2, 5, (6,), 5, (5,), 1, 2, 0, 1, 5, id="1d-depthwise"),
    _case(2, 3, (5, 6), 4, (3, 3), 2, 1, 1, 1, 1, id="2d-stride2-outpad"),
    _case(2, 64, (4, 5), 32, (4, 4), 2, 1, 0, 1, 1, id="2d-bench-like"),
    _case(1, 4, (6, 5), 6, (3, 2), (1, 2), ((1, 0), (0, 1)), (0, 1), (2, 1), 2,
          id="2d-pairs-outpad<dilation"),
    _case(3, 2, (4, 4), 3, (1, 1), 3, 0, 2, 1, 1, id="2d-1x1-outpad-past-full"),
    _case(2, 6, (5, 5), 6, (3, 3), 1, 1, 0, 1, 3, id="2d-stride1-groups"),
    _case(1, 40, (6, 7), 36, (3, 3), 1, 0, 0, 1, 1, id="2d-stride1-deep"),
    _case(1, 4, (3, 4, 3), 4, (2, 3, 2), (1, 2, 2), 0, (0, 1, 1), 1, 2, id="3d-mixed"),
    _case(2, 3, (3, 3, 4), 2, (3, 3, 3), 2, 1, 1, (1, 2, 1), 1, id="3d-stride2-dilated"),
    _case(1, 32, (3, 4, 4), 16, (3, 3, 3), 1, 1, 0, 1, 1, id="3d-stride1"),
]


def _data(n, c_in, spatial, c_out, kernel, stride, padding, output_padding, dilation, groups, *,
          dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + spatial).astype(dtype)
    w = rng.standard_normal((c_in, c_out // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
              groups=groups)
    return x, w, b, kw


# flip only reverses the weight before the same kernels run: one flip setting per dtype
# keeps the grid affordable (tests/test_conv.py crosses them on 2-D)
@pytest.mark.parametrize("dtype, flip", [(np.float32, False), (np.float64, True)],
                         ids=["f32-xcorr", "f64-flip"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", CASES)
def test_forward_and_backward_match_reference(case, flip, algorithm, dtype):
    fwd, bwd, ref_fwd, ref_bwd = _ops(len(case[2]))
    x, w, b, kw = _data(*case, dtype=dtype)
    y = fwd(x, w, b, flip=flip, algorithm=algorithm, **kw)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    assert_close(y, ref_fwd(x64, w64, b64, flip=flip, **kw),
                 ref_fwd(np.abs(x64), np.abs(w64), np.abs(b64), flip=flip, **kw), dtype, "y")
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = bwd(gy, x, w, flip=flip, algorithm=algorithm, **kw)
    gy64 = gy.astype(np.float64)
    expected = ref_bwd(gy64, x64, w64, flip=flip, **kw)
    bound = ref_bwd(np.abs(gy64), np.abs(x64), np.abs(w64), flip=flip, **kw)
    for name in ("grad_input", "grad_weight", "grad_bias"):
        assert_close(getattr(grads, name), getattr(expected, name), getattr(bound, name), dtype,
                     name)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("case", CASES)
def test_kernels_and_reference_match_torch(torch, case):
    """PyTorch knows only symmetric padding: the cases with per-side pairs compare against
    torch run with zero padding (same output_padding), then cropped by the pairs."""
    ndim = len(case[2])
    fwd, bwd, ref_fwd, ref_bwd = _ops(ndim)
    x, w, b, kw = _data(*case, seed=2)
    padding = kw["padding"]
    pairs = isinstance(padding, tuple) and isinstance(padding[0], tuple)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = getattr(torch.nn.functional, f"conv_transpose{ndim}d")(
        xt, wt, bt, **dict(kw, padding=0 if pairs else padding))
    if pairs:
        yt = yt[(Ellipsis,) + tuple(slice(lo, yt.shape[2 + i] - hi)
                                    for i, (lo, hi) in enumerate(padding))]
    gy = np.random.default_rng(3).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    expected = (yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())
    for got in ((fwd(x, w, b, **kw), *bwd(gy, x, w, **kw)),
                (ref_fwd(x, w, b, **kw), *ref_bwd(gy, x, w, **kw))):
        for ours, theirs in zip(got, expected):
            np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("algorithm", ALGORITHMS[1:])
@pytest.mark.parametrize("case", [CASES[1], CASES[5], CASES[6], CASES[10]])
def test_gradients_finite_differences(case, algorithm):
    fwd, bwd = _ops(len(case[2]))[:2]
    x, w, b, kw = _data(*case, seed=4)
    rng = np.random.default_rng(5)
    gy = rng.standard_normal(fwd(x, w, b, **kw).shape)
    grads = bwd(gy, x, w, flip=True, algorithm=algorithm, **kw)

    assert_gradients_match_finite_differences(
        lambda x, w, b: fwd(x, w, b, flip=True, algorithm=algorithm, **kw), grads, x, w, b, gy, rng)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("ndim, conv_case", [
    (1, dict(x=(2, 5, 23), w=(6, 5, 4), stride=3, padding=2, dilation=1, groups=1)),
    (2, dict(x=(2, 6, 11, 10), w=(4, 3, 3, 3), stride=2, padding=((1, 0), (2, 1)), dilation=1,
             groups=2)),
    (2, dict(x=(1, 32, 9, 8), w=(8, 32, 3, 3), stride=1, padding=1, dilation=2, groups=1)),
    (3, dict(x=(1, 4, 7, 6, 8), w=(4, 1, 3, 2, 3), stride=(2, 1, 3), padding=1, dilation=1,
             groups=4)),
])
def test_transpose_is_the_input_gradient_of_conv(ndim, conv_case, algorithm):
    """conv_transpose(g, w) == conv_backward(g, x, w).grad_input, with the output_padding that
    recovers x's size (the stride's leftover)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal(conv_case["x"])
    w = rng.standard_normal(conv_case["w"])
    kw = {k: conv_case[k] for k in ("stride", "padding", "dilation", "groups")}
    conv, conv_bwd = CONV[ndim]
    y = conv(x, w, **kw)
    g = rng.standard_normal(y.shape)
    expected = conv_bwd(g, x, w, need=("input",), **kw).grad_input
    stride = np.broadcast_to(kw["stride"], ndim)
    pads = cyconv._shapes.resolve_padding(kw["padding"], w.shape[2:], (kw["dilation"],) * ndim)
    # the conv's output size floors; output_padding adds back what the floor dropped
    leftover = tuple(int((x.shape[2 + i] + lo + hi - kw["dilation"] * (w.shape[2 + i] - 1) - 1)
                         % stride[i]) for i, (lo, hi) in enumerate(pads))
    ours = _ops(ndim)[0](g, w, output_padding=leftover, algorithm=algorithm, **kw)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    # and the reference, written independently as a scatter, agrees
    np.testing.assert_allclose(_ops(ndim)[2](g, w, output_padding=leftover, **kw), expected,
                               rtol=1e-12, atol=1e-12)


def test_results_identical_for_any_thread_count():
    x, w, b, kw = _data(*CASES[4].values[0], dtype=np.float32)
    gy = np.random.default_rng(7).standard_normal(
        cyconv.conv_transpose2d(x, w, b, **kw).shape).astype(np.float32)
    for algorithm in ALGORITHMS[1:]:
        outs = [(cyconv.conv_transpose2d(x, w, b, algorithm=algorithm, num_threads=n, **kw),
                 *cyconv.conv_transpose2d_backward(gy, x, w, algorithm=algorithm, num_threads=n,
                                                   **kw))
                for n in (1, 2, 3)]
        for other in outs[1:]:
            for a, b_ in zip(outs[0], other):
                np.testing.assert_array_equal(a, b_)


def test_need_subsets_empty_batch_and_inputs_unmodified():
    x, w, b, kw = _data(*CASES[3].values[0])
    copies = [a.copy() for a in (x, w, b)]
    gy = np.ones(cyconv.conv_transpose2d(x, w, b, **kw).shape)
    g = cyconv.conv_transpose2d_backward(gy, x, w, need=("weight",), **kw)
    assert g.grad_input is None and g.grad_bias is None and g.grad_weight.shape == w.shape
    g = cyconv.conv_transpose2d_backward(gy, x, w, need=("input", "bias"), **kw)
    assert g.grad_weight is None and g.grad_input.shape == x.shape
    np.testing.assert_array_equal(g.grad_bias, np.full(4, gy[:, 0].size))
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)
    empty = np.ones((0,) + x.shape[1:])
    y = cyconv.conv_transpose2d(empty, w, b, **kw)
    assert y.shape == (0,) + gy.shape[1:]
    g = cyconv.conv_transpose2d_backward(np.ones(y.shape), empty, w, **kw)
    assert g.grad_input.shape == empty.shape
    np.testing.assert_array_equal(g.grad_weight, np.zeros_like(w))


def test_output_only_past_the_full_scatter_is_the_bias():
    """Padding that removes the whole scatter leaves output_padding elements: bias only."""
    x = np.ones((1, 2, 1))
    w = np.ones((2, 3, 2))
    b = np.arange(3.0)
    kw = dict(stride=2, padding=((2, 0),), output_padding=1)
    y = cyconv.conv_transpose1d(x, w, b, **kw)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None], (1, 3, 1)))
    np.testing.assert_array_equal(y, ref.conv_transpose1d(x, w, b, **kw))
    g = cyconv.conv_transpose1d_backward(np.ones_like(y), x, w, **kw)
    np.testing.assert_array_equal(g.grad_input, np.zeros_like(x))
    np.testing.assert_array_equal(g.grad_weight, np.zeros_like(w))
    np.testing.assert_array_equal(g.grad_bias, np.ones(3))


@pytest.mark.parametrize("fn", [cyconv.conv_transpose2d, ref.conv_transpose2d])
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(padding="same"), ValueError, r"padding must be an int, a tuple or per-side pairs"),
    (dict(padding="causal"), ValueError, r"padding must be"),
    (dict(stride=2, output_padding=2), ValueError, r"output_padding .* smaller than stride"),
    (dict(output_padding=1), ValueError, r"output_padding"),
    (dict(stride=2, output_padding=-1), ValueError, r"output_padding must be >= 0"),
    (dict(padding=5), ValueError, r"output size .* too small"),
    (dict(groups=3), ValueError, r"not divisible by groups=3"),
    (dict(weight=np.ones((3, 2, 3, 3))), ValueError, r"weight shape \(3, 2, 3, 3\) must be"),
    (dict(weight=np.ones((4, 2, 3, 3), np.float32)), TypeError, r"share a dtype"),
    (dict(bias=np.ones(4)), ValueError, r"bias must have shape \(2,\)"),
])
def test_validation(fn, kwargs, exc, match):
    x = np.ones((2, 4, 5, 5))
    kwargs = dict(kwargs)
    w = kwargs.pop("weight", np.ones((4, 2, 3, 3)))
    b = kwargs.pop("bias", None)
    with pytest.raises(exc, match=match):
        fn(x, w, b, **kwargs)


def test_algorithm_and_backward_validation():
    x, w = np.ones((2, 4, 5, 5)), np.ones((4, 2, 3, 3))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        cyconv.conv_transpose2d(x, w, algorithm="toom-cook")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        cyconv.conv_transpose2d_backward(np.ones((2, 2, 7, 7)), x, w, algorithm="toom-cook")
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 2, 11, 11\)"):
        cyconv.conv_transpose2d_backward(np.ones((2, 2, 11, 10)), x, w, stride=2)
    with pytest.raises(ValueError, match="need has unknown entries"):
        cyconv.conv_transpose2d_backward(np.ones((2, 2, 7, 7)), x, w, need=("bias", "x"))
