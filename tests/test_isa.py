"""One ISA level for every kernel module: cyconv._kernels._isa owns the choice, and
select_isa / CYCONV_ISA reach the pooling kernels as they reach the convolution kernels
(tests/test_conv.py's forced_isa runs the convolutions on every level)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from cyconv._kernels import _isa, _pool


@pytest.fixture(params=[0, 1, 2])
def level(request):
    """Each ISA level the CPU supports, selected for the test and restored after it."""
    if request.param > _isa.cpu_isa():
        pytest.skip(f"CPU lacks ISA level {request.param}")
    previous = _isa.current_isa()
    assert _isa.select_isa(request.param) == request.param
    yield request.param
    _isa.select_isa(previous)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_runs_at_the_selected_level(level, dtype):
    """The pooling module sees the level select_isa chose, and its results still match the
    reference there (forward and backward, on the separable row kernels)."""
    assert _pool.isa_level() == level
    rng = np.random.default_rng(level)
    x = rng.standard_normal((2, 3, 17, 21)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for op, kw in (("max", dict(stride=2)), ("avg", dict(stride=2, padding=1))):
        y = getattr(cyconv, f"{op}_pool2d")(x, 3, **kw)
        np.testing.assert_allclose(y, getattr(ref, f"{op}_pool2d")(x, 3, **kw), **tol)
        gy = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(getattr(cyconv, f"{op}_pool2d_backward")(gy, x, 3, **kw),
                                   getattr(ref, f"{op}_pool2d_backward")(gy, x, 3, **kw), **tol)


def test_select_isa_clips_to_the_cpu():
    previous = _isa.current_isa()
    try:
        assert _isa.select_isa(7) == _isa.select_isa(-1) == _isa.cpu_isa()
        assert _isa.select_isa(0) == 0 == _pool.isa_level()
    finally:
        _isa.select_isa(previous)


def test_cyconv_isa_at_import_governs_pooling():
    """CYCONV_ISA=0 in the environment puts the pooling kernels on level 0 too."""
    code = ("from cyconv._kernels import _isa, _pool; "
            "print(_isa.current_isa(), _pool.isa_level(), _isa.ISA_NAMES[_pool.isa_level()])")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CYCONV_ISA": "0"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0", "generic"]


def test_tile_shapes_are_the_levels(level):
    """Python's tile shapes come from the level's descriptor: one float64 vector holds half
    the float32 lanes, the pixel-lane rows exist from AVX2 up and the row pairs at level 2
    alone."""
    (mr32, nr32), (mr64, nr64) = _isa.tile_shape(True), _isa.tile_shape(False)
    assert mr32 == mr64 and nr32 == 2 * nr64
    (ob32, np32), (ob64, np64) = _isa.direct_tile_shape(True), _isa.direct_tile_shape(False)
    assert ob32 == 2 * ob64 and np32 == np64
    channels, pixels, lanes = _isa.pixel_rows_tile(True)
    assert pixels % lanes == 0 and _isa.pixel_rows_tile(False)[2] * 2 == lanes
    assert _isa.rowpairs_panel() > 0
    if level < 2:
        assert not _isa.rowpairs_available()
    assert _isa.pixel_rows_available() == (level > 0)
