"""Small and degenerate shapes through every convolution path the dispatcher can reach.

Each test forces one path (an ``algorithm``, or through ``cyconv.forced_paths`` one kernel
and way of reading the input, or one gradient path, wherever it runs) and runs a seeded
sweep of generated configurations (``support/sweep.py``: sizes of 1 and 2, padding beyond the
input, stride and dilation beyond the kernel, depthwise groups, 1-D/2-D/3-D) through conv
and conv_transpose, forward and every gradient, against ``cyconv.reference`` in float64.
Every array cyconv allocates is poisoned with NaN, and the forward also writes into a
NaN-filled ``out=``: an element no path wrote always fails. Each configuration runs on one
of the micro-kernel ISAs the CPU has (round robin). ``pytest --long`` sweeps LONG_COUNT
configurations per test.
"""
import functools

import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from cyconv._kernels import _isa as kernels

from support import sweep
from support.sweep import close, close_normwise, data, poisoned_allocations

DTYPES = (np.float32, np.float64)


F, M = cyconv.ForwardPath, cyconv.InputMode
GI, GW = cyconv.GradInputPath, cyconv.GradWeightPath
# path name -> (algorithm, paths forced where the kernels can run them)
PATHS = {
    "auto": ("auto", {}),
    "direct": ("direct", {}),
    "im2col": ("im2col", {}),
    "implicit": ("implicit", {}),
    "implicit-gemm": ("implicit", dict(forward=F.IMPLICIT_GEMM)),
    "rows-wide-in-place": ("implicit", dict(forward=F.ROWS_WIDE, input_mode=M.IN_PLACE)),
    "rows-narrow-in-place": ("implicit", dict(forward=F.ROWS_NARROW, input_mode=M.IN_PLACE)),
    "rows-wide-per-item": ("implicit", dict(forward=F.ROWS_WIDE, input_mode=M.PER_ITEM)),
    "rows-narrow-copy": ("implicit", dict(forward=F.ROWS_NARROW, input_mode=M.PADDED_COPY)),
    "pixel-rows-per-item": ("implicit", dict(forward=F.PIXEL_ROWS, input_mode=M.PER_ITEM)),
    "pixel-rows-copy": ("implicit", dict(forward=F.PIXEL_ROWS, input_mode=M.PADDED_COPY)),
    "row-pairs": ("implicit", dict(forward=F.ROW_PAIRS)),
    "gradients-forward-narrow": ("auto", dict(grad_input=GI.FORWARD,
                                              grad_weight=GW.PADDED_NARROW)),
    "gradients-forward-wide": ("auto", dict(grad_input=GI.FORWARD, grad_weight=GW.PADDED_WIDE)),
    "gradients-phases": ("auto", dict(grad_input=GI.PHASES, grad_weight=GW.PHASES)),
    "gradients-im2col": ("auto", dict(grad_input=GI.IM2COL, grad_weight=GW.IM2COL)),
    "gradients-direct": ("auto", dict(grad_input=GI.DIRECT, grad_weight=GW.DIRECT)),
    "gradients-depthwise-forward": ("auto", dict(grad_input=GI.DEPTHWISE_FORWARD)),
    "fft": ("fft", dict(forward=F.FFT, grad_input=GI.FFT, grad_weight=GW.FFT)),
}


@pytest.fixture
def forced_path(request):
    """Force the paths of ``request.param`` (wherever they run) for the test."""
    algorithm, paths = PATHS[request.param]
    with cyconv.forced_paths(**paths):
        yield algorithm


@pytest.fixture
def count(request):
    return sweep.LONG_COUNT if request.config.getoption("--long") else sweep.DEFAULT_COUNT


@functools.cache
def _conv_case(index, transposed, count):
    """Inputs and float64 reference results (values and sum-of-|terms| bounds) of one
    configuration, shared by every path's test."""
    configs = (sweep.conv_transpose_configs if transposed else sweep.conv_configs)(count)
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


def _run(case, algorithm, dtype, monkeypatch, what, taken):
    cfg, name = case["cfg"], case["name"]
    kw = dict(cfg["kw"], flip=cfg["flip"], algorithm=algorithm)
    x, w, gy = (case[k].astype(dtype) for k in ("x", "w", "gy"))
    b = None if case["b"] is None else case["b"].astype(dtype)
    if not name.startswith("conv_transpose"):
        plans = cyconv.plan_conv(x, w, b, **{k: v for k, v in kw.items() if k != "flip"})
        taken |= {plans.forward.path, plans.forward.input_mode, plans.backward.grad_input,
                  plans.backward.grad_weight}
    with poisoned_allocations(monkeypatch):
        if not name.startswith("conv_transpose"):
            out = np.full(case["y"].shape, np.nan, dtype)
            y = getattr(cyconv, name)(x, w, b, out=out, **kw)
            assert y is out, what
        else:
            y = getattr(cyconv, name)(x, w, b, **kw)
        grads = getattr(cyconv, name + "_backward")(gy, x, w, **kw)
        only_weight = getattr(cyconv, name + "_backward")(gy, x, w, need=("weight",), **kw)
    if algorithm == "fft":  # the FFT path's bound is normwise (README, accuracy contract)
        nx, nw, ng = (sweep.plane_norm(case[k]) for k in ("x", "w", "gy"))
        size = 8 * max(np.prod(a.shape[2:]) for a in (x, w, gy))  # >= the transform size
        contracted = max(x.shape[:2] + w.shape[:2])
        for label, got, want, norms in (("forward", y, case["y"], (nx, nw)),
                                        ("grad_input", grads[0], case["grads"][0], (ng, nw)),
                                        ("grad_weight", grads[1], case["grads"][1], (ng, nx))):
            bound = sweep.fft_bound(dtype, size, contracted, *norms)
            if label == "forward" and case["b"] is not None:
                bound += np.abs(case["b"]).max() * np.finfo(dtype).eps
            close_normwise(got, want, dtype, f"{what} {label}", bound)
        close(grads[2], case["grads"][2], case["grad_bounds"][2], dtype, f"{what} grad_bias")
    else:
        close(y, case["y"], case["y_bound"], dtype, f"{what} forward")
        for label, got, want, bound in zip(("grad_input", "grad_weight", "grad_bias"), grads,
                                           case["grads"], case["grad_bounds"]):
            close(got, want, bound, dtype, f"{what} {label}")
    np.testing.assert_array_equal(only_weight.grad_weight, grads.grad_weight, what)
    assert only_weight.grad_input is None and only_weight.grad_bias is None


def _sweep_path(transposed, algorithm, count, monkeypatch):
    """Run the sweep; returns the paths and input modes the convolutions' plans took."""
    taken = set()
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
                _run(case, algorithm, dtype, monkeypatch, what, taken)
    finally:
        kernels.select_isa(previous)
    return taken


@pytest.mark.parametrize("forced_path", list(PATHS), indirect=True)
def test_conv_small_shapes_on_every_path(forced_path, count, request, monkeypatch):
    taken = _sweep_path(False, forced_path, count, monkeypatch)
    # each forced path ran on some configurations (the sweep can fail for it)
    _, paths = PATHS[request.node.callspec.params["forced_path"]]
    if paths.get("forward") == F.ROW_PAIRS and not kernels.rowpairs_available():
        return
    if paths.get("forward") == F.PIXEL_ROWS and not kernels.pixel_rows_available():
        return
    assert set(paths.values()) <= taken, set(paths.values()) - taken


@pytest.mark.parametrize("forced_path", ["auto", "direct", "im2col", "implicit",
                                         "gradients-forward-narrow", "gradients-phases",
                                         "gradients-im2col", "rows-wide-per-item",
                                         "pixel-rows-per-item", "fft"], indirect=True)
def test_conv_transpose_small_shapes_on_every_path(forced_path, count, monkeypatch):
    _sweep_path(True, forced_path, count, monkeypatch)


def test_the_sweep_reaches_the_shapes_that_broke():
    """The generator covers what the sweep is for (or a change to it would silently narrow
    it): 3-D inputs of depth 1 with depth padding on depthwise groups, padding beyond the
    input, stride and dilation beyond the kernel, rows for whole row tiles."""
    curated = len(sweep.CONV_REGRESSIONS) + len(sweep.CONV_PATH_CASES)
    configs = sweep.conv_configs(sweep.DEFAULT_COUNT)[curated:]
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
