"""Random configurations (hypothesis) of every convolution and pooling op in 1-3 dims.

Valid ones (any padding form, dilation, groups, ceil_mode, tiny and odd sizes, a kernel larger
than the input with padding, stride larger than the kernel, batch 1, channel 1) agree with
``cyconv.reference``, forward and backward. Invalid ones raise ValueError/TypeError naming the
argument, never another exception. ``pytest --hypothesis-profile=long`` searches deeper.
"""
import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cyconv
from cyconv import _shapes
from cyconv import reference as ref
from cyconv.conv import ALGORITHMS

from support.ops import CASES

# the per-element accuracy contract; 'fft' and 'winograd' have their normwise bounds
# (tests/test_conv_fft.py, tests/test_winograd.py)
ELEMENTWISE_ALGORITHMS = tuple(a for a in ALGORITHMS if a not in ("fft", "winograd"))

DTYPES = st.sampled_from([np.float32, np.float64])
# Accuracy contract (README): error within tol * (the same op on |terms|).
TOL = {np.float32: 2e-6, np.float64: 1e-12}


def _per_dim(draw, ndim, strategy):
    return tuple(draw(strategy) for _ in range(ndim))


@st.composite
def paddings(draw, kernel, dilation, ndim, *, pool):
    """Any padding form; ``pool`` keeps each side within half the kernel (PyTorch's rule)."""
    forms = ["int", "tuple", "pairs"] + ([] if pool else ["valid", "same", "full"]
                                         + (["causal"] if ndim == 1 else []))
    form = draw(st.sampled_from(forms))
    # conv padding reaches past a whole kernel (and so past small inputs)
    limit = [k // 2 if pool else d * (k - 1) + 2 for k, d in zip(kernel, dilation)]
    if form == "int":
        return draw(st.integers(0, min(limit)))
    if form == "tuple":
        return tuple(draw(st.integers(0, lim)) for lim in limit)
    if form == "pairs":
        return tuple((draw(st.integers(0, lim)), draw(st.integers(0, lim))) for lim in limit)
    return form


def _size(smallest, largest):
    """Sizes from ``smallest`` to ``largest``, half of the draws the two smallest (size-1 and
    size-2 dims are where the edge cases live)."""
    return st.one_of(st.integers(smallest, smallest + 1),
                     st.integers(smallest, max(smallest, largest)))


def _sizes(draw, kernel, dilation, stride, padding, ndim, largest, smallest_output=1):
    """Input sizes (1..largest) with at least one output per dim; a kernel may exceed the
    input when the padding makes room for it. ``smallest_output=0`` lets the sizes go down to
    1 whatever the kernel (pooling with ceil_mode; the caller filters)."""
    sizes = []
    for i in range(ndim):
        pads = _shapes.resolve_padding(padding, kernel, dilation, stride, (largest,) * ndim)[i]
        smallest = max(1, dilation[i] * (kernel[i] - 1) + smallest_output - pads[0] - pads[1])
        if isinstance(padding, str) and padding == "same" and stride[i] > 1:
            smallest = 1  # 'same' pads to ceil(L/stride) outputs for every L
        sizes.append(draw(_size(smallest, largest)))
    return tuple(sizes)


@st.composite
def conv_configs(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 24, 2: 11, 3: 6}[ndim]
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cig, cog = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    kernel = _per_dim(draw, ndim, st.integers(1, 4 if ndim < 3 else 3))
    dilation = _per_dim(draw, ndim, st.integers(1, 3))
    stride = _per_dim(draw, ndim, st.integers(1, 5))
    padding = draw(paddings(kernel, dilation, ndim, pool=False))
    sizes = _sizes(draw, kernel, dilation, stride, padding, ndim, largest)
    return dict(ndim=ndim, shape=(draw(st.integers(1, 3)), cig * groups) + sizes,
                weight_shape=(cog * groups, cig) + kernel, dtype=draw(DTYPES),
                bias=draw(st.booleans()), flip=draw(st.booleans()),
                algorithm=draw(st.sampled_from(ELEMENTWISE_ALGORITHMS)),
                seed=draw(st.integers(0, 2**16)),
                kw=dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


def _close(got, want, bound, dtype):
    assert got.shape == want.shape and got.dtype == dtype
    with np.errstate(invalid="ignore"):  # equal infinities (empty max/min windows) are close
        assert np.all((np.abs(got - want) <= TOL[dtype] * bound + 1e-30) | (got == want))


@given(conv_configs())
def test_conv_random_valid_configuration_matches_reference(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype, kw, d = cfg["dtype"], cfg["kw"], cfg["ndim"]
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    w = rng.standard_normal(cfg["weight_shape"]).astype(dtype)
    b = rng.standard_normal(w.shape[0]).astype(dtype) if cfg["bias"] else None
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    fwd, bwd = getattr(cyconv, f"conv{d}d"), getattr(cyconv, f"conv{d}d_backward")
    rfwd, rbwd = getattr(ref, f"conv{d}d"), getattr(ref, f"conv{d}d_backward")
    y = fwd(x, w, b, flip=cfg["flip"], algorithm=cfg["algorithm"], num_threads=1, **kw)
    # bitwise the same for any thread count
    np.testing.assert_array_equal(
        fwd(x, w, b, flip=cfg["flip"], algorithm=cfg["algorithm"], num_threads=3, **kw), y)
    _close(y, rfwd(x64, w64, b64, flip=cfg["flip"], **kw),
           rfwd(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64), flip=cfg["flip"],
                **kw), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = bwd(gy, x, w, flip=cfg["flip"], algorithm=cfg["algorithm"], num_threads=1, **kw)
    for got, again in zip(grads, bwd(gy, x, w, flip=cfg["flip"], algorithm=cfg["algorithm"],
                                     num_threads=3, **kw)):
        np.testing.assert_array_equal(again, got)
    want = rbwd(gy.astype(np.float64), x64, w64, flip=cfg["flip"], **kw)
    bounds = rbwd(np.abs(gy.astype(np.float64)), np.abs(x64), np.abs(w64), flip=cfg["flip"],
                  **kw)
    for got, expected, bound in zip(grads, want, bounds):
        _close(got, expected, bound, dtype)


@st.composite
def pool_configs(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 30, 2: 12, 3: 7}[ndim]
    kind = draw(st.sampled_from(["max", "min", "avg"]))
    uniform = draw(st.booleans())  # an int kernel_size: the same size in every dim
    kernel = (draw(st.integers(1, 4)),) * ndim if uniform else _per_dim(draw, ndim,
                                                                          st.integers(1, 4))
    dilation = _per_dim(draw, ndim, st.integers(1, 3)) if kind != "avg" else (1,) * ndim
    stride = draw(st.none() | st.tuples(*[st.integers(1, 5)] * ndim))
    padding = draw(paddings(kernel, dilation, ndim, pool=True))
    ceil_mode = draw(st.booleans())
    # with ceil_mode a window may start inside an input shorter than the dilated kernel
    sizes = _sizes(draw, kernel, dilation, stride or kernel, padding, ndim, largest,
                   smallest_output=0 if ceil_mode else 1)
    pads = _shapes.resolve_padding(padding, kernel, dilation, stride or kernel, sizes)
    assume(min(_shapes.pool_output_shape(sizes, kernel, stride or kernel, pads, dilation,
                                         ceil_mode)) >= 1)
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "avg":
        kw["count_include_pad"] = draw(st.booleans())
    else:
        kw["dilation"] = dilation
    return dict(ndim=ndim, kind=kind, kernel=kernel[0] if uniform else kernel,
                shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sizes,
                dtype=draw(DTYPES), ties=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
                kw=kw)


def _has_empty_window(cfg):
    ndim = cfg["ndim"]
    kernel = _shapes.normalize_tuple(cfg["kernel"], ndim, "kernel_size")
    kw = cfg["kw"]
    stride = kernel if kw["stride"] is None else kw["stride"]
    dilation = kw.get("dilation", (1,) * ndim)
    pads = _shapes.resolve_padding(kw["padding"], kernel, dilation, stride, cfg["shape"][2:])
    out = _shapes.pool_output_shape(cfg["shape"][2:], kernel, stride, pads, dilation,
                                    kw["ceil_mode"])
    return any(_shapes.pool_empty_window(*args) is not None
               for args in zip(cfg["shape"][2:], kernel, stride, pads, dilation, out))


@given(pool_configs())
def test_pool_random_valid_configuration_matches_reference(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype, kw, name = cfg["dtype"], cfg["kw"], f"{cfg['kind']}_pool{cfg['ndim']}d"
    x = rng.standard_normal(cfg["shape"])
    x = (np.round(x) if cfg["ties"] else x).astype(dtype)
    args = (x, cfg["kernel"])
    if _has_empty_window(cfg):
        # max/min of no element: -inf / +inf with index -1, as PyTorch's values
        y, idx = getattr(cyconv, name)(*args, return_indices=True, **kw)
        assert np.any(np.isinf(y) & (idx == -1))
    if cfg["kind"] == "avg":
        y = getattr(cyconv, name)(*args, **kw)
        want = getattr(ref, name)(x.astype(np.float64), cfg["kernel"], **kw)
        _close(y, want, getattr(ref, name)(np.abs(x.astype(np.float64)), cfg["kernel"], **kw),
               dtype)
    else:
        y, idx = getattr(cyconv, name)(*args, return_indices=True, **kw)
        y_ref, idx_ref = getattr(ref, name)(*args, return_indices=True, **kw)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = getattr(cyconv, name + "_backward")(gy, *args, **kw)
    np.testing.assert_array_equal(  # bitwise the same for any thread count
        getattr(cyconv, name + "_backward")(gy, *args, num_threads=3, **kw), gx)
    gx_ref = getattr(ref, name + "_backward")(gy.astype(np.float64), x.astype(np.float64),
                                              cfg["kernel"], **kw)
    bound = getattr(ref, name + "_backward")(np.abs(gy.astype(np.float64)),
                                             x.astype(np.float64), cfg["kernel"], **kw)
    _close(gx, gx_ref, bound, dtype)
    if cfg["kind"] != "avg":  # the forward's indices route the gradient the same way
        np.testing.assert_array_equal(
            getattr(cyconv, name + "_backward")(gy, *args, indices=idx, **kw), gx)


@st.composite
def conv_transpose_configs(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 12, 2: 7, 3: 4}[ndim]
    groups = draw(st.sampled_from([1, 1, 2]))
    cig, cog = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kernel = _per_dim(draw, ndim, st.integers(1, 4 if ndim < 3 else 3))
    dilation = _per_dim(draw, ndim, st.integers(1, 3))
    stride = _per_dim(draw, ndim, st.integers(1, 4))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    # the elements removed from each side of the full output (at most what the kernel adds)
    pads = tuple((draw(st.integers(0, d * (k - 1))), draw(st.integers(0, d * (k - 1))))
                 for k, d in zip(kernel, dilation))
    form = draw(st.sampled_from(["pairs", "int", "tuple"]))
    padding = {"pairs": pads, "int": min(min(p) for p in pads),
               "tuple": tuple(min(p) for p in pads)}[form]
    sizes = _per_dim(draw, ndim, st.integers(1, largest))
    return dict(ndim=ndim, shape=(draw(st.integers(1, 2)), cig * groups) + sizes,
                weight_shape=(cig * groups, cog) + kernel, dtype=draw(DTYPES),
                bias=draw(st.booleans()), flip=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)),
                kw=dict(stride=stride, padding=padding, output_padding=output_padding,
                        dilation=dilation, groups=groups))


@given(conv_transpose_configs())
def test_conv_transpose_random_valid_configuration_matches_reference(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype, kw, d = cfg["dtype"], cfg["kw"], cfg["ndim"]
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    w = rng.standard_normal(cfg["weight_shape"]).astype(dtype)
    b = rng.standard_normal(w.shape[1] * kw["groups"]).astype(dtype) if cfg["bias"] else None
    fwd = getattr(cyconv, f"conv_transpose{d}d")
    rfwd, rbwd = (getattr(ref, f"conv_transpose{d}d"),
                  getattr(ref, f"conv_transpose{d}d_backward"))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    try:
        want = rfwd(x64, w64, b64, flip=cfg["flip"], **kw)
    except ValueError as err:  # the padding removed more than the output has
        assert "output size" in str(err)
        with pytest.raises(ValueError, match="output size"):
            fwd(x, w, b, flip=cfg["flip"], **kw)
        return
    y = fwd(x, w, b, flip=cfg["flip"], num_threads=1, **kw)
    _close(y, want, rfwd(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64),
                         flip=cfg["flip"], **kw), dtype)
    np.testing.assert_array_equal(fwd(x, w, b, flip=cfg["flip"], num_threads=3, **kw), y)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = getattr(cyconv, f"conv_transpose{d}d_backward")(gy, x, w, flip=cfg["flip"], **kw)
    want = rbwd(gy.astype(np.float64), x64, w64, flip=cfg["flip"], **kw)
    bounds = rbwd(np.abs(gy.astype(np.float64)), np.abs(x64), np.abs(w64), flip=cfg["flip"],
                  **kw)
    for got, expected, bound in zip(grads, want, bounds):
        _close(got, expected, bound, dtype)


@st.composite
def adaptive_configs(draw):
    ndim = draw(st.integers(1, 3))
    largest = {1: 40, 2: 12, 3: 6}[ndim]
    sizes = _per_dim(draw, ndim, st.integers(1, largest))
    # output sizes below, equal to and above the input size (bins then overlap), or None
    output = tuple(draw(st.none() | st.integers(1, 2 * s + 1)) for s in sizes)
    if draw(st.booleans()):
        output = draw(st.integers(1, 2 * min(sizes) + 1))
    return dict(ndim=ndim, kind=draw(st.sampled_from(["avg", "max"])), output=output,
                shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sizes,
                dtype=draw(DTYPES), ties=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@given(adaptive_configs())
def test_adaptive_pool_random_valid_configuration_matches_reference(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype, name = cfg["dtype"], f"adaptive_{cfg['kind']}_pool{cfg['ndim']}d"
    x = rng.standard_normal(cfg["shape"])
    x = (np.round(x) if cfg["ties"] else x).astype(dtype)
    if cfg["kind"] == "avg":
        y = getattr(cyconv, name)(x, cfg["output"])
        x64 = x.astype(np.float64)
        _close(y, getattr(ref, name)(x64, cfg["output"]),
               getattr(ref, name)(np.abs(x64), cfg["output"]), dtype)
    else:
        y, idx = getattr(cyconv, name)(x, cfg["output"], return_indices=True)
        y_ref, idx_ref = getattr(ref, name)(x, cfg["output"], return_indices=True)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = getattr(cyconv, name + "_backward")(gy, x, cfg["output"])
    np.testing.assert_array_equal(
        getattr(cyconv, name + "_backward")(gy, x, cfg["output"], num_threads=3), gx)
    rb = getattr(ref, name + "_backward")
    _close(gx, rb(gy.astype(np.float64), x.astype(np.float64), cfg["output"]),
           rb(np.abs(gy.astype(np.float64)), x.astype(np.float64), cfg["output"]), dtype)


@given(st.integers(1, 3), st.sampled_from(["avg", "max"]), st.booleans(), DTYPES,
       st.integers(0, 2**16), st.data())
def test_global_pool_random_valid_configuration_matches_reference(ndim, kind, keepdims, dtype,
                                                                  seed, data):
    rng = np.random.default_rng(seed)
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5))) + tuple(
        data.draw(st.integers(1, {1: 300, 2: 20, 3: 7}[ndim])) for _ in range(ndim))
    x = rng.standard_normal(shape).astype(dtype)
    fwd, bwd = getattr(cyconv, f"global_{kind}_pool"), getattr(cyconv, f"global_{kind}_pool_backward")
    rfwd, rbwd = getattr(ref, f"global_{kind}_pool"), getattr(ref, f"global_{kind}_pool_backward")
    y = fwd(x, keepdims=keepdims)
    x64 = x.astype(np.float64)
    if kind == "max":
        np.testing.assert_array_equal(y, rfwd(x, keepdims=keepdims))
    else:
        _close(y, rfwd(x64, keepdims=keepdims), rfwd(np.abs(x64), keepdims=keepdims), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = bwd(gy, x, keepdims=keepdims)
    np.testing.assert_array_equal(bwd(gy, x, keepdims=keepdims, num_threads=3), gx)
    _close(gx, rbwd(gy.astype(np.float64), x64, keepdims=keepdims),
           rbwd(np.abs(gy.astype(np.float64)), x64, keepdims=keepdims), dtype)


# ---- invalid configurations ------------------------------------------------------------------

def _bound_arguments(name, dtype):
    fn = getattr(cyconv, name)
    args, kwargs = CASES[name](dtype, np.random.default_rng(0))
    return fn, dict(inspect.signature(fn).bind(*args, **kwargs).arguments)


def _bad_arrays(a, name, alone):
    """Misused arrays for argument ``name``: wrong rank, dtype, 0-d, None, not numeric, and
    (unless it is the op's only array) the other float dtype than its partners, or float16
    among them. (The ops whose only array is x - pooling forwards - compute float16 x in
    float32: tests/test_float16.py.)"""
    other = np.float32 if a.dtype == np.float64 else np.float64
    # x one dim short is an unbatched input (valid): two dims short is not
    short = a[0, 0] if name == "x" else a[0]
    bad = [(short, name), (a[None], name), (a.astype(np.int32), name),
           (a.astype(np.complex128), name),
           (np.float64(1.0), name), ("text", name), (a.astype(">f8"), name)]
    if name != "bias":  # bias=None is "no bias"
        bad.append((None, name))
    if alone:
        return bad
    return bad + [(a.astype(other), name if name != "x" else "dtype"),
                  (a.astype(np.float16), name)]


def _mutations(name, params):
    """(argument, invalid value, word the message must contain) for the op's arguments."""
    x = params.get("x")
    ndim = x.ndim - 2
    bad = []
    arrays = [arg for arg in ("x", "weight", "bias", "grad_output") if params.get(arg) is not None]
    for arg in arrays:
        bad += [(arg, v, word) for v, word in _bad_arrays(params[arg], arg, len(arrays) == 1)]
    if name.startswith("global_"):
        # any rank from 3 to 5 is valid x here: misuse it with ranks 2 and 6 instead
        x = params["x"]
        bad = [b for b in bad if not (b[0] == "x" and b[1] is not None
                                      and np.ndim(b[1]) in (3, 4, 5))]
        bad += [("x", x.reshape(x.shape[0], -1), "x"), ("x", x[None, None], "x")]
    if "grad_output" in params:
        gy = params["grad_output"]
        bad += [("grad_output", gy[:, 1:], "grad_output"),
                ("grad_output", np.concatenate([gy, gy], axis=1), "grad_output")]
    if "weight" in params and name.startswith("conv_transpose"):
        w = params["weight"]  # (C_in, C_out/groups, *kernel): C_in must match x
        bad += [("weight", w[:2], "weight"), ("weight", w[:3], "weight")]
    elif "weight" in params:
        w = params["weight"]
        bad += [("weight", w[:, :1], "weight"), ("weight", w[:5], "groups")]
    if "bias" in params and params["bias"] is not None:
        b = params["bias"]
        bad += [("bias", b[:-1], "bias"), ("bias", np.ones((1, b.size), b.dtype), "bias")]
    common = [0, -1, 1.5, "2", True, (1,) * (ndim + 1), 2**70, [None] * ndim]
    for arg in ("stride", "dilation", "kernel_size"):
        if arg in params:
            bad += [(arg, v, arg) for v in common]
    if "kernel_size" not in params:  # stride=None means "the kernel size" for pooling only
        bad.append(("stride", None, "stride"))
    bad += [("padding", v, "padding") for v in
            (-1, 1.5, "bogus", None, 2**70, ((-1, 0),) * ndim, ((1, 2, 3),) * ndim,
             ((1.0, 0),) * ndim, (1,) * (ndim + 1))]
    if ndim > 1:
        bad.append(("padding", "causal", "padding"))
    if "kernel_size" in params and "pool" in name:  # at most half the window
        bad += [("padding", 2, "padding"), ("padding", ((0, 2),) * ndim, "padding")]
    if "output_size" in params:
        bad += [("output_size", v, "output_size")
                for v in (0, -1, 1.5, "2", True, (1,) * (ndim + 1), (0,) * ndim, 2**70)]
    if "output_padding" in params:
        bad += [("output_padding", v, "output_padding")
                for v in (-1, 1.5, "1", (1,) * (ndim + 1), 2, 2**70)]
    if "groups" in params:
        bad += [("groups", v, "groups") for v in (0, -2, 1.5, "2", True, None, 3)]
    for flag in ("flip", "ceil_mode", "count_include_pad", "return_indices", "keepdims"):
        if flag in params or flag in inspect.signature(getattr(cyconv, name)).parameters:
            bad += [(flag, v, flag) for v in (1, "yes", None)]
    if "algorithm" in inspect.signature(getattr(cyconv, name)).parameters:
        bad += [("algorithm", v, "algorithm") for v in ("fast", None, 1)]
    if "need" in inspect.signature(getattr(cyconv, name)).parameters:
        bad += [("need", v, "need") for v in ("gradient", 5, ("input", "bogus"))]
    if "indices" in inspect.signature(getattr(cyconv, name)).parameters and "grad_output" in params:
        gy = params["grad_output"]
        bad += [("indices", np.zeros(gy.shape, np.int32), "indices"),
                ("indices", np.zeros(gy.shape[:-1], np.int64), "indices"),
                ("indices", np.full(gy.shape, 10**6, np.int64), "indices"),
                ("indices", np.full(gy.shape, -1 if name.startswith(("adaptive", "global")) else -2,
                                    np.int64), "indices"),
                ("indices", gy, "indices")]
    bad += [("num_threads", v, "num_threads") for v in (0, -1, 1.5, "2", True)]
    return bad


INVALID = [(name, i) for name in sorted(CASES)
           for i in range(len(_mutations(name, _bound_arguments(name, np.float64)[1])))]


@given(st.sampled_from(INVALID), DTYPES)
def test_random_invalid_argument_raises_naming_it(case, dtype):
    name, i = case
    fn, params = _bound_arguments(name, dtype)
    arg, value, word = _mutations(name, params)[i]
    params[arg] = value
    with pytest.raises((ValueError, TypeError)) as err:
        fn(**params)
    assert word in str(err.value), (name, arg, value, str(err.value))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_invalid_argument_of_every_op_raises(name):
    """The deterministic sweep behind the random draw above: every mutation, both dtypes."""
    for dtype in (np.float32, np.float64):
        fn, params = _bound_arguments(name, dtype)
        for arg, value, word in _mutations(name, params):
            with pytest.raises((ValueError, TypeError)) as err:
                fn(**dict(params, **{arg: value}))
            assert word in str(err.value), (name, arg, value, str(err.value))


# ---- 2-D: every elementwise algorithm by name, deeper channel counts -----------------------

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv2d_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cig, cog = draw(st.integers(1, 8)), draw(st.integers(1, 40))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    # padding up to 3 a side, inputs down to 1 (smaller than the kernel where the padding
    # makes room for it)
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h = draw(st.integers(max(1, (kh - 1) * dh + 1 - sum(pads[0])), 18))
    w = draw(st.integers(max(1, (kw - 1) * dw + 1 - sum(pads[1])), 30))
    return dict(n=draw(st.integers(1, 3)), c=cig * groups, co=cog * groups, h=h, w=w,
                kernel=(kh, kw), dtype=draw(st.sampled_from([np.float32, np.float64])),
                flip=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
                kw=dict(stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                        padding=pads, dilation=(dh, dw), groups=groups))


@SETTINGS
@given(conv2d_configs(), st.sampled_from(["auto", "direct", "im2col", "implicit"]))
def test_conv2d_every_algorithm_any_configuration(cfg, algorithm):
    rng = np.random.default_rng(cfg["seed"])
    dtype, kw, flip = cfg["dtype"], cfg["kw"], cfg["flip"]
    x = rng.standard_normal((cfg["n"], cfg["c"], cfg["h"], cfg["w"])).astype(dtype)
    w = rng.standard_normal((cfg["co"], cfg["c"] // kw["groups"]) + cfg["kernel"]).astype(dtype)
    b = rng.standard_normal(cfg["co"]).astype(dtype)
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    y = cyconv.conv2d(x, w, b, flip=flip, algorithm=algorithm, **kw)
    bound = ref.conv2d(np.abs(x64), np.abs(w64), np.abs(b64), flip=flip, **kw)
    assert np.all(np.abs(y - ref.conv2d(x64, w64, b64, flip=flip, **kw)) <= tol * bound + 1e-30)
    gy = rng.standard_normal(y.shape).astype(dtype)
    grads = cyconv.conv2d_backward(gy, x, w, flip=flip, algorithm=algorithm, **kw)
    expected = ref.conv2d_backward(gy.astype(np.float64), x64, w64, flip=flip, **kw)
    bounds = ref.conv2d_backward(np.abs(gy.astype(np.float64)), np.abs(x64), np.abs(w64),
                                 flip=flip, **kw)
    for got, want, bnd in zip(grads, expected, bounds):
        assert got.dtype == dtype
        assert np.all(np.abs(got - want) <= tol * bnd + 1e-30)


@st.composite
def pool2d_configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    ceil_mode = draw(st.booleans())
    # with ceil_mode an input may be shorter than the dilated kernel (PyTorch's rule)
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 16)) + (0 if ceil_mode else (kh - 1) * dh),
             draw(st.integers(1, 40)) + (0 if ceil_mode else (kw - 1) * dw))
    assume(min(_shapes.pool_output_shape(shape[2:], (kh, kw), stride, [(p, p) for p in padding],
                                         (dh, dw), ceil_mode)) >= 1)
    return dict(kernel=(kh, kw), stride=stride, padding=padding, dilation=(dh, dw),
                ceil_mode=ceil_mode, shape=shape, ties=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


@SETTINGS
@given(pool2d_configs())
def test_pool2d_any_configuration(cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    if cfg["ties"]:
        x = np.round(x)
    args = (cfg["kernel"], cfg["stride"], cfg["padding"])
    for fwd, bwd, rfwd, rbwd in ((cyconv.max_pool2d, cyconv.max_pool2d_backward,
                                  ref.max_pool2d, ref.max_pool2d_backward),
                                 (cyconv.min_pool2d, cyconv.min_pool2d_backward,
                                  ref.min_pool2d, ref.min_pool2d_backward)):
        y, idx = fwd(x, *args, cfg["dilation"], ceil_mode=cfg["ceil_mode"], return_indices=True)
        yr, idxr = rfwd(x, *args, cfg["dilation"], ceil_mode=cfg["ceil_mode"], return_indices=True)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(idx, idxr)
        gy = rng.standard_normal(y.shape)
        np.testing.assert_allclose(bwd(gy, x, *args, cfg["dilation"], ceil_mode=cfg["ceil_mode"]),
                                   rbwd(gy, x, *args, cfg["dilation"], ceil_mode=cfg["ceil_mode"]),
                                   rtol=1e-12, atol=1e-12)
    for cip in (True, False):
        kwargs = dict(ceil_mode=cfg["ceil_mode"], count_include_pad=cip)
        y = cyconv.avg_pool2d(x, *args, **kwargs)
        np.testing.assert_allclose(y, ref.avg_pool2d(x, *args, **kwargs), rtol=1e-12, atol=1e-12)
        gy = rng.standard_normal(y.shape)
        np.testing.assert_allclose(cyconv.avg_pool2d_backward(gy, x, *args, **kwargs),
                                   ref.avg_pool2d_backward(gy, x, *args, **kwargs),
                                   rtol=1e-12, atol=1e-12)
