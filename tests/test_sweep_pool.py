"""Small and degenerate shapes through every pooling op and kernel path.

A seeded sweep of configurations that PyTorch accepts (``support/sweep.py``: padding up to half the
kernel, windows that start in the padding, dilated windows that hold only padding, ceil_mode
windows that start inside a short input and run past its end; adaptive outputs larger than
the input), forward and backward, against ``cyconv.reference`` in float64, with every array
cyconv allocates poisoned (NaN, and -7 for indices): an unwritten element always fails.
Max/min pooling runs three ways: without indices (the separable row kernels), with indices
(the per-window kernels), and the backward from those indices; 1-D pooling also with one
row per kernel plane. ``pytest --long`` sweeps LONG_COUNT configurations.
"""
import functools

import numpy as np
import pytest

import cyconv
from cyconv import reference as ref

from support import sweep
from support.sweep import close, data, poisoned_allocations

DTYPES = (np.float32, np.float64)


@pytest.fixture
def count(request):
    return (sweep.LONG_COUNT if request.config.getoption("--long")
            else sweep.DEFAULT_POOL_COUNT)


@functools.cache
def _pool_case(index, count):
    cfg = sweep.pool_configs(count)[index]
    x = data(cfg["x"], np.random.default_rng(index), np.float64, cfg["ties"])
    name = f"{cfg['kind']}_pool{cfg['ndim']}d"
    forward, backward = getattr(ref, name), getattr(ref, name + "_backward")
    if cfg["kind"] == "avg":
        y, indices = forward(x, cfg["kernel"], **cfg["kw"]), None
    else:
        y, indices = forward(x, cfg["kernel"], return_indices=True, **cfg["kw"])
    gy = data(y.shape, np.random.default_rng(index + 1), np.float64)
    return dict(cfg=cfg, name=name, x=x, y=y, indices=indices, gy=gy,
                y_bound=np.abs(y) if cfg["kind"] != "avg"
                else forward(np.abs(x), cfg["kernel"], **cfg["kw"]),
                gx=backward(gy, x, cfg["kernel"], **cfg["kw"]),
                gx_bound=backward(np.abs(gy), x, cfg["kernel"], **cfg["kw"]))


def _check_pool(case, dtype, monkeypatch, what):
    cfg, name = case["cfg"], case["name"]
    x, gy = case["x"].astype(dtype), case["gy"].astype(dtype)
    op, backward = getattr(cyconv, name), getattr(cyconv, name + "_backward")
    with poisoned_allocations(monkeypatch):
        y = op(x, cfg["kernel"], **cfg["kw"])
        gx = backward(gy, x, cfg["kernel"], **cfg["kw"])
        if cfg["kind"] != "avg":
            y_i, indices = op(x, cfg["kernel"], return_indices=True, **cfg["kw"])
            gx_i = backward(gy, x, cfg["kernel"], indices=indices, **cfg["kw"])
    close(y, case["y"], case["y_bound"], dtype, f"{what} forward")
    close(gx, case["gx"], case["gx_bound"], dtype, f"{what} backward")
    if cfg["kind"] != "avg":
        # max/min select an element: exact, and the same with and without indices
        np.testing.assert_array_equal(y, case["y"].astype(dtype), what)
        np.testing.assert_array_equal(y_i, y, what)
        np.testing.assert_array_equal(indices, case["indices"], what)
        np.testing.assert_array_equal(gx_i, gx, what)


@pytest.mark.parametrize("stacked_rows", [True, False], ids=["stacked-rows", "row-per-plane"])
def test_pool_small_shapes(count, stacked_rows, monkeypatch):
    rows = cyconv.PoolRows.STACKED if stacked_rows else cyconv.PoolRows.PLANES
    with cyconv.forced_paths(pool_rows=rows):
        _sweep_pool(count, monkeypatch)


def _sweep_pool(count, monkeypatch):
    for index in range(count):
        case = _pool_case(index, count)
        for dtype in DTYPES:
            what = (f"configuration {index} ({case['name']} x{case['cfg']['x']} kernel "
                    f"{case['cfg']['kernel']} {case['cfg']['kw']}, {np.dtype(dtype).name})")
            _check_pool(case, dtype, monkeypatch, what)


def test_adaptive_pool_small_shapes(count, monkeypatch):
    for index, cfg in enumerate(sweep.adaptive_configs(count)):
        name = f"adaptive_{cfg['kind']}_pool{cfg['ndim']}d"
        rng = np.random.default_rng(index)
        x64 = data(cfg["x"], rng, np.float64, cfg["ties"])
        want = getattr(ref, name)(x64, cfg["output"])
        gy64 = data(want.shape, rng, np.float64)
        gx_want = getattr(ref, name + "_backward")(gy64, x64, cfg["output"])
        gx_bound = getattr(ref, name + "_backward")(np.abs(gy64), x64, cfg["output"])
        y_bound = getattr(ref, name)(np.abs(x64), cfg["output"])
        for dtype in DTYPES:
            what = f"configuration {index} ({name} x{cfg['x']} output {cfg['output']}, {dtype})"
            x, gy = x64.astype(dtype), gy64.astype(dtype)
            with poisoned_allocations(monkeypatch):
                y = getattr(cyconv, name)(x, cfg["output"])
                gx = getattr(cyconv, name + "_backward")(gy, x, cfg["output"])
            close(y, want, y_bound, dtype, f"{what} forward")
            close(gx, gx_want, gx_bound, dtype, f"{what} backward")


def test_the_sweep_reaches_the_windows_that_broke():
    """Configurations PyTorch accepts that cyconv once refused are in the default sweep:
    ceil_mode windows starting inside an input shorter than the dilated kernel, and dilated
    max/min windows with no input element."""
    from cyconv import _shapes
    short_ceil = empty = 0
    for cfg in sweep.pool_configs(sweep.DEFAULT_POOL_COUNT):
        kw, sizes = cfg["kw"], cfg["x"][2:]
        stride = cfg["kernel"] if kw["stride"] is None else kw["stride"]
        dilation = kw.get("dilation", (1,) * cfg["ndim"])
        pads = _shapes.resolve_padding(kw["padding"], cfg["kernel"], dilation, stride, sizes)
        out = _shapes.pool_output_shape(sizes, cfg["kernel"], stride, pads, dilation,
                                        kw["ceil_mode"])
        short_ceil += any(s + lo + hi < d * (k - 1) + 1 for s, (lo, hi), d, k
                          in zip(sizes, pads, dilation, cfg["kernel"]))
        empty += any(_shapes.pool_empty_window(*args) is not None
                     for args in zip(sizes, cfg["kernel"], stride, pads, dilation, out))
    assert short_ceil >= 2 and empty >= 2, (short_ceil, empty)


@pytest.mark.parametrize("op, shape, args", [
    # ceil_mode windows that start inside an input shorter than the kernel
    ("max_pool2d", (1, 1, 1, 5), dict(kernel_size=(2, 1), stride=(2, 1), ceil_mode=True)),
    ("avg_pool2d", (1, 1, 3, 2), dict(kernel_size=(3, 3), stride=(1, 3), padding=(1, 0),
                                      ceil_mode=True)),
    ("avg_pool2d", (1, 1, 3, 2), dict(kernel_size=(3, 3), stride=(1, 3), padding=(1, 0),
                                      ceil_mode=True, count_include_pad=False)),
    ("max_pool1d", (2, 3, 3), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    ("max_pool3d", (1, 2, 1, 2, 3), dict(kernel_size=(2, 3, 2), stride=2, ceil_mode=True)),
])
def test_short_inputs_with_ceil_mode_against_torch(op, shape, args):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn.functional, op)(xt, **args)
    gy = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    kernel_size = args.pop("kernel_size")
    np.testing.assert_allclose(getattr(cyconv, op)(x, kernel_size, **args), yt.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(getattr(cyconv, op + "_backward")(gy, x, kernel_size, **args),
                               xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_windows_with_no_input_element_give_torchs_values(ndim):
    """PyTorch's values (its indices for these windows point past them, and its backward
    writes there, so only the values are compared)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(ndim).standard_normal((2, 3) + (1,) * (ndim - 1) + (3,))
    lead = (1,) * (ndim - 1)
    kw = dict(kernel_size=lead + (2,), stride=1, padding=(0,) * (ndim - 1) + (1,),
              dilation=lead + (4,))
    want = getattr(torch.nn.functional, f"max_pool{ndim}d")(torch.tensor(x), **kw).numpy()
    assert np.isneginf(want).any()
    kernel_size = kw.pop("kernel_size")
    y, indices = getattr(cyconv, f"max_pool{ndim}d")(x, kernel_size, return_indices=True, **kw)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(indices == -1, np.isneginf(want))
    y_min = getattr(cyconv, f"min_pool{ndim}d")(x, kernel_size, **kw)
    np.testing.assert_array_equal(y_min, -getattr(torch.nn.functional, f"max_pool{ndim}d")(
        torch.tensor(-x), kernel_size, **kw).numpy())
    gx = getattr(cyconv, f"max_pool{ndim}d_backward")(np.ones_like(y), x, kernel_size, **kw)
    np.testing.assert_array_equal(gx, getattr(cyconv, f"max_pool{ndim}d_backward")(
        np.where(indices == -1, 0.0, 1.0), x, kernel_size, **kw))
