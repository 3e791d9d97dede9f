"""Random valid configurations (hypothesis): every algorithm and pooling op agrees with the
reference, forward and backward."""
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cyconv
from cyconv import _shapes, reference as ref

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_configs(draw):
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
@given(conv_configs(), st.sampled_from(["auto", "direct", "im2col", "implicit"]))
def test_conv_any_configuration(cfg, algorithm):
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
def pool_configs(draw):
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
@given(pool_configs())
def test_pooling_any_configuration(cfg):
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
