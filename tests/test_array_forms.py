"""Every public op on every array form: Fortran order, slices, transposes, negative and zero
strides, read-only memory, N=0, 0-d/1-d misuse, ``out=`` misuse. Results equal the same call on
C-contiguous copies bitwise, and no op writes to (or returns a view of) its inputs. Unaligned
arrays (views at an odd byte offset) are copied before the kernels see them: the kernels' typed
loads from them would be undefined behaviour (UBSan reported them under ``make sanitize``);
only an unaligned ``out=`` is rejected."""

import numpy as np
import pytest

import cyconv

from support.ops import GRADS_OUT, OPS, PUBLIC_OPS, as_arrays, bound_call, digest, unaligned

ARRAY_ARGS = ("x", "weight", "bias", "grad_output", "indices")


def test_every_public_op_is_covered():
    missing = sorted(set(PUBLIC_OPS) - set(OPS))
    assert not missing, f"add these public ops to tests/support/ops.py: {missing}"


def _fortran(a):
    return np.asfortranarray(a)


def _sliced(a):
    big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
    view = big[tuple(slice(1, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _transposed(a):
    if a.ndim < 2:
        return a
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)


def _negative(a):
    flip = (slice(None, None, -1),) * a.ndim
    return np.ascontiguousarray(a[flip])[flip]


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _zero_strides(a):
    # every plane the same (a read-only broadcast view with stride 0 on the batch axis)
    return np.broadcast_to(a[:1], a.shape)


FORMS = [_fortran, _sliced, _transposed, _negative, _read_only, _zero_strides, unaligned]


def _takes_indices(name):
    return name.endswith("_backward") and ("max_pool" in name or "min_pool" in name)


def _forward_indices(name, params, x):
    """The indices that the forward of backward op ``name`` returns for input ``x``."""
    forward = getattr(cyconv, name[:-len("_backward")])
    kw = {k: v for k, v in params.items() if k not in ("grad_output", "x", "indices")}
    return forward(x, return_indices=True, **kw)[1]


def _with_indices(name, params):
    """Max/min backward: also the variant that takes the forward's indices."""
    if _takes_indices(name):
        return [params, dict(params, indices=_forward_indices(name, params, params["x"]))]
    return [params]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("name", OPS)
def test_array_forms_give_the_contiguous_result(name, form):
    dtype = np.float32 if "pool" in name else np.float64
    fn, base = bound_call(name, dtype)
    for params in _with_indices(name, base):
        arrays = {k: v for k, v in params.items() if k in ARRAY_ARGS and v is not None}
        odd = {k: form(v) for k, v in arrays.items()}
        contiguous = {k: np.array(v, order="C") for k, v in odd.items()}
        if "indices" in odd and form is _zero_strides:
            # indices of the first image are only valid for the first image's values
            contiguous["x"] = odd["x"] = np.broadcast_to(params["x"][:1], params["x"].shape)
            odd["indices"] = contiguous["indices"] = _forward_indices(name, params,
                                                                      contiguous["x"])
        got = as_arrays(fn(**dict(params, **odd)))
        want = as_arrays(fn(**dict(params, **contiguous)))
        for g, w in zip(got, want, strict=True):
            # a forward convolution keeps an input's channels-last memory format
            keeps_format = name in ("conv1d", "conv2d", "conv3d") and _channels_last(odd["x"])
            assert g.dtype == w.dtype
            assert _channels_last(g) if keeps_format else g.flags.c_contiguous
            np.testing.assert_array_equal(g, w)


def _channels_last(a):
    return not a.flags.c_contiguous and np.moveaxis(a, 1, -1).flags.c_contiguous


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_never_modified_nor_returned(name, dtype):
    fn, base = bound_call(name, dtype)
    for params in _with_indices(name, base):
        arrays = {k: v for k, v in params.items() if isinstance(v, np.ndarray)}
        before = {k: digest(v) for k, v in arrays.items()}
        # also through non-contiguous views, which the API copies before the kernels run
        views = {k: _negative(v) for k, v in arrays.items()}
        view_before = {k: digest(v) for k, v in views.items()}
        for call_args in (arrays, views):
            results = as_arrays(fn(**dict(params, **call_args)))
            for r in results:
                for a in call_args.values():
                    assert not np.shares_memory(r, a), f"{name} returned a view of an input"
        assert {k: digest(v) for k, v in arrays.items()} == before
        assert {k: digest(v) for k, v in views.items()} == view_before


def _expected_shapes(name, params, batch):
    """Result shapes of the op (from the reference on the same arguments) with batch ``batch``."""
    ref = getattr(cyconv.reference, name)
    ref_params = {k: v for k, v in params.items() if k not in ("num_threads", "out")}
    return [(batch,) + r.shape[1:] if r.shape[:1] == params["x"].shape[:1] else r.shape
            for r in as_arrays(ref(**ref_params))]


@pytest.mark.parametrize("name", OPS)
def test_empty_batch_gives_empty_results_of_the_right_shape(name):
    fn, params = bound_call(name, np.float64)
    expected = _expected_shapes(name, params, 0)
    empty = dict(params)
    for arg in ("x", "grad_output"):
        if arg in params:
            empty[arg] = params[arg][:0]
    for extra in ({},) + (({"return_indices": True},) if name.endswith(("max_pool1d", "max_pool2d",
                                                                         "max_pool3d")) else ()):
        results = as_arrays(fn(**empty, **extra))
        if extra:
            assert [r.shape for r in results] == [expected[0]] * 2
            assert results[1].dtype == np.int64
            continue
        assert [r.shape for r in results] == expected
        for r in results:
            assert r.dtype == np.float64
            if r.shape[0] != 0:  # weight and bias gradients of an empty batch are zero
                np.testing.assert_array_equal(r, 0)
    reference = as_arrays(getattr(cyconv.reference, name)(
        **{k: v for k, v in empty.items() if k != "num_threads"}))
    assert [r.shape for r in reference] == expected


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("value", [np.float64(1.0), 1.0, np.ones(7), [1.0, 2.0], None],
                         ids=["0d", "scalar", "1d", "list", "None"])
def test_scalars_and_vectors_for_x_are_rejected(name, value):
    fn, params = bound_call(name, np.float64)
    with pytest.raises((ValueError, TypeError), match="x"):
        fn(**dict(params, x=value))


# ---- out= --------------------------------------------------------------------------------------

# ops whose out= is one array (the convolutions' backward take a tuple: tests/test_out.py)
OUT_OPS = [name for name in OPS if "out" in __import__("inspect").signature(
    getattr(cyconv, name)).parameters and not GRADS_OUT(name)]


def test_some_ops_take_out():
    assert {"conv1d", "conv2d", "conv3d"} <= set(OUT_OPS)


@pytest.mark.parametrize("name", OUT_OPS)
def test_out_receives_the_result(name):
    fn, params = bound_call(name, np.float32)
    want = fn(**params)
    out = np.full_like(want, np.nan)
    assert fn(**params, out=out) is out
    np.testing.assert_array_equal(out, want)


def _bad_outs(want, params):
    other = np.float64 if want.dtype == np.float32 else np.float32
    wide = np.empty(want.shape[:-1] + (2 * want.shape[-1],), want.dtype)
    read_only = np.empty_like(want)
    read_only.flags.writeable = False
    return [("shape", np.empty(want.shape[:-1] + (want.shape[-1] + 1,), want.dtype)),
            ("shape", np.empty(want.size, want.dtype)),
            ("dtype", np.empty(want.shape, other)),
            ("contiguous", wide[..., ::2]),
            ("contiguous", np.asfortranarray(np.empty_like(want))),
            ("writeable", read_only),
            ("aligned", unaligned(want)),
            ("array", want.tolist()),
            ("array", 3.0)]


@pytest.mark.parametrize("name", OUT_OPS)
def test_bad_out_is_rejected_and_left_untouched(name):
    fn, params = bound_call(name, np.float32)
    want = fn(**params)
    for what, out in _bad_outs(want, params):
        snapshot = digest(out) if isinstance(out, np.ndarray) else None
        with pytest.raises((ValueError, TypeError), match="out") as err:
            fn(**params, out=out)
        if isinstance(out, np.ndarray):
            assert digest(out) == snapshot, (what, str(err.value))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_out_overlapping_an_input_is_rejected(ndim):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4) + (6,) * ndim)
    w = rng.standard_normal((4, 2) + (3,) * ndim)
    fn = getattr(cyconv, f"conv{ndim}d")
    kw = dict(padding="same", groups=2)
    snapshot = x.copy()
    with pytest.raises(ValueError, match="out"):
        fn(x, w, out=x, **kw)
    flat = np.zeros(2 * x.size)
    flat[:x.size] = x.ravel()
    half_over = flat[x.size // 2: x.size // 2 + x.size].reshape(x.shape)  # overlaps x by half
    with pytest.raises(ValueError, match="out"):
        fn(flat[:x.size].reshape(x.shape), w, out=half_over, **kw)
    np.testing.assert_array_equal(flat[:x.size].reshape(x.shape), snapshot)
    np.testing.assert_array_equal(x, snapshot)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_inputs_propagate_as_in_the_reference(name, special):
    fn, params = bound_call(name, np.float64)
    x = params["x"].copy()
    x.flat[[5, 17]] = special
    params["x"] = x
    ref_params = {k: v for k, v in params.items() if k != "num_threads"}
    with np.errstate(invalid="ignore", over="ignore"):
        want = as_arrays(getattr(cyconv.reference, name)(**ref_params))
    for got, expected in zip(as_arrays(fn(**params)), want, strict=True):
        for where in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(where(got), where(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10, atol=1e-10)
