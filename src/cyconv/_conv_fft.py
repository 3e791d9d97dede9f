"""The FFT convolution (``algorithm='fft'``): forward, grad_input and grad_weight.

Each pass is one real FFT of each operand plane at lengths ``L >= padded input`` (5-smooth),
one per-frequency channel contraction (``_kernels._spectral``: a batch of small complex GEMMs,
frequency as the batch) and one inverse FFT, from which the strided, dilated result is read.
Padding never materialises: a leading pad ``lo`` is a circular shift of the (small) weight
by ``-lo``, and ``L >= input + lo + hi`` keeps the circular products free of wrap-around.
Dilation places the taps d apart; stride reads every s-th output of the full result
(decimation) and spreads grad_output s apart. The
FFTs are ``scipy.fft`` with ``workers=`` when SciPy is installed, else ``numpy.fft``; both keep
float32 in single precision.

Accuracy: the error is normwise (relative to the magnitudes in the whole FFT plane, about
``eps * log2(L)``), not relative to each output element's own terms as the direct and GEMM
paths are (README, accuracy contract).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import _threads, _validate, _weight_cache
from ._kernels import _spectral as _k

@functools.cache
def _scipy_fft():
    """scipy.fft (multi-threaded FFTs, the best transform lengths) or None without SciPy,
    imported at the first FFT: at ``import cyconv`` it was half the import time (0.23 of
    0.42 s) and loaded SciPy's own OpenBLAS, whose threads then spun on the cores."""
    try:
        import scipy.fft
    except ImportError:  # pragma: no cover - exercised without SciPy
        return None
    return scipy.fft


def fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (SciPy's choice for real transforms when installed)."""
    sfft = _scipy_fft()
    if sfft is not None:
        return sfft.next_fast_len(n, real=True)
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _workers(a, n_threads: int) -> int:
    """SciPy's FFT workers split a batch of planes between them, not one plane: a single
    plane gets one (the second thread only waited, and lost its core to any other spinning
    thread pool: benchmarks/README.md, "FFT convolution")."""
    return n_threads if a.shape[0] * a.shape[1] > 1 else 1


def _rfftn(a, lengths, n_threads):
    """The real FFT of ``a`` (N, C, *spatial) zero-padded to ``lengths``, the padded copy
    written into this thread's kept grid buffer (``_threads.scratch``): a fresh one per call
    was thousands of page faults."""
    axes = tuple(range(2, 2 + len(lengths)))
    if tuple(a.shape[2:]) == tuple(lengths):
        return _rfftn_grid(a, axes, n_threads)
    with _threads.scratch(math.prod(a.shape[:2] + tuple(lengths)), a.dtype,
                          slot="fft_grid") as flat:
        grid = flat.reshape(a.shape[:2] + tuple(lengths))
        _place(a, grid)
        return _rfftn_grid(grid, axes, n_threads)


def _place(a, grid) -> None:
    """``a`` at the origin of ``grid``, zeros elsewhere."""
    ndim = a.ndim - 2
    for axis in range(ndim):  # the zeros past a along each axis
        tail = [slice(None)] * grid.ndim
        for before in range(axis):
            tail[2 + before] = slice(0, a.shape[2 + before])
        tail[2 + axis] = slice(a.shape[2 + axis], None)
        grid[tuple(tail)] = 0
    grid[(slice(None), slice(None)) + tuple(slice(0, n) for n in a.shape[2:])] = a


def _rfftn_grid(a, axes, n_threads):
    sfft = _scipy_fft()
    if sfft is not None:
        return sfft.rfftn(a, axes=axes, workers=_workers(a, n_threads))
    return np.fft.rfftn(a, axes=axes)


def _irfftn(a, lengths, n_threads):
    axes = tuple(range(2, 2 + len(lengths)))
    sfft = _scipy_fft()
    if sfft is not None:
        return sfft.irfftn(a, s=lengths, axes=axes, workers=_workers(a, n_threads))
    return np.fft.irfftn(a, s=lengths, axes=axes)


def lengths(p: _validate.ConvParams) -> tuple:
    """Transform lengths: the padded input along each spatial dim, rounded up to 5-smooth."""
    return tuple(fast_length(s + lo + hi) for s, (lo, hi) in zip(p.input_shape, p.padding))


def _contract_inverse(a, a_strides, b, b_strides, shape, k, conj_a, conj_b, dtype,
                      n_contract, arrange, L, n_threads):
    """The inverse real FFT (lengths ``L``) of ``arrange(z)``, z the per-frequency
    contraction (G, I, J, F) of ``a`` and ``b`` (see _spectral) held in this thread's kept
    products buffer (``_threads.scratch``: fresh, it was thousands of page faults per call),
    its work items shared by ``n_contract`` Python threads (``_threads.run_parts``: the
    inverse FFT that follows gets the cores; an OpenMP team would spin on them)."""
    real = np.dtype(dtype)
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    a_flat, b_flat = a.view(real).reshape(-1), b.view(real).reshape(-1)
    size = math.prod(shape[:3]) * 2 * shape[3]
    with _threads.scratch(size, real, slot="fft_products") as flat:
        z = flat.reshape(shape[:3] + (2 * shape[3],))
        _threads.run_parts(lambda part: _k.contract(a_flat, a_strides, b_flat, b_strides, z,
                                                    k, conj_a, conj_b, part, n_contract, 1),
                           n_contract)
        return _irfftn(arrange(z.view(a.dtype)), L, n_threads)


def _contraction_threads(p: _validate.ConvParams, F: int, n_threads: int) -> int:
    """Threads of the contraction: one for a small one - an OpenMP team that then spins
    idle takes the cores from the FFT workers that run next (benchmarks/README.md, "FFT
    convolution")."""
    macs = p.batch * p.out_channels * (p.in_channels // p.groups) * F
    return _threads.for_work(n_threads, macs, _threads.SMALL_CONV_MACS)


def _row_strides(*counts):
    """Float offsets of rows of 2F floats at the given row counts."""
    return tuple(2 * c for c in counts)


def _taps(p: _validate.ConvParams, L: tuple) -> tuple:
    """Index of the (dilated) taps on the transform grid, tap k at (d*k - lo) mod L: the
    leading padding as a circular shift of the small operand, so the input and the output
    stay at the origin."""
    return (slice(None), slice(None)) + np.ix_(*[
        (d * np.arange(k) - lo) % size
        for d, k, (lo, _), size in zip(p.dilation, p.kernel_size, p.padding, L)])


def _outputs(p: _validate.ConvParams) -> tuple:
    """Index of the outputs on the transform grid: every stride-th position from 0."""
    return (slice(None), slice(None)) + tuple(slice(0, s * o, s)
                                              for s, o in zip(p.stride, p.output_shape))


def _weight_spectrum(w: np.ndarray, p: _validate.ConvParams, L: tuple, n_threads: int):
    """The real FFT of the weight at its taps on the (O, C_in/G, *L) transform grid (zeros
    elsewhere); kept for a later call with the same weight bits (``_weight_cache``: the
    forward and grad_input of one step share it, inference reuses it)."""
    w = np.ascontiguousarray(w)
    key = ("fft", w.shape, w.dtype.str, L, tuple(lo for lo, _ in p.padding), p.dilation)
    kept = _weight_cache.KEPT.get(key, w)
    if kept is None:
        kept = _transformed_weight(w, p, L, n_threads)
        _weight_cache.KEPT.put(key, w, kept)
    return kept


def _transformed_weight(w: np.ndarray, p: _validate.ConvParams, L: tuple, n_threads: int):
    """The weight spectrum, one axis at a time from the last: each axis's transforms run
    only over the lines the taps occupy (k of L along the axes not yet transformed), not
    the zero ones."""
    index = _taps(p, L)[2:]
    ndim = len(L)
    last = np.zeros(w.shape[:-1] + (L[-1],), dtype=w.dtype)
    last[..., index[-1].reshape(-1)] = w
    spectrum = _fft_axis(last, None, 2 + ndim - 1, n_threads, real=True)
    for axis in range(ndim - 2, -1, -1):
        shape = list(spectrum.shape)
        shape[2 + axis] = L[axis]
        full = np.zeros(shape, dtype=spectrum.dtype)
        where = [slice(None)] * len(shape)
        where[2 + axis] = index[axis].reshape(-1)
        full[tuple(where)] = spectrum
        spectrum = _fft_axis(full, L[axis], 2 + axis, n_threads, real=False)
    return spectrum


def _fft_axis(a, n, axis, n_threads, *, real):
    """The forward (real for ``real``) FFT of ``a`` along one axis."""
    sfft = _scipy_fft()
    if sfft is not None:
        fn = sfft.rfft if real else sfft.fft
        return fn(a, n=n, axis=axis, workers=_workers(a, n_threads))
    return (np.fft.rfft if real else np.fft.fft)(a, n=n, axis=axis)




def forward(p: _validate.ConvParams, x, w, b, has_bias: bool, y, n_threads: int) -> None:
    """y = conv(x, w) (+ b) for C-contiguous x (N, C_in, *in), w (C_out, C_in/G, *k)."""
    L = lengths(p)
    G, cig, cog = p.groups, p.in_channels // p.groups, p.out_channels // p.groups
    xf = _rfftn(x, L, n_threads)
    wf = _weight_spectrum(w, p, L, n_threads)
    F = math.prod(xf.shape[2:])
    n = _contraction_threads(p, F, n_threads)
    full = _contract_inverse(
        xf, _row_strides(cig * F, p.in_channels * F, F),
        wf, _row_strides(cog * cig * F, cig * F, F), (G, p.batch, cog, F), cig, False, True,
        p.dtype, n, lambda z: z.swapaxes(0, 1).reshape((p.batch, p.out_channels)
                                                        + xf.shape[2:]), L, n_threads)
    y[...] = full[_outputs(p)]
    if has_bias:
        y += b.reshape((1, -1) + (1,) * p.ndim)


def grad_output_spectrum(p: _validate.ConvParams, gy, n_threads: int):
    """The real FFT of grad_output spread on the transform grid: what both gradients read
    (computed once when a backward pass needs both)."""
    L = lengths(p)
    if all(st == 1 for st in p.stride):
        return _rfftn(gy, L, n_threads)
    # strided: grad_output at the outputs' positions of the grid (zeros between)
    with _threads.scratch(math.prod(gy.shape[:2] + L), gy.dtype, slot="fft_grid") as flat:
        spread = flat.reshape(gy.shape[:2] + L)
        spread[...] = 0
        spread[_outputs(p)] = gy
        return _rfftn_grid(spread, tuple(range(2, 2 + len(L))), n_threads)


def grad_input(p: _validate.ConvParams, gy, w, gx, n_threads: int, gf=None) -> None:
    """gx (N, C_in, *in) = the gradient of conv(x, w) with respect to x (``gf``: the
    :func:`grad_output_spectrum` if already computed)."""
    L = lengths(p)
    G, cig, cog = p.groups, p.in_channels // p.groups, p.out_channels // p.groups
    if gf is None:
        gf = grad_output_spectrum(p, gy, n_threads)
    wf = _weight_spectrum(w, p, L, n_threads)
    F = math.prod(gf.shape[2:])
    n = _contraction_threads(p, F, n_threads)
    full = _contract_inverse(
        gf, _row_strides(cog * F, p.out_channels * F, F),
        wf, _row_strides(cog * cig * F, F, cig * F), (G, p.batch, cig, F), cog, False, False,
        p.dtype, n, lambda z: z.swapaxes(0, 1).reshape((p.batch, p.in_channels)
                                                        + gf.shape[2:]), L, n_threads)
    gx[...] = full[(slice(None), slice(None)) + tuple(slice(0, s) for s in p.input_shape)]


def grad_weight(p: _validate.ConvParams, gy, x, gw, n_threads: int, gf=None) -> None:
    """gw (C_out, C_in/G, *k) = the gradient of conv(x, w) with respect to w (``gf`` as in
    :func:`grad_input`)."""
    L = lengths(p)
    G, cig, cog = p.groups, p.in_channels // p.groups, p.out_channels // p.groups
    if gf is None:
        gf = grad_output_spectrum(p, gy, n_threads)
    xf = _rfftn(x, L, n_threads)
    F = math.prod(gf.shape[2:])
    n = _contraction_threads(p, F, n_threads)
    full = _contract_inverse(
        gf, _row_strides(cog * F, F, p.out_channels * F),
        xf, _row_strides(cig * F, F, p.in_channels * F), (G, cog, cig, F), p.batch, True,
        False, p.dtype, n, lambda z: z.reshape((p.out_channels, cig) + gf.shape[2:]), L,
        n_threads)
    gw[...] = full[_taps(p, L)]
