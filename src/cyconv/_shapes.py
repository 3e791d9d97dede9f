"""The one place for shape arithmetic.

Normalizes int/tuple arguments to per-dimension tuples, resolves every padding form to
per-side pairs, and computes output sizes and FLOP counts. The public API, the
reference, the tests and the benchmarks all call these functions, so a rule (for example
where 'same' puts the odd padding element) lives in exactly one place.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

PADDING_STRINGS = ("valid", "same", "full", "causal")
# Largest accepted stride, padding, dilation, kernel size and padded extent (elements). The
# kernels index in Py_ssize_t (64-bit); each flat index they form is a sum of a few terms
# bounded by the padded extent, so this cap keeps every one of them far from overflow while
# no array that fits in memory comes near it.
MAX_EXTENT = 2**60


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_tuple(value, ndim: int, name: str, *, minimum: int = 1) -> tuple:
    """Return ``value`` as a tuple of ``ndim`` Python ints, each ``>= minimum``.

    An int means "the same for every spatial dim". Raises ``TypeError`` for non-integers and
    ``ValueError`` for a wrong length or a value below ``minimum``.
    """
    if _is_int(value):
        values = (int(value),) * ndim
    elif isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(f"{name} must be an int or a sequence of {ndim} ints, got {value!r}")
        if not all(_is_int(v) for v in value):
            raise TypeError(f"{name} must contain only ints, got {value!r}")
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name} must be an int or a tuple of {ndim} ints, got {value!r}")
    if any(v < minimum for v in values):
        kind = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if any(v > MAX_EXTENT for v in values):
        raise ValueError(f"{name} must be at most 2**60, got {value!r}")
    return values


def resolve_padding(padding, kernel_size: Sequence[int], dilation: Sequence[int],
                    stride: Sequence[int] | None = None,
                    input_size: Sequence[int] | None = None,
                    name: str = "padding") -> tuple:
    """Resolve any padding form to per-side pairs ``((lo, hi), ...)``, one per spatial dim.

    Accepted forms: an int; a per-dim tuple of ints; per-side pairs ``((lo, hi), ...)``;
    ``'valid'`` (no padding); ``'full'`` (``dilation*(k-1)`` on both sides); ``'causal'``
    (1-D only: ``dilation*(k-1)`` on the left); ``'same'``: output size ``ceil(L/stride)``,
    total padding ``max((out-1)*stride + dilation*(k-1) + 1 - L, 0)`` with the odd element at
    the end (PyTorch's and TensorFlow's rule; scipy.signal.convolve puts it at the start).
    With stride 1 'same' does not depend on the input size.
    """
    ndim = len(kernel_size)
    eff = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return tuple((0, 0) for _ in range(ndim))
        if mode == "full":
            return tuple((e, e) for e in eff)
        if mode == "causal":
            if ndim != 1:
                raise ValueError(f"{name}='causal' is only defined for 1-D convolution, "
                                 f"got {ndim} spatial dims")
            return ((eff[0], 0),)
        if mode == "same":
            stride = tuple(stride) if stride is not None else (1,) * ndim
            pairs = []
            for i in range(ndim):
                if stride[i] == 1:
                    total = eff[i]
                else:
                    if input_size is None:
                        raise ValueError(f"{name}='same' with stride > 1 needs the input size")
                    out = -(-input_size[i] // stride[i])
                    total = max((out - 1) * stride[i] + eff[i] + 1 - input_size[i], 0)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"{name} must be an int, a tuple or one of {PADDING_STRINGS}, got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == ndim and all(
            isinstance(p, (tuple, list)) for p in padding):
        pairs = []
        for p in padding:
            if len(p) != 2 or not all(_is_int(v) for v in p):
                raise ValueError(f"{name} per-side pairs must be (lo, hi) ints, got {padding!r}")
            pairs.append((int(p[0]), int(p[1])))
        if any(v < 0 for pair in pairs for v in pair):
            raise ValueError(f"{name} must be non-negative, got {padding!r}")
        if any(v > MAX_EXTENT for pair in pairs for v in pair):
            raise ValueError(f"{name} must be at most 2**60, got {padding!r}")
        return tuple(pairs)
    per_dim = normalize_tuple(padding, ndim, name, minimum=0)
    return tuple((p, p) for p in per_dim)


def check_padded_extent(input_shape, padding_pairs, name: str = "padding",
                        what: str = "input size") -> None:
    """Raise ValueError when the zero-padded grid has more than ``MAX_EXTENT`` elements."""
    grid = math.prod(i + lo + hi for i, (lo, hi) in zip(input_shape, padding_pairs))
    if grid > MAX_EXTENT:
        raise ValueError(f"{name} {tuple(padding_pairs)} on {what} {tuple(input_shape)} "
                         f"gives a padded grid of {grid} elements, more than 2**60")


def conv_output_size(input_size: int, kernel: int, stride: int, pad: tuple, dilation: int) -> int:
    """Output length of a convolution along one dim (floor rule, as PyTorch)."""
    return (input_size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def conv_output_shape(input_shape, kernel_size, stride, padding_pairs, dilation) -> tuple:
    return tuple(conv_output_size(i, k, s, p, d)
                 for i, k, s, p, d in zip(input_shape, kernel_size, stride, padding_pairs, dilation))


def conv_transpose_output_shape(input_shape, kernel_size, stride, padding_pairs, dilation,
                                output_padding) -> tuple:
    """Output shape of a transposed convolution: the input shape of the matching conv."""
    return tuple((i - 1) * s - p[0] - p[1] + d * (k - 1) + op + 1
                 for i, k, s, p, d, op in zip(input_shape, kernel_size, stride, padding_pairs,
                                              dilation, output_padding))


def pool_output_size(input_size: int, kernel: int, stride: int, pad: tuple, dilation: int,
                     ceil_mode: bool) -> int:
    """Output length of a pooling window along one dim (PyTorch's rule; < 1: no output).

    With ``ceil_mode`` the division rounds up, but the last window must start inside the
    input or the left padding (otherwise it is dropped); so a window may run past the end of
    the padded input, even the only one when the input is shorter than the dilated kernel
    (that part of it holds nothing).
    """
    span = input_size + pad[0] + pad[1] - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= input_size + pad[0]:
        out -= 1
    return out


def pool_empty_window(input_size: int, kernel: int, stride: int, pad: tuple, dilation: int,
                      output_size: int):
    """Index of the first output whose window has no input element along one dim, else None.

    Only a dilated window that starts in the leading padding can fall entirely into padding
    and the gaps between its taps (with at most half a kernel of padding, an undilated window
    always reaches the input, and every window starting inside the input holds its first tap).
    Max pooling gives -inf there (min pooling +inf), as PyTorch, and no gradient.
    """
    if dilation == 1:
        return None
    for out in range(min(output_size, -(-pad[0] // stride))):
        start = out * stride - pad[0]
        first_inside = -(-(-start) // dilation)  # first tap t with start + t*dilation >= 0
        if first_inside >= kernel or start + first_inside * dilation >= input_size:
            return out
    return None


def pool_output_shape(input_shape, kernel_size, stride, padding_pairs, dilation, ceil_mode) -> tuple:
    return tuple(pool_output_size(i, k, s, p, d, ceil_mode)
                 for i, k, s, p, d in zip(input_shape, kernel_size, stride, padding_pairs, dilation))


def conv_flops(batch: int, out_channels: int, in_channels: int, groups: int,
               output_shape, kernel_size) -> int:
    """Forward FLOPs of a convolution: 2 * N * C_out * prod(out) * (C_in/groups) * prod(kernel)."""
    return (2 * batch * out_channels * math.prod(output_shape) * (in_channels // groups)
            * math.prod(kernel_size))


def adaptive_output_shape(input_shape, output_size, name: str = "output_size") -> tuple:
    """Output shape of adaptive pooling over ``input_shape`` (the spatial dims).

    ``output_size`` is an int (the same for every dim) or a sequence with one entry per dim,
    each a positive int or ``None`` (keep that dim's input size), as in PyTorch. Raises
    ``TypeError`` for other types and ``ValueError`` for a wrong length or a size below 1.
    """
    ndim = len(input_shape)
    if _is_int(output_size):
        sizes = (int(output_size),) * ndim
    elif isinstance(output_size, (tuple, list)):
        if len(output_size) != ndim:
            raise ValueError(f"{name} must be an int or a sequence of {ndim} ints/None for "
                             f"input spatial shape {tuple(input_shape)}, got {output_size!r}")
        if not all(v is None or _is_int(v) for v in output_size):
            raise TypeError(f"{name} must contain only ints or None, got {output_size!r}")
        sizes = tuple(int(i) if v is None else int(v) for v, i in zip(output_size, input_shape))
    else:
        raise TypeError(f"{name} must be an int or a tuple of {ndim} ints/None, got {output_size!r}")
    if any(v < 1 for v in sizes):
        raise ValueError(f"{name} must be positive, got {output_size!r} "
                         f"(input spatial shape {tuple(input_shape)})")
    if any(v > MAX_EXTENT for v in sizes):
        raise ValueError(f"{name} must be at most 2**60, got {output_size!r}")
    return sizes


def adaptive_bins(input_size: int, output_size: int) -> tuple:
    """``(starts, ends)`` of the adaptive-pooling bins along one dim (PyTorch's rule).

    Bin ``i`` covers ``[floor(i*L/O), ceil((i+1)*L/O))`` for input size ``L`` and output size
    ``O``: every bin is non-empty, the bins cover the input, and neighbouring bins overlap by
    at most one element when ``O`` does not divide ``L`` (by more when ``O > L``).
    """
    starts = tuple(i * input_size // output_size for i in range(output_size))
    ends = tuple(-(-(i + 1) * input_size // output_size) for i in range(output_size))
    return starts, ends
