"""Small and degenerate shapes through every convolution path the dispatcher can reach.

Each test forces one path (an ``algorithm``, and for 'implicit' one of its kernels and ways
of reading the input) and runs a seeded sweep of generated configurations (``_sweep.py``:
sizes of 1 and 2, padding beyond the input, stride and dilation beyond the kernel, depthwise
groups, 1-D/2-D/3-D) through conv and conv_transpose, forward and every gradient, against
``cyconv.reference`` in float64. Every array cyconv allocates is poisoned with NaN, and the
forward also writes into a NaN-filled ``out=``: an element no path wrote always fails. Each
configuration runs on one of the micro-kernel ISAs the CPU has (round robin).
``pytest --long`` sweeps LONG_COUNT configurations per test.
"""
import functools

import numpy as np
import pytest

import cyconv
import cyconv.conv as conv_module
from cyconv import reference as ref
from cyconv._kernels import _conv as kernels

import _sweep
from _sweep import close, data, poisoned_allocations

DTYPES = (np.float32, np.float64)


def _rows(narrow):
    """The channels-on-lanes row tiles (``narrow`` or wide), never the other row kernels."""
    return {"_row_tile_variant": lambda p: narrow, "PIXEL_ROWS": False, "ROWPAIRS": False}


def _pixel_rows_fit(p, cog, tile):
    return (p.dtype == np.float32 and p.stride[-1] == 1 and kernels.pixel_rows_available())


def _rowpairs_fit(p, cog, tile):
    return (p.dtype == np.float32 and p.ndim == 2 and p.output_shape[1] == 8
            and p.output_shape[0] % 8 == 0 and all(s == 1 for s in p.stride)
            and kernels.rowpairs_available())


def _gradients_on_forward_kernels(narrow):
    """grad_input as forward convolutions (stride 1) or per-phase ones (strided) and the
    padded or per-phase weight gradient, whatever the channel counts."""
    return {"GRAD_INPUT_FORWARD_MIN_CHANNELS": 1, "GRAD_INPUT_FORWARD_MIN_CHANNELS_MANY_TAPS": 1,
            "_weight_grad_variant":
                lambda p: narrow if all(s == 1 for s in p.stride) else None}


NO_UNPADDED = {"_unpadded_row_layout": lambda p, npx: None}
WHOLE_COPY = {"PAD_PER_ITEM_BYTES": 0}
# path name -> (algorithm, overrides of cyconv.conv's dispatch switches)
PATHS = {
    "auto": ("auto", {}),
    "direct": ("direct", {}),
    "im2col": ("im2col", {}),
    "implicit": ("implicit", {}),
    "implicit-gemm": ("implicit", {"_row_tile_variant": lambda p: None, "PIXEL_ROWS": False,
                                   "ROWPAIRS": False}),
    "implicit-gemm-copy": ("implicit", {"_row_tile_variant": lambda p: None,
                                        "PIXEL_ROWS": False, "ROWPAIRS": False, **WHOLE_COPY}),
    "implicit-rows-wide-in-place": ("implicit", {**_rows(False), "UNPADDED_ROWS_MAX_EDGE": 1.0}),
    "implicit-rows-narrow-in-place": ("implicit", {**_rows(True), "UNPADDED_ROWS_MAX_EDGE": 1.0}),
    "implicit-rows-wide-per-item": ("implicit", {**_rows(False), **NO_UNPADDED}),
    "implicit-rows-narrow-copy": ("implicit", {**_rows(True), **NO_UNPADDED, **WHOLE_COPY}),
    "implicit-pixel-rows-per-item": ("implicit", {"_pixel_rows_apply": _pixel_rows_fit,
                                                  "ROWPAIRS": False}),
    "implicit-pixel-rows-copy": ("implicit", {"_pixel_rows_apply": _pixel_rows_fit,
                                              "ROWPAIRS": False, **WHOLE_COPY}),
    "implicit-rowpairs": ("implicit", {"_rowpairs_applies": _rowpairs_fit}),
    "implicit-gradients-narrow": ("implicit", _gradients_on_forward_kernels(True)),
    "implicit-gradients-wide": ("implicit", _gradients_on_forward_kernels(False)),
}


@pytest.fixture
def forced_path(request, monkeypatch):
    """Select the dispatch of the path ``request.param`` for the test."""
    algorithm, overrides = PATHS[request.param]
    conv_module._unpadded_row_layout.cache_clear()
    request.addfinalizer(conv_module._unpadded_row_layout.cache_clear)
    for name, value in overrides.items():
        monkeypatch.setattr(conv_module, name, value)
    return algorithm


@pytest.fixture
def count(request):
    return _sweep.LONG_COUNT if request.config.getoption("--long") else _sweep.DEFAULT_COUNT


@functools.cache
def _conv_case(index, transposed, count):
    """Inputs and float64 reference results (values and sum-of-|terms| bounds) of one
    configuration, shared by every path's test."""
    configs = (_sweep.conv_transpose_configs if transposed else _sweep.conv_configs)(count)
    cfg = configs[index]
    rng = np.random.default_rng(index)
    x, w = data(cfg["x"], rng, np.float64), data(cfg["weight"], rng, np.float64)
    b = data(cfg["weight"][1] * cfg["kw"]["groups"] if transposed else cfg["weight"][0],
             rng, np.float64) if cfg["bias"] else None
    name = f"conv_transpose{cfg['ndim']}d" if transposed else f"conv{cfg['ndim']}d"
    forward, backward = getattr(ref, name), getattr(ref, name + "_backward")
    kw = dict(cfg["kw"], flip=cfg["flip"])
    absb = None if b is None else np.abs(b)
    y = forward(x, w, b, **kw)
    gy = data(y.shape, rng, np.float64)
    return dict(cfg=cfg, name=name, x=x, w=w, b=b, gy=gy, y=y,
                y_bound=forward(np.abs(x), np.abs(w), absb, **kw),
                grads=backward(gy, x, w, **kw),
                grad_bounds=backward(np.abs(gy), np.abs(x), np.abs(w), **kw))


def _run(case, algorithm, dtype, monkeypatch, what):
    cfg, name = case["cfg"], case["name"]
    kw = dict(cfg["kw"], flip=cfg["flip"], algorithm=algorithm)
    x, w, gy = (case[k].astype(dtype) for k in ("x", "w", "gy"))
    b = None if case["b"] is None else case["b"].astype(dtype)
    with poisoned_allocations(monkeypatch):
        if not name.startswith("conv_transpose"):
            out = np.full(case["y"].shape, np.nan, dtype)
            y = getattr(cyconv, name)(x, w, b, out=out, **kw)
            assert y is out, what
        else:
            y = getattr(cyconv, name)(x, w, b, **kw)
        grads = getattr(cyconv, name + "_backward")(gy, x, w, **kw)
        only_weight = getattr(cyconv, name + "_backward")(gy, x, w, need=("weight",), **kw)
    close(y, case["y"], case["y_bound"], dtype, f"{what} forward")
    for label, got, want, bound in zip(("grad_input", "grad_weight", "grad_bias"), grads,
                                       case["grads"], case["grad_bounds"]):
        close(got, want, bound, dtype, f"{what} {label}")
    np.testing.assert_array_equal(only_weight.grad_weight, grads.grad_weight, what)
    assert only_weight.grad_input is None and only_weight.grad_bias is None


def _sweep_path(transposed, algorithm, count, monkeypatch):
    isas = list(range(kernels.cpu_isa() + 1))
    previous = kernels.current_isa()
    try:
        for index in range(count):
            case = _conv_case(index, transposed, count)
            kernels.select_isa(isas[index % len(isas)])
            for dtype in DTYPES:
                what = (f"configuration {index} ({case['name']} x{case['cfg']['x']} "
                        f"w{case['cfg']['weight']} {case['cfg']['kw']} flip={case['cfg']['flip']} "
                        f"bias={case['cfg']['bias']}, isa {isas[index % len(isas)]}, "
                        f"{np.dtype(dtype).name})")
                _run(case, algorithm, dtype, monkeypatch, what)
    finally:
        kernels.select_isa(previous)


@pytest.mark.parametrize("forced_path", list(PATHS), indirect=True)
def test_conv_small_shapes_on_every_path(forced_path, count, monkeypatch):
    _sweep_path(False, forced_path, count, monkeypatch)


@pytest.mark.parametrize("forced_path", ["auto", "direct", "im2col", "implicit",
                                         "implicit-gradients-narrow",
                                         "implicit-gradients-wide",
                                         "implicit-rows-wide-per-item",
                                         "implicit-pixel-rows-per-item"], indirect=True)
def test_conv_transpose_small_shapes_on_every_path(forced_path, count, monkeypatch):
    _sweep_path(True, forced_path, count, monkeypatch)


def test_the_sweep_reaches_the_shapes_that_broke():
    """The generator covers what the sweep is for (or a change to it would silently narrow
    it): 3-D inputs of depth 1 with depth padding on depthwise groups, padding beyond the
    input, stride and dilation beyond the kernel, rows for whole row tiles."""
    configs = _sweep.conv_configs(_sweep.DEFAULT_COUNT)[len(_sweep.CONV_REGRESSIONS):]
    assert any(c["ndim"] == 3 and c["x"][2] == 1 and c["weight"][1] == 1
               and c["weight"][2] == 1 and c["kw"]["padding"] not in (0, "valid")
               for c in configs)
    assert any(max(c["kw"]["stride"]) > max(c["weight"][2:]) for c in configs)
    assert any(max(c["kw"]["dilation"]) > max(c["weight"][2:]) for c in configs)
    assert any(isinstance(c["kw"]["padding"], int) and c["kw"]["padding"] > min(c["x"][2:])
               for c in configs)
    assert any(c["x"][-1] >= 48 for c in configs)
    assert {c["ndim"] for c in configs} == {1, 2, 3}


ALGORITHMS = ("auto", "direct", "im2col", "implicit")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_depth_padding_of_a_depth_one_input(algorithm):
    """The reported cases, by hand: one element 7 with weight 2 and padding 1 is 14 in the
    middle of a 3x3x3 output of zeros; its weight gradient is grad_output's middle times 7."""
    x, w = np.full((1, 1, 1, 1, 1), 7.0), np.full((1, 1, 1, 1, 1), 2.0)
    want = np.zeros((1, 1, 3, 3, 3))
    want[0, 0, 1, 1, 1] = 14.0
    np.testing.assert_array_equal(cyconv.conv3d(x, w, padding=1, algorithm=algorithm), want)
    np.testing.assert_array_equal(
        cyconv.conv3d(x, w, padding=(1, 0, 0), algorithm=algorithm).ravel(), [0.0, 14.0, 0.0])
    gy = np.arange(27.0).reshape(1, 1, 3, 3, 3)
    grads = cyconv.conv3d_backward(gy, x, w, padding=1, algorithm=algorithm)
    np.testing.assert_array_equal(grads.grad_weight.ravel(), [91.0])
    np.testing.assert_array_equal(grads.grad_input.ravel(), [26.0])
    np.testing.assert_array_equal(grads.grad_bias, [351.0])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_depth_padding_of_a_depth_one_input_against_torch(algorithm, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 1, 5, 5)).astype(dtype)
    w = rng.standard_normal((4, 1, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv3d(xt, wt, bt, padding=1)
    gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(gy))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cyconv.conv3d(x, w, b, padding=1, algorithm=algorithm),
                               yt.detach().numpy(), **tol)
    grads = cyconv.conv3d_backward(gy, x, w, padding=1, algorithm=algorithm)
    for got, want in zip(grads, (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.numpy(), **tol)
