"""float16 inputs of the pooling ops (max/min/avg, adaptive, global), the convolutions and
transposed convolutions and ``filters.apply``/``edges``, forward and backward: computed in float32 and
rounded to float16 once, so each element is within the float32 contract plus one float16
rounding of the float64 reference: ``2e-6 * sum|terms| + 2**-11 * |value|`` (plus half the
smallest subnormal). Indices stay int64; ``out=`` takes float16; a float16 array among
float32/float64 ones is a TypeError, as float32/float64 mixing is."""
import warnings

import numpy as np
import pytest

import cyconv
from support.helpers import RTOL
from cyconv import filters
from cyconv import reference as ref
from support.ops import OPS
from support.ops import bound_call as _bound

HALF_OPS = [name for name in OPS if "pool" in name or name.startswith("conv") or "fold" in name]
FLOATS = ("x", "weight", "bias", "grad_output")
MIXED = "float16 inputs are computed in float32 only when every float array is float16"


def _as(params, dtype, keep=()):
    return {k: (v.astype(dtype) if k in FLOATS and k not in keep and v is not None else v)
            for k, v in params.items()}


def _half_case(name, seed=0):
    """The op and its small case with every float array float16 (the float32 case rounded)."""
    fn, params = _bound(name, np.float32, seed)
    return fn, _as(params, np.float16)


def _arrays(result):
    return list(result) if isinstance(result, tuple) else [result]


def assert_half_close(actual, expected64, bound64, what=""):
    """float16 ``actual`` within the float32 contract plus one float16 rounding."""
    assert actual.dtype == np.float16 and actual.shape == expected64.shape, what
    err = np.abs(actual.astype(np.float64) - expected64)
    limit = RTOL[np.float32] * bound64 * (1 + 2**-11) + 2**-11 * np.abs(expected64) + 2**-25
    worst = np.max(err - limit) if err.size else 0
    assert worst <= 0, f"{what}: max excess error {worst:.3g} (max err {err.max():.3g})"


def _routes(name):
    """Max/min backward ops route by x: their bound keeps x (|x| would select elsewhere)."""
    return name.endswith("_backward") and ("max" in name or "min" in name)


@pytest.mark.parametrize("name", HALF_OPS)
def test_float16_is_float32_rounded_once_against_the_float64_reference(name):
    fn, params = _half_case(name)
    got = fn(**params)
    params64 = _as(params, np.float64)
    want = getattr(ref, name)(**params64)
    keep = ("x",) if _routes(name) else ()
    bound = getattr(ref, name)(**{k: (np.abs(v) if k in FLOATS and k not in keep
                                      and v is not None else v)
                                  for k, v in params64.items()})
    for i, (g, w, b) in enumerate(zip(_arrays(got), _arrays(want), _arrays(bound), strict=True)):
        if w.dtype == np.int64:  # indices: the same selection
            assert g.dtype == np.int64, name
            np.testing.assert_array_equal(g, w)
        else:
            assert_half_close(g, w, b, f"{name}[{i}]")
    # exactly the float32 computation of the same (exactly widened) inputs, rounded once
    got32 = fn(**_as(params, np.float32))
    for g, w in zip(_arrays(got), _arrays(got32), strict=True):
        np.testing.assert_array_equal(g, w if w.dtype == np.int64 else w.astype(np.float16))


@pytest.mark.parametrize("name", [n for n in HALF_OPS if "max" in n or "min" in n])
def test_max_and_min_pooling_of_float16_are_exact(name):
    fn, params = _half_case(name)
    if name.endswith("_backward"):
        params["grad_output"] = np.ones_like(params["grad_output"])  # small integer sums
    for g, w in zip(_arrays(fn(**params)), _arrays(getattr(ref, name)(**_as(params, np.float64))),
                    strict=True):
        np.testing.assert_array_equal(g.astype(np.float64), w)


@pytest.mark.parametrize("name", [n for n in HALF_OPS if not (n.startswith("conv")
                                                               and n.endswith("_backward"))])
def test_float16_out_gets_the_rounded_result(name):
    fn, params = _half_case(name)
    want = fn(**params)
    out = np.full_like(want, np.nan)
    assert fn(**params, out=out) is out
    np.testing.assert_array_equal(out, want)
    longer = want.shape[:-1] + (want.shape[-1] + 1,)
    for bad in (np.empty(want.shape, np.float32), np.empty(longer, np.float16)):
        snapshot = bad.tobytes()
        with pytest.raises(ValueError, match=r"out must have shape .* and dtype float16"):
            fn(**params, out=bad)
        assert bad.tobytes() == snapshot
    with pytest.raises(ValueError, match="out must be a writeable, aligned, C-contiguous"):
        fn(**params, out=np.empty(want.shape[:-1] + (2 * want.shape[-1],), np.float16)[..., ::2])


@pytest.mark.parametrize("name", ["max_pool2d", "adaptive_max_pool3d", "global_max_pool"])
def test_float16_indices_pair(name):
    fn, params = _half_case(name)
    y, i = fn(**params, return_indices=True)
    assert y.dtype == np.float16 and i.dtype == np.int64
    pair = (np.full_like(y, np.nan), np.full_like(i, -7))
    assert fn(**params, return_indices=True, out=pair) is pair
    np.testing.assert_array_equal(pair[0], y)
    np.testing.assert_array_equal(pair[1], i)
    with pytest.raises(ValueError, match=r"out\[0\] \(values\) must have shape .* float16"):
        fn(**params, return_indices=True, out=(y.astype(np.float32), i.copy()))


@pytest.mark.parametrize("name", ["avg_pool1d", "max_pool3d_backward", "adaptive_avg_pool2d",
                                  "conv_transpose2d", "conv_transpose1d_backward"])
def test_unbatched_float16(name):
    fn, params = _half_case(name)
    one = {k: (v[:1] if k in ("x", "grad_output") else v) for k, v in params.items()}
    unbatched = {k: (v[0] if k in ("x", "grad_output") else v) for k, v in one.items()}
    want, got = fn(**one), fn(**unbatched)
    if isinstance(want, cyconv.ConvGrads):
        np.testing.assert_array_equal(got.grad_input, want.grad_input[0])
        np.testing.assert_array_equal(got.grad_weight, want.grad_weight)
        return
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want[0])
    out = np.empty_like(got)
    assert fn(**unbatched, out=out) is out
    np.testing.assert_array_equal(out, got)


def _mixed_cases():
    for name in HALF_OPS:
        fn, params = _bound(name, np.float32)
        floats = [k for k in FLOATS if params.get(k) is not None]
        for other in floats if len(floats) > 1 else ():
            for dtype in (np.float32, np.float64):
                yield name, other, dtype


@pytest.mark.parametrize("name, other, dtype", list(_mixed_cases()))
def test_float16_mixed_with_float32_or_float64_is_refused(name, other, dtype):
    fn, params = _half_case(name)
    params[other] = params[other].astype(dtype)
    with pytest.raises(TypeError, match=f"{MIXED}: got .*{other} {np.dtype(dtype)}"):
        fn(**params)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_the_convolutions_take_float16_with_every_padding_mode_and_out(padding_mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 6, 5)).astype(np.float16)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float16)
    kw = dict(padding=1, padding_mode=padding_mode)
    y32 = cyconv.conv2d(x.astype(np.float32), w.astype(np.float32), **kw)
    out = np.empty(y32.shape, np.float16)
    assert cyconv.conv2d(x, w, out=out, **kw) is out
    np.testing.assert_array_equal(out, y32.astype(np.float16))
    np.testing.assert_array_equal(cyconv.conv2d(x[0], w, **kw), out[0])  # unbatched
    g = cyconv.conv2d_backward(out, x, w, **kw)
    g32 = cyconv.conv2d_backward(out.astype(np.float32), x.astype(np.float32),
                                 w.astype(np.float32), **kw)
    for got, want in zip(g, g32):
        np.testing.assert_array_equal(got, want.astype(np.float16))


def test_overflow_beyond_float16_is_inf_without_a_warning():
    x = np.full((1, 1, 3, 3), 200.0, np.float16)
    w = np.full((1, 1, 2, 2), 200.0, np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = cyconv.conv_transpose2d(x, w)[0, 0]
    # corners sum one product (40000, a float16), the rest 2 or 4 of them (> 65504): +inf
    corners = np.zeros((4, 4), bool)
    corners[::3, ::3] = True
    np.testing.assert_array_equal(y[corners], 40000.0)
    assert np.all(np.isposinf(y[~corners]))


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("shape", [(9, 11), (9, 11, 3)])
def test_filters_of_float16_images(shape, flip):
    rng = np.random.default_rng(3)
    image = rng.random(shape).astype(np.float16)
    kernel = rng.standard_normal((3, 4))
    got = filters.apply(image, kernel, "reflect", flip=flip)
    image64 = image.astype(np.float64)
    want = filters.apply(image64, kernel, "reflect", flip=flip)
    bound = filters.apply(np.abs(image64), np.abs(kernel), "reflect", flip=flip)
    assert_half_close(got, want, bound, "apply")
    magnitude = filters.edges(image)
    assert magnitude.dtype == np.float16
    np.testing.assert_array_equal(magnitude,
                                  filters.edges(image.astype(np.float32)).astype(np.float16))
