"""Every public op of cyconv with a small valid call, for the tests that run every op.

``CASES[name](dtype, rng)`` returns ``(args, kwargs)`` for one small valid call of
``getattr(cyconv, name)`` (and of ``cyconv.reference``'s twin, minus num_threads/out). The
hardening tests run every entry through array-form, immutability, concurrency and memory
checks; ``test_every_public_op_is_covered`` fails when a public op is missing here, so a new op
cannot skip them.
"""
from __future__ import annotations

import hashlib
import inspect

import numpy as np

import cyconv
import cyconv.reference

# Public names that are not array ops.
NOT_OPS = {"ConvGrads", "get_num_threads", "set_num_threads", "threads", "tune", "ConvPlans",
           "ForwardPath", "GradInputPath", "GradWeightPath", "InputMode", "forced_paths",
           "plan_conv", "PoolRows", "release_memory"}

SPATIAL = {1: (9,), 2: (7, 9), 3: (5, 6, 7)}
KERNEL = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}


def _x(rng, dtype, ndim, channels=4, batch=2):
    return rng.standard_normal((batch, channels) + SPATIAL[ndim]).astype(dtype)


def _conv_case(ndim):
    kw = dict(stride=1, padding=1, dilation=1, groups=2)

    def forward(dtype, rng):
        x = _x(rng, dtype, ndim)
        w = rng.standard_normal((6, 2) + KERNEL[ndim]).astype(dtype)
        b = rng.standard_normal(6).astype(dtype)
        return (x, w, b), dict(kw)

    def backward(dtype, rng):
        (x, w, _), _ = forward(dtype, rng)
        y = getattr(cyconv.reference, f"conv{ndim}d")(x, w, **kw)
        gy = rng.standard_normal(y.shape).astype(dtype)
        return (gy, x, w), dict(kw)

    return forward, backward


def _pool_case(ndim, kind):
    kw = dict(stride=2, padding=1, ceil_mode=True)
    if kind != "avg":
        kw["dilation"] = 1

    def forward(dtype, rng):
        return (_x(rng, dtype, ndim), 3), dict(kw)

    def backward(dtype, rng):
        x = _x(rng, dtype, ndim)
        y = getattr(cyconv.reference, f"{kind}_pool{ndim}d")(x, 3, **kw)
        return (rng.standard_normal(y.shape).astype(dtype), x, 3), dict(kw)

    return forward, backward


def _conv_transpose_case(ndim):
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)

    def forward(dtype, rng):
        x = _x(rng, dtype, ndim)
        w = rng.standard_normal((4, 3) + KERNEL[ndim]).astype(dtype)
        b = rng.standard_normal(6).astype(dtype)
        return (x, w, b), dict(kw)

    def backward(dtype, rng):
        (x, w, _), _ = forward(dtype, rng)
        y = getattr(cyconv.reference, f"conv_transpose{ndim}d")(x, w, **kw)
        return (rng.standard_normal(y.shape).astype(dtype), x, w), dict(kw)

    return forward, backward


ADAPTIVE_OUT = {1: (4,), 2: (3, 4), 3: (2, 4, 3)}


def _adaptive_case(ndim, kind):
    def forward(dtype, rng):
        return (_x(rng, dtype, ndim), ADAPTIVE_OUT[ndim]), {}

    def backward(dtype, rng):
        x = _x(rng, dtype, ndim)
        gy = rng.standard_normal(x.shape[:2] + ADAPTIVE_OUT[ndim]).astype(dtype)
        return (gy, x, ADAPTIVE_OUT[ndim]), {}

    return forward, backward


def _global_case(kind):
    def forward(dtype, rng):
        return (_x(rng, dtype, 2),), dict(keepdims=False)

    def backward(dtype, rng):
        x = _x(rng, dtype, 2)
        return (rng.standard_normal(x.shape[:2]).astype(dtype), x), dict(keepdims=False)

    return forward, backward


CASES = {}
for _d in (1, 2, 3):
    CASES[f"conv{_d}d"], CASES[f"conv{_d}d_backward"] = _conv_case(_d)
    for _kind in ("max", "min", "avg"):
        CASES[f"{_kind}_pool{_d}d"], CASES[f"{_kind}_pool{_d}d_backward"] = _pool_case(_d, _kind)
    if hasattr(cyconv, f"conv_transpose{_d}d"):
        (CASES[f"conv_transpose{_d}d"],
         CASES[f"conv_transpose{_d}d_backward"]) = _conv_transpose_case(_d)

    for _kind in ("avg", "max"):
        if hasattr(cyconv, f"adaptive_{_kind}_pool{_d}d"):
            (CASES[f"adaptive_{_kind}_pool{_d}d"],
             CASES[f"adaptive_{_kind}_pool{_d}d_backward"]) = _adaptive_case(_d, _kind)
for _kind in ("avg", "max"):
    if hasattr(cyconv, f"global_{_kind}_pool"):
        CASES[f"global_{_kind}_pool"], CASES[f"global_{_kind}_pool_backward"] = _global_case(_kind)



def _fold_cases():
    """unfold in 3-D and fold in 1-D (fold's x (N, C*K, L) has one "spatial" dim, which the
    generic argument mutations read as the rank)."""
    unfold_kw = dict(dilation=(1, 2, 1), padding=1, stride=(2, 1, 2))
    fold_kw = dict(dilation=1, padding=1, stride=2)

    def unfold(dtype, rng):
        return (_x(rng, dtype, 3), KERNEL[3]), dict(unfold_kw)

    def unfold_backward(dtype, rng):
        x = _x(rng, dtype, 3)
        cols = cyconv.reference.unfold(x, KERNEL[3], **unfold_kw)
        return (rng.standard_normal(cols.shape).astype(dtype), x, KERNEL[3]), dict(unfold_kw)

    def fold(dtype, rng):
        cols = cyconv.reference.unfold(_x(rng, dtype, 1), KERNEL[1], **fold_kw)
        return (rng.standard_normal(cols.shape).astype(dtype), SPATIAL[1], KERNEL[1]), dict(fold_kw)

    def fold_backward(dtype, rng):
        (cols, size, kernel), _ = fold(dtype, rng)
        gy = _x(rng, dtype, 1)
        return (gy, cols, size, kernel), dict(fold_kw)

    return dict(unfold=unfold, unfold_backward=unfold_backward, fold=fold,
                fold_backward=fold_backward)


if hasattr(cyconv, "unfold"):
    CASES.update(_fold_cases())

PUBLIC_OPS = sorted(name for name in cyconv.__all__ if name not in NOT_OPS)
OPS = sorted(CASES)


def call(name, dtype=np.float64, seed=0, module=cyconv, **extra):
    """Build the small case of ``name`` and run it on ``module`` (cyconv or its reference)."""
    args, kwargs = CASES[name](dtype, np.random.default_rng(seed))
    return getattr(module, name)(*args, **kwargs, **extra)


def as_arrays(result):
    """The arrays of an op's result (a ConvGrads, a (y, indices) pair or one array)."""
    if isinstance(result, tuple):
        return [r for r in result if r is not None]
    return [result]


def bound_call(name, dtype, seed=0):
    """(op, {argument: value}) of the small case of ``name``, every argument by name."""
    fn = getattr(cyconv, name)
    args, kwargs = CASES[name](dtype, np.random.default_rng(seed))
    return fn, dict(inspect.signature(fn).bind(*args, **kwargs).arguments)


def digest(a):
    """Contents, shape and strides of ``a``: equal digests mean an untouched array."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(), a.shape, a.strides


def unaligned(a):
    """A copy of ``a`` at an odd byte offset (not aligned for its dtype)."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    b = raw[1:].view(a.dtype).reshape(a.shape)
    b[...] = a
    assert not b.flags.aligned
    return b


def GRADS_OUT(name: str) -> bool:  # noqa: N802 - reads as a predicate over op names
    """Ops whose ``out=`` is a (grad_input, grad_weight, grad_bias) tuple."""
    return name.startswith("conv") and name.endswith("_backward")
