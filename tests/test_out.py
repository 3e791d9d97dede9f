"""``out=`` on the pooling ops (max/min/avg, adaptive, global; forward and backward) and the
transposed convolutions: the result is written into ``out`` (pre-filled with NaN, so an
element left unwritten fails), equals the call without it bitwise, and ``out`` itself is
returned; max/min forwards with ``return_indices`` take a ``(values, indices)`` pair; every
refusal (not an array, shape, dtype, layout, read-only, unaligned, overlapping an input) has
its message and leaves ``out`` untouched; unbatched inputs take an unbatched ``out``."""
import inspect
import math

import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from support.ops import GRADS_OUT, OPS
from support.ops import bound_call as _bound, digest as _digest, unaligned as _unaligned

OUT_OPS = [name for name in OPS if "pool" in name
           or (name.startswith("conv_transpose") and not name.endswith("_backward"))]
INDEX_OPS = [name for name in OUT_OPS if not name.endswith("_backward")
             and ("max" in name or "min" in name)]
NDIM_OPS = [name for name in OUT_OPS if not name.startswith("global")]
INPUTS = ("x", "weight", "bias", "grad_output", "indices")


def _nan_like(a):
    return np.full_like(a, -7 if a.dtype == np.int64 else np.nan)


def test_every_listed_op_takes_out():
    assert len(OUT_OPS) == 3 * 2 * 3 + 2 * 2 * 3 + 2 * 2 + 3
    for name in OUT_OPS:
        fn, _ = _bound(name, np.float32)
        assert "out" in inspect.signature(fn).parameters, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OUT_OPS)
def test_out_is_written_and_returned(name, dtype):
    fn, params = _bound(name, dtype)
    want = fn(**params)
    out = _nan_like(want)
    assert fn(**params, out=out) is out
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("name", INDEX_OPS)
def test_indices_take_a_values_indices_pair(name):
    fn, params = _bound(name, np.float64)
    want_y, want_i = fn(**params, return_indices=True)
    out = (_nan_like(want_y), _nan_like(want_i))
    assert fn(**params, return_indices=True, out=out) is out
    np.testing.assert_array_equal(out[0], want_y)
    np.testing.assert_array_equal(out[1], want_i)
    # the written indices route the backward as the fresh ones do
    backward = getattr(cyconv, f"{name}_backward")
    gy = np.ones_like(want_y)
    args = {k: params[k] for k in params if k not in ("return_indices", "x")}
    np.testing.assert_array_equal(backward(gy, params["x"], indices=out[1], **args),
                                  backward(gy, params["x"], **args))


@pytest.mark.parametrize("name", INDEX_OPS)
def test_a_bad_pair_is_refused(name):
    fn, params = _bound(name, np.float64)
    y, i = fn(**params, return_indices=True)
    bad = [(np.empty_like(y), TypeError, r"out must be a \(values, indices\) tuple"),
           ((np.empty_like(y),), TypeError, r"out must be a \(values, indices\) tuple"),
           ([np.empty_like(y), np.empty_like(i)], TypeError, r"\(values, indices\) tuple"),
           ((np.empty_like(y), np.empty_like(y)), ValueError,
            r"out\[1\] \(indices\) must have shape .* and dtype int64"),
           ((np.empty_like(i), np.empty_like(i)), ValueError,
            r"out\[0\] \(values\) must have shape .* and dtype float64"),
           ((np.empty_like(y), np.asfortranarray(np.empty_like(i))), ValueError,
            r"out\[1\] \(indices\) must be a writeable, aligned, C-contiguous array")]
    shared = np.empty(y.size, np.int64)  # values and indices in the same memory
    bad.append(((shared.view(np.float64).reshape(y.shape), shared.reshape(y.shape)), ValueError,
                r"out\[0\] \(values\) and out\[1\] \(indices\) must not overlap"))
    for out, error, message in bad:
        with pytest.raises(error, match=message):
            fn(**params, return_indices=True, out=out)
    # without return_indices, a pair is not an array
    with pytest.raises(TypeError, match="out must be a numpy array, got tuple"):
        fn(**params, out=(np.empty_like(y), np.empty_like(i)))


def _refusals(want):
    """(out, error, message) for each way an ``out`` can be wrong."""
    shape, dtype = want.shape, want.dtype
    read_only = np.empty_like(want)
    read_only.flags.writeable = False
    wrong = r"out must have shape \(.*\) and dtype {}, got shape \(.*\) and dtype {}"
    layout = r"out must be a writeable, aligned, C-contiguous array"
    return [(want.tolist(), TypeError, "out must be a numpy array, got list"),
            (3.0, TypeError, "out must be a numpy array, got float"),
            (np.empty(shape[:-1] + (shape[-1] + 1,), dtype), ValueError,
             wrong.format(dtype, dtype)),
            (np.empty(want.size, dtype), ValueError, wrong.format(dtype, dtype)),
            (np.empty(shape, np.float16), ValueError, wrong.format(dtype, "float16")),
            (np.empty(shape, np.float32 if dtype == np.float64 else np.float64), ValueError,
             r"out must have shape .* and dtype"),
            (np.asfortranarray(np.empty_like(want)), ValueError, layout),
            (np.empty(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2], ValueError, layout),
            (read_only, ValueError, layout),
            (_unaligned(want), ValueError, layout)]


@pytest.mark.parametrize("name", OUT_OPS)
def test_each_refusal_has_its_message_and_leaves_out_untouched(name):
    fn, params = _bound(name, np.float32)
    want = fn(**params)
    for out, error, message in _refusals(want):
        snapshot = _digest(out) if isinstance(out, np.ndarray) else None
        with pytest.raises(error, match=message):
            fn(**params, out=out)
        if snapshot is not None:
            assert _digest(out) == snapshot, message


def _sharing(a, shape, dtype):
    """A copy of ``a`` and an aligned ``out`` of ``shape`` whose first element lies in the
    copy's last bytes."""
    item = np.dtype(dtype).itemsize
    buf = np.zeros(a.nbytes + math.prod(shape) * item, np.uint8)
    copy = buf[:a.nbytes].view(a.dtype).reshape(a.shape)
    copy[...] = a
    start = (a.nbytes - 1) // item * item
    return copy, buf[start:start + math.prod(shape) * item].view(dtype).reshape(shape)


@pytest.mark.parametrize("name", OUT_OPS)
def test_out_overlapping_any_input_is_refused(name):
    fn, params = _bound(name, np.float64)
    if "indices" in inspect.signature(fn).parameters:
        forward = getattr(cyconv, name[:-len("_backward")])
        fparams = {k: v for k, v in params.items() if k not in ("grad_output", "indices")}
        params["indices"] = forward(**fparams, return_indices=True)[1]
    want = fn(**params)
    for arg in INPUTS:
        if not isinstance(params.get(arg), np.ndarray):
            continue
        copy, out = _sharing(params[arg], want.shape, want.dtype)
        snapshot = copy.copy()
        with pytest.raises(ValueError, match="out must not overlap the inputs"):
            fn(**dict(params, **{arg: copy}), out=out)
        np.testing.assert_array_equal(copy, snapshot, err_msg=arg)


def _ndim(name):
    return next(int(d) for d in "123" if f"{d}d" in name)


@pytest.mark.parametrize("name", NDIM_OPS)
def test_unbatched_calls_take_an_unbatched_out(name):
    fn, params = _bound(name, np.float64)
    one = {k: (v[0] if k in ("x", "grad_output") else v) for k, v in params.items()}
    want = fn(**one)
    assert want.ndim == _ndim(name) + 1
    out = _nan_like(want)
    assert fn(**one, out=out) is out
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match=r"out must have shape \(1, "):
        fn(**one, out=np.empty((1,) + want.shape))
    if name in INDEX_OPS:
        y, i = fn(**one, return_indices=True)
        pair = (_nan_like(y), _nan_like(i))
        assert fn(**one, return_indices=True, out=pair) is pair
        np.testing.assert_array_equal(pair[0], y)
        np.testing.assert_array_equal(pair[1], i)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pooling_out_has_the_keepdims_shape(kind, keepdims):
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 4))
    fn = getattr(cyconv, f"global_{kind}_pool")
    shape = (2, 3, 1, 1) if keepdims else (2, 3)
    out = np.full(shape, np.nan)
    assert fn(x, keepdims=keepdims, out=out) is out
    np.testing.assert_array_equal(out, fn(x, keepdims=keepdims))
    with pytest.raises(ValueError, match=r"out must have shape"):
        fn(x, keepdims=not keepdims, out=out)
    grad = getattr(cyconv, f"global_{kind}_pool_backward")
    gx = np.full_like(x, np.nan)
    assert grad(np.ones(shape), x, keepdims=keepdims, out=gx) is gx
    np.testing.assert_array_equal(gx, grad(np.ones(shape), x, keepdims=keepdims))


@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_out_past_the_full_scatter_is_zeroed(bias):
    """output_padding beyond the end padding: outputs no input reaches are 0 (+ bias) in a
    NaN-filled out too."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(3) if bias else None
    kw = dict(stride=(3, 2), padding=0, output_padding=(2, 1))
    want = ref.conv_transpose2d(x, w, b, **kw)
    out = np.full(want.shape, np.nan)
    assert cyconv.conv_transpose2d(x, w, b, out=out, **kw) is out
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d_backward", "adaptive_max_pool2d",
                                  "conv_transpose2d", "global_avg_pool"])
def test_an_empty_batch_returns_out(name):
    fn, params = _bound(name, np.float32)
    for arg in ("x", "grad_output"):
        if arg in params:
            params[arg] = params[arg][:0]
    want = fn(**params)
    assert want.shape[0] == 0
    out = np.empty_like(want)
    assert fn(**params, out=out) is out


# ---- the convolutions' backward: out=(grad_input, grad_weight, grad_bias) -------------------

GRAD_OPS = [name for name in OPS if GRADS_OUT(name)]


@pytest.mark.parametrize("name", GRAD_OPS)
def test_gradients_are_written_into_the_given_arrays(name):
    fn, params = _bound(name, np.float64)
    want = fn(**params)
    outs = tuple(np.full_like(g, np.nan) for g in want)
    got = fn(**params, out=outs)
    assert all(g is o for g, o in zip(got, outs))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # one given, the others fresh; only what need asks for
    partial = (None, np.full_like(want.grad_weight, np.nan), None)
    got = fn(**params, out=partial)
    assert got.grad_weight is partial[1]
    np.testing.assert_array_equal(got.grad_input, want.grad_input)
    with pytest.raises(ValueError, match=r"out\[2\] \(grad_bias\) is given but 'bias' is not in need"):
        fn(**dict(params, need=("input", "weight")), out=(None, None, np.empty_like(want[2])))


@pytest.mark.parametrize("name", GRAD_OPS)
def test_bad_gradient_outs_are_refused_before_anything_is_written(name):
    fn, params = _bound(name, np.float64)
    want = fn(**params)
    good = [np.empty_like(g) for g in want]
    bad = {"shape": np.empty(want.grad_weight.size + 1),
           "dtype": np.empty(want.grad_weight.shape, np.float32),
           "contiguous": np.asfortranarray(np.empty(want.grad_weight.shape + (2,)))[..., 0]}
    for what, wrong in bad.items():
        outs = (good[0], wrong, good[2])
        snapshot = [_digest(o) for o in outs]
        with pytest.raises(ValueError, match=r"out\[1\] \(grad_weight\)"):
            fn(**params, out=outs)
        assert [_digest(o) for o in outs] == snapshot, what
    with pytest.raises(TypeError, match=r"out must be a \(grad_input, grad_weight, grad_bias\)"):
        fn(**params, out=good[0])
    with pytest.raises(ValueError, match="overlap"):
        fn(**params, out=(params["x"], None, None))
    shared = np.empty(want.grad_weight.size + want.grad_bias.size)
    with pytest.raises(ValueError, match="must not overlap each other"):
        fn(**params, out=(None, shared[:want.grad_weight.size].reshape(want.grad_weight.shape),
                          shared[:want.grad_bias.size]))
