"""Generators of small and degenerate configurations, and the poisoned allocator, for the
small-shape sweeps (``test_sweep_conv.py``, ``test_sweep_pool.py``).

The generators draw from a seeded RNG, so a failing configuration is reproduced by its index.
Their ranges favour what broke before: spatial sizes of 1 and 2, kernels of 1 in some dims,
padding larger than the input, stride and dilation larger than the kernel, one input channel
per group (depthwise), pooling windows that start in the padding or run past a short input.
"""
import contextlib
import sys

import numpy as np

from cyconv import _shapes, _validate

# Configurations per sweep test under ``make test``; ``pytest --long`` runs LONG_COUNT.
DEFAULT_COUNT = 60
DEFAULT_POOL_COUNT = 300  # pooling calls are cheap
LONG_COUNT = 2000
POISON_INDEX = -7  # never a valid index: an index output element left unwritten shows it


def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def _sizes(rng, ndim):
    """Mostly 1-5 per dim (half of them 1 or 2); sometimes a row long enough for whole row
    tiles (8, 16, 48 ... are the row kernels' tile widths), or rows a multiple of 8 high (the
    8-pixel-row kernel)."""
    sizes = [_pick(rng, (1, 1, 1, 2, 2, 3, 4, 5)) for _ in range(ndim)]
    if rng.random() < 0.3:
        sizes[-1] = _pick(rng, (8, 9, 10, 16, 17, 30, 49, 50))
        if ndim >= 2 and rng.random() < 0.5:
            sizes[-2] = _pick(rng, (8, 9, 10, 16))
    return tuple(sizes)


def _singleton_dim(rng, sizes, kernel):
    """One dim of size 1 with a kernel of 1 (lower-dimensional data in a higher-dimensional
    op), which the padding may still widen."""
    d = int(rng.integers(len(sizes)))
    return (sizes[:d] + (1,) + sizes[d + 1:]), (kernel[:d] + (1,) + kernel[d + 1:])


def _conv_padding(rng, ndim, strings=True):
    forms = ["int", "tuple", "pairs"] + (["valid", "same", "full"] if strings else [])
    if strings and ndim == 1:
        forms.append("causal")
    form = _pick(rng, forms)
    if form == "int":
        return int(rng.integers(0, 4))
    if form == "tuple":
        return tuple(int(v) for v in rng.integers(0, 4, ndim))
    if form == "pairs":
        return tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 4, (ndim, 2)))
    return form


def _channels(rng):
    """(groups, C_in/groups, C_out/groups): mostly tiny; depthwise; sometimes enough
    channels for partial and whole micro-kernel panels."""
    groups = _pick(rng, (1, 1, 2, 3))
    if rng.random() < 0.35:
        return groups, 1, _pick(rng, (1, 1, 2))
    if rng.random() < 0.15:
        return groups, _pick(rng, (8, 17)), _pick(rng, (7, 16, 33))
    return groups, _pick(rng, (1, 2, 3)), _pick(rng, (1, 2, 3, 5))


# Cases that once gave wrong answers, first in every conv sweep: conv3d on the direct path
# dropped the depth padding of a depth-1 input with one input channel per group.
CONV_REGRESSIONS = [
    dict(ndim=3, x=(1, 1, 1, 1, 1), weight=(1, 1, 1, 1, 1), bias=False, flip=False,
         kw=dict(stride=1, padding=1, dilation=1, groups=1)),
    dict(ndim=3, x=(1, 1, 1, 1, 1), weight=(1, 1, 1, 1, 1), bias=True, flip=False,
         kw=dict(stride=1, padding=(1, 0, 0), dilation=1, groups=1)),
    dict(ndim=3, x=(2, 1, 1, 5, 5), weight=(4, 1, 1, 3, 3), bias=True, flip=False,
         kw=dict(stride=1, padding=1, dilation=1, groups=1)),
    dict(ndim=3, x=(1, 3, 1, 4, 4), weight=(3, 1, 1, 3, 3), bias=False, flip=True,
         kw=dict(stride=(2, 1, 1), padding=((0, 2), (1, 1), (1, 1)), dilation=1, groups=3)),
]


# Shapes that only some kernels take, which random small shapes rarely reach: 8-wide output
# rows a multiple of 8 high (the row-pair kernel), kernels a multiple (2x+) of the stride
# (grad_input by phases).
CONV_PATH_CASES = [
    dict(ndim=2, x=(2, 3, 8, 8), weight=(5, 3, 3, 3), bias=True, flip=False,
         kw=dict(stride=1, padding=1, dilation=1, groups=1)),
    dict(ndim=2, x=(1, 4, 18, 10), weight=(14, 2, 3, 3), bias=False, flip=True,
         kw=dict(stride=1, padding=((0, 0), (0, 0)), dilation=1, groups=2)),
    dict(ndim=2, x=(2, 3, 6, 7), weight=(4, 3, 4, 4), bias=True, flip=False,
         kw=dict(stride=2, padding=1, dilation=1, groups=1)),
    dict(ndim=1, x=(1, 4, 9), weight=(2, 2, 6), bias=False, flip=True,
         kw=dict(stride=3, padding=2, dilation=1, groups=2)),
    dict(ndim=3, x=(1, 2, 4, 5, 4), weight=(3, 2, 2, 4, 2), bias=True, flip=False,
         kw=dict(stride=(1, 2, 1), padding=1, dilation=1, groups=1)),
]


def conv_configs(count, seed=12):
    """``count`` valid convolutions (the regressions and path cases first): dicts with ndim,
    x/weight shapes, keyword arguments, flip and bias."""
    rng = np.random.default_rng(seed)
    configs = list((CONV_REGRESSIONS + CONV_PATH_CASES)[:count])
    while len(configs) < count:
        ndim = int(rng.integers(1, 4))
        sizes = _sizes(rng, ndim)
        kernel = tuple(_pick(rng, (1, 1, 2, 3, 3, 4)) for _ in range(ndim))
        if ndim > 1 and rng.random() < 0.3:
            sizes, kernel = _singleton_dim(rng, sizes, kernel)
        stride = tuple(_pick(rng, (1, 1, 1, 2, 3)) for _ in range(ndim))
        dilation = tuple(_pick(rng, (1, 1, 2, 3)) for _ in range(ndim))
        padding = _conv_padding(rng, ndim)
        groups, cig, cog = _channels(rng)
        pads = _shapes.resolve_padding(padding, kernel, dilation, stride, sizes)
        if min(_shapes.conv_output_shape(sizes, kernel, stride, pads, dilation)) < 1:
            continue
        configs.append(dict(
            ndim=ndim, x=(_pick(rng, (1, 1, 2, 3)), cig * groups) + sizes,
            weight=(cog * groups, cig) + kernel, bias=bool(rng.random() < 0.6),
            flip=bool(rng.random() < 0.3),
            kw=dict(stride=stride, padding=padding, dilation=dilation, groups=groups)))
    return configs


def conv_transpose_configs(count, seed=13):
    """``count`` valid transposed convolutions (weight (C_in, C_out/groups, *kernel))."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        ndim = int(rng.integers(1, 4))
        sizes = _sizes(rng, ndim)
        kernel = tuple(_pick(rng, (1, 1, 2, 3, 4)) for _ in range(ndim))
        if ndim > 1 and rng.random() < 0.3:
            sizes, kernel = _singleton_dim(rng, sizes, kernel)
        stride = tuple(_pick(rng, (1, 1, 2, 3)) for _ in range(ndim))
        dilation = tuple(_pick(rng, (1, 1, 2)) for _ in range(ndim))
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        padding = _conv_padding(rng, ndim, strings=False)
        groups, cig, cog = _channels(rng)
        x = (_pick(rng, (1, 1, 2)), cig * groups) + sizes
        weight = (cig * groups, cog) + kernel
        kw = dict(stride=stride, padding=padding, output_padding=output_padding,
                  dilation=dilation, groups=groups)
        try:
            _validate.conv_transpose_params(np.empty(x), np.empty(weight), None, ndim=ndim, **kw)
        except ValueError:
            continue
        configs.append(dict(ndim=ndim, x=x, weight=weight, bias=bool(rng.random() < 0.6),
                            flip=bool(rng.random() < 0.3), kw=kw))
    return configs


def pool_configs(count, seed=14):
    """``count`` pooling calls that PyTorch accepts: padding up to half the kernel, windows
    that start in the padding, dilated windows that hold only padding, ceil_mode windows that
    start inside a short input and run past its end."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        ndim = int(rng.integers(1, 4))
        kind = _pick(rng, ("max", "min", "avg"))
        sizes = _sizes(rng, ndim)
        kernel = tuple(_pick(rng, (1, 2, 2, 3, 4)) for _ in range(ndim))
        dilation = ((1,) * ndim if kind == "avg"
                    else tuple(_pick(rng, (1, 1, 2, 3, 4)) for _ in range(ndim)))
        stride = None if rng.random() < 0.3 else tuple(_pick(rng, (1, 1, 2, 3))
                                                      for _ in range(ndim))
        half = [k // 2 for k in kernel]
        form = _pick(rng, ("int", "tuple", "pairs", "half"))
        if form == "int":
            padding = int(rng.integers(0, min(half) + 1))
        elif form == "tuple":
            padding = tuple(int(rng.integers(0, h + 1)) for h in half)
        elif form == "pairs":
            padding = tuple((int(rng.integers(0, h + 1)), int(rng.integers(0, h + 1)))
                            for h in half)
        else:
            padding = tuple(half)
        kw = dict(stride=stride, padding=padding, ceil_mode=bool(rng.random() < 0.5))
        if kind == "avg":
            kw["count_include_pad"] = bool(rng.random() < 0.5)
        else:
            kw["dilation"] = dilation
        try:
            _validate.pool_params(np.empty((1, 1) + sizes), kernel, stride, padding,
                                  dilation, kw["ceil_mode"], ndim=ndim)
        except ValueError:
            continue
        configs.append(dict(ndim=ndim, kind=kind, kernel=kernel, kw=kw,
                            x=(_pick(rng, (1, 2)), _pick(rng, (1, 2, 3, 17))) + sizes,
                            ties=bool(rng.random() < 0.3)))
    return configs


def adaptive_configs(count, seed=15):
    """``count`` adaptive pooling calls, outputs smaller than, equal to and larger than the
    input (overlapping bins), ``None`` entries."""
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(count):
        ndim = int(rng.integers(1, 4))
        sizes = _sizes(rng, ndim)
        output = tuple(None if rng.random() < 0.15 else int(rng.integers(1, 2 * s + 3))
                       for s in sizes)
        configs.append(dict(ndim=ndim, kind=_pick(rng, ("max", "avg")), output=output,
                            x=(_pick(rng, (1, 2)), _pick(rng, (1, 3))) + sizes,
                            ties=bool(rng.random() < 0.3)))
    return configs


class PoisonedNumpy:
    """NumPy as seen by cyconv's modules, except that ``empty``/``empty_like`` come back
    filled with NaN (floats) or POISON_INDEX (int64): an output element, or a scratch value
    that a kernel reads, that no path wrote can never pass for a right answer by luck."""

    def __getattr__(self, name):
        real = getattr(np, name)
        if name not in ("empty", "empty_like"):
            return real

        def allocate(*args, **kwargs):
            a = real(*args, **kwargs)
            if a.dtype.kind == "f":
                a.fill(np.nan)
            elif a.dtype == np.int64:
                a.fill(POISON_INDEX)
            return a
        return allocate


@contextlib.contextmanager
def poisoned_allocations(monkeypatch):
    """Every ``np.empty`` in cyconv's Python modules poisoned for the duration (cached
    scratch buffers are dropped first, so they are re-allocated poisoned)."""
    from cyconv import _threads
    _threads.release_scratch()
    fake = PoisonedNumpy()
    with monkeypatch.context() as patch:
        for key, module in sorted(sys.modules.items()):
            if (key.startswith("cyconv.") and not key.startswith("cyconv.reference")
                    and getattr(module, "np", None) is np):
                patch.setattr(module, "np", fake)
        yield
    _threads.release_scratch()


def data(shape, rng, dtype, ties=False):
    a = rng.standard_normal(shape)
    return (np.round(a) if ties else a).astype(dtype)


def close(actual, expected64, bound64, dtype, what):
    """Within the accuracy contract (relative to the sum of |terms|), with NaN never close."""
    rtol = {np.float32: 2e-6, np.float64: 1e-12}[dtype]
    assert actual.dtype == dtype and actual.shape == expected64.shape, what
    with np.errstate(invalid="ignore"):  # inf - inf
        err = np.abs(actual.astype(np.float64) - expected64)
    ok = err <= rtol * bound64 + np.finfo(dtype).tiny
    # equal infinities (max/min pooling of windows with no input element) are close
    ok |= np.isinf(expected64) & (actual == expected64)
    if not ok.all():
        where = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise AssertionError(f"{what}: {np.count_nonzero(~ok)} of {ok.size} elements wrong, "
                             f"first at {where}: got {actual[where]!r}, want "
                             f"{expected64[where]!r}")



# algorithm='fft' (README, accuracy contract): the error is normwise, at most
# FFT_FACTOR * u * log2(transform size) * (channels contracted) * |a|_2 * |b|_2 for the
# largest 2-norms of the two operands' planes, u the unit roundoff
FFT_FACTOR = 8


def plane_norm(a) -> float:
    """The largest 2-norm of a (N, C, *spatial) array's planes."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.sqrt((a.reshape(a.shape[0], a.shape[1], -1) ** 2).sum(axis=-1)).max())


def fft_bound(dtype, transform_size, contracted, norm_a, norm_b) -> float:
    u = np.finfo(dtype).eps / 2
    return FFT_FACTOR * u * max(1.0, np.log2(transform_size)) * contracted * norm_a * norm_b


def close_normwise(actual, expected64, dtype, what, bound):
    """Within ``bound`` everywhere (the FFT path's normwise bound), with NaN never close."""
    assert actual.dtype == dtype and actual.shape == expected64.shape, what
    err = np.abs(actual.astype(np.float64) - expected64)
    ok = err <= bound + np.finfo(dtype).tiny
    assert ok.all(), (f"{what}: max error {np.nanmax(err, initial=0):.3g} above the FFT bound "
                      f"{bound:.3g} (NaN: {np.isnan(err).any()})")
