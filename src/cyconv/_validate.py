"""Argument validation shared by the public API and the reference.

Every check happens here, in Python, before any kernel (and any ``nogil`` code) runs.
Messages name the argument and the shapes involved.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _shapes
from ._kernels import _call_keys

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class ConvGrads(NamedTuple):
    """Gradients of a convolution; entries that were not requested with ``need`` are None."""

    grad_input: np.ndarray | None
    grad_weight: np.ndarray | None
    grad_bias: np.ndarray | None


@dataclass(frozen=True)
class ConvParams:
    """A validated convolution: every argument normalized to per-dim tuples."""

    ndim: int
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    input_shape: tuple
    kernel_size: tuple
    stride: tuple
    padding: tuple  # per-side pairs
    dilation: tuple
    output_shape: tuple
    dtype: np.dtype

    @property
    def output_array_shape(self) -> tuple:
        return (self.batch, self.out_channels) + self.output_shape

    @property
    def weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    @property
    def flops(self) -> int:
        return _shapes.conv_flops(self.batch, self.out_channels, self.in_channels, self.groups,
                                  self.output_shape, self.kernel_size)


@dataclass(frozen=True)
class PoolParams:
    """A validated pooling window: every argument normalized to per-dim tuples."""

    ndim: int
    batch: int
    channels: int
    input_shape: tuple
    kernel_size: tuple
    stride: tuple
    padding: tuple  # per-side pairs
    dilation: tuple
    ceil_mode: bool
    output_shape: tuple
    dtype: np.dtype

    @property
    def output_array_shape(self) -> tuple:
        return (self.batch, self.channels) + self.output_shape


def array_like(a, name: str):
    """``a`` as an ndarray (None stays None): lists, tuples, memoryviews, objects with
    ``__array__`` - CPU torch tensors among them, read without a copy. No dtype is changed
    here (the dtype checks come after). A torch tensor that needs grad or lives on another
    device, and what NumPy cannot turn into a numeric array, is a TypeError naming ``name``."""
    if a is None or isinstance(a, np.ndarray):
        return a
    if type(a).__module__.split(".")[0] == "torch":
        if getattr(a, "requires_grad", False):
            raise TypeError(f"{name} is a torch tensor that requires grad: pass "
                            f"{name}.detach() (cyconv computes its own gradients)")
        device = getattr(a, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            raise TypeError(f"{name} is a torch tensor on {device}: pass {name}.cpu()")
    try:
        out = np.asarray(a)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be an array-like of numbers, got {type(a).__name__} "
                        f"({err})") from None
    if out.dtype == object:
        raise TypeError(f"{name} must be an array-like of numbers, got {type(a).__name__} "
                        f"that NumPy reads as an object array (ragged or not numeric)")
    return out


class Float16Input(TypeError):
    """A float16 array where the checks want float32 or float64.

    An op that computes float16 in float32 catches it and reruns through ``cyconv._half``;
    for every other op it is the plain dtype TypeError it subclasses.
    """


def as_float_array(a, name: str, ndim: int | None = None, what: str = "") -> np.ndarray:
    """Return ``a`` as an ndarray of float32/float64 without any dtype cast (float16 is a
    :class:`Float16Input`)."""
    if not isinstance(a, np.ndarray):
        if a is None:
            raise TypeError(f"{name} must be an array, got None")
        a = np.asarray(a)
    if a.dtype not in FLOAT_DTYPES:
        error = Float16Input if a.dtype == np.float16 else TypeError
        raise error(f"{name} must have dtype float32 or float64, got {a.dtype} "
                    f"(shape {a.shape}); cast it explicitly, cyconv never casts silently")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {what}, got shape {a.shape}")
    return a


# call_key(arrays, args): a hashable key of a call whose validation depends on these alone -
# plain ndarrays (by shape and dtype; None allowed) and plain argument values (exact ints,
# strings, bools, None, tuples of them) - or None when any is not (a list, a NumPy scalar, an
# ndarray subclass ...: those take the full checks every call). A call whose key was
# validated once needs no checks but its arrays' layout (:func:`for_kernel`). Compiled: a
# repeated small call spent a good part of its time building its key (benchmarks/README.md,
# "Per-call cost").
call_key = _call_keys.call_key


class ValidatedCalls:
    """A bounded map from call keys to what their validation and planning produced;
    ``keep()`` false (e.g. while paths are forced) keeps nothing new."""

    SIZE = 256

    def __init__(self, keep=lambda: True):
        self._entries = {}
        self._keep = keep
        # the dict's own get: None (no key) is never stored, so it finds nothing
        self.get = self._entries.get

    def put(self, key, entry) -> None:
        if key is not None and self._keep():
            if len(self._entries) >= self.SIZE:
                self._entries.clear()
            self._entries[key] = entry

    def clear(self) -> None:
        self._entries.clear()


def for_kernel(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous, aligned array, copied only when it is not one already.

    The kernels load typed elements (a misaligned float is undefined behaviour in C), so a
    view at an odd byte offset is copied just as a strided view is; NumPy users expect such
    arrays to work, and the copy is what NumPy itself would make for a C call.
    """
    if a.flags.c_contiguous and a.flags.aligned:
        return a  # the common case, without np.require's overhead on a microsecond op
    return np.require(a, requirements=("C", "A"))


def is_channels_last(a: np.ndarray) -> bool:
    """``a`` (N, C, *spatial) is not C-contiguous but its channels-last view
    (N, *spatial, C) is, and aligned: an NCHW view of NHWC memory (PyTorch's
    ``channels_last``), which the channels-last kernels read and write where it lies."""
    return (a.ndim >= 3 and not a.flags.c_contiguous and a.flags.aligned
            and np.moveaxis(a, 1, -1).flags.c_contiguous)


def check_out(out, shape: tuple, dtype, inputs, name: str = "out",
              channels_last: bool = False) -> np.ndarray:
    """``out`` as the result array of a call: an ndarray of exactly this shape and dtype,
    C-contiguous (or, with ``channels_last``, in channels-last memory), writeable and
    aligned (the kernels write it as they would a fresh array), sharing no memory with
    ``inputs`` (None entries skipped)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"{name} must have shape {shape} and dtype {dtype}, "
                         f"got shape {out.shape} and dtype {out.dtype}")
    layout_ok = out.flags.c_contiguous or (channels_last and is_channels_last(out))
    if not layout_ok or not out.flags.writeable or not out.flags.aligned:
        raise ValueError(f"{name} must be a writeable, aligned, C-contiguous array"
                         + (" (or channels-last, as x is)" if channels_last else ""))
    if any(a is not None and np.may_share_memory(out, a) for a in inputs):
        raise ValueError(f"{name} must not overlap the inputs")
    return out


def check_out_pair(out, shape: tuple, dtype, inputs) -> tuple:
    """``out`` of a call returning ``(values, indices)``: a tuple of two arrays checked as
    :func:`check_out` (indices int64), not overlapping each other either."""
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"out must be a (values, indices) tuple with return_indices=True, "
                        f"got {type(out).__name__}")
    values = check_out(out[0], shape, dtype, inputs, "out[0] (values)")
    indices = check_out(out[1], shape, np.dtype(np.int64), inputs, "out[1] (indices)")
    if np.may_share_memory(values, indices):
        raise ValueError("out[0] (values) and out[1] (indices) must not overlap")
    return values, indices


GRAD_NAMES = ("input", "weight", "bias")


def check_grad_outs(out, need, shapes: tuple, dtype, inputs) -> list:
    """The arrays a backward op's ``out=`` gives for (grad_input, grad_weight, grad_bias): a
    3-tuple (or ConvGrads) with an array, checked as :func:`check_out`, for each gradient to
    write in place and None for the others (None entries get fresh arrays); an array for a
    gradient not in ``need`` is an error. ``out=None`` gives three Nones."""
    if out is None:
        return [None, None, None]
    if not isinstance(out, tuple) or len(out) != 3:
        raise TypeError(f"out must be a (grad_input, grad_weight, grad_bias) tuple of arrays or "
                        f"None, got {type(out).__name__}")
    given = []
    for name, o, shape in zip(GRAD_NAMES, out, shapes):
        label = f"out[{len(given)}] (grad_{name})"
        if o is not None and name not in need:
            raise ValueError(f"{label} is given but {name!r} is not in need {sorted(need)}")
        given.append(None if o is None else check_out(o, shape, dtype, inputs, label))
    arrays = [o for o in given if o is not None]
    if any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:]):
        raise ValueError("the arrays of out must not overlap each other")
    return given


def unbatched_grad_out(out):
    """``out`` of an unbatched backward call: grad_input batched, the others as they are."""
    if out is None:
        return None
    if not isinstance(out, tuple) or len(out) != 3:
        raise TypeError(f"out must be a (grad_input, grad_weight, grad_bias) tuple of arrays or "
                        f"None, got {type(out).__name__}")
    return (unbatched_out(out[0]),) + tuple(out[1:])


def unbatched_grads(grads, out):
    """The ConvGrads of a batch-of-one backward call as the unbatched call returns them:
    grad_input without its batch axis - the caller's ``out[0]`` itself where it gave one."""
    if out is not None and out[0] is not None:
        return grads._replace(grad_input=out[0])
    return grads._replace(grad_input=None if grads.grad_input is None else grads.grad_input[0])


def unbatched_out(out):
    """``out`` of an unbatched call as the batch-of-one array (or tuple of arrays) the
    batched call writes; None stays None."""
    if out is None:
        return None
    if isinstance(out, tuple):
        return tuple(unbatched_out(o) for o in out)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    return out[None]


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _layout(ndim: int) -> str:
    spatial = ", ".join("DHW"[3 - ndim:])
    return f"(N, C, {spatial}) or {ndim + 1}-D (C, {spatial}) unbatched"


def batched(a, ndim: int):
    """(``a`` with a batch axis of 1, True) when ``a`` is an unbatched ``(C, *spatial)`` array
    of an ``ndim``-D op - the number of dims decides, as in PyTorch - else (``a``, False)."""
    if isinstance(a, np.ndarray) and a.ndim == ndim + 1:
        return a[None], True
    return a, False


def _conv_arrays(x, weight, groups, ndim: int, weight_layout: str):
    """x and weight of a (transposed) convolution as float arrays of one dtype, and groups as
    a positive int."""
    x = as_float_array(x, "x", ndim + 2, _layout(ndim))
    weight = as_float_array(weight, "weight", ndim + 2, weight_layout)
    if weight.dtype != x.dtype:
        raise TypeError(f"x and weight must share a dtype, got x {x.dtype} and weight {weight.dtype}")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool):
        raise TypeError(f"groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    return x, weight


def _check_bias(bias, dtype, c_out: int, context: str) -> None:
    """bias: None, or a (C_out,) array of the inputs' dtype; ``context`` names the shapes."""
    if bias is None:
        return
    bias = as_float_array(bias, "bias", 1, "(C_out,)")
    if bias.dtype != dtype:
        raise TypeError(f"bias must share the dtype of x ({dtype}), got {bias.dtype}")
    if bias.shape[0] != c_out:
        raise ValueError(f"bias must have shape ({c_out},) {context}, got {bias.shape}")


def conv_params(x, weight, bias, *, stride, padding, dilation, groups, ndim: int) -> ConvParams:
    """Validate a convolution call and return its normalized parameters."""
    x, weight = _conv_arrays(x, weight, groups, ndim, "(C_out, C_in/groups, *kernel)")
    n, c_in = x.shape[:2]
    c_out, c_per_group = weight.shape[:2]
    kernel = tuple(int(k) for k in weight.shape[2:])
    if c_in < 1 or c_out < 1 or min(kernel) < 1 or min(x.shape[2:]) < 1:
        raise ValueError(f"x {x.shape} and weight {weight.shape} must have non-empty channel, "
                         f"kernel and spatial dims")
    if c_in % groups:
        raise ValueError(f"x has {c_in} channels (shape {x.shape}), not divisible by groups={groups}")
    if c_out % groups:
        raise ValueError(f"weight has {c_out} output channels (shape {weight.shape}), "
                         f"not divisible by groups={groups}")
    if c_per_group * groups != c_in:
        raise ValueError(f"weight shape {weight.shape} expects {c_per_group * groups} input channels "
                         f"with groups={groups}, but x has {c_in} (shape {x.shape})")
    _check_bias(bias, x.dtype, c_out, f"for weight {weight.shape}")
    stride_t = _shapes.normalize_tuple(stride, ndim, "stride")
    dilation_t = _shapes.normalize_tuple(dilation, ndim, "dilation")
    in_shape = tuple(int(s) for s in x.shape[2:])
    pads = _shapes.resolve_padding(padding, kernel, dilation_t, stride_t, in_shape)
    _shapes.check_padded_extent(in_shape, pads)
    out_shape = _shapes.conv_output_shape(in_shape, kernel, stride_t, pads, dilation_t)
    if min(out_shape) < 1:
        raise ValueError(f"output size {out_shape} is too small: input {x.shape}, weight {weight.shape}, "
                         f"stride={stride_t}, padding={pads}, dilation={dilation_t}")
    return ConvParams(ndim, int(n), int(c_in), int(c_out), int(groups), in_shape, kernel, stride_t,
                      pads, dilation_t, out_shape, x.dtype)


def pool_params(x, kernel_size, stride, padding, dilation, ceil_mode, *, ndim: int) -> PoolParams:
    """Validate a pooling call and return its normalized parameters.

    ``stride=None`` means ``stride=kernel_size``. As in PyTorch, padding on each side may be at
    most half the kernel size; a dilated window may still hold no input element (max pooling
    gives -inf there, min pooling +inf, with index -1 and no gradient).
    """
    x = as_float_array(x, "x", ndim + 2, _layout(ndim))
    kernel = _shapes.normalize_tuple(kernel_size, ndim, "kernel_size")
    stride_t = kernel if stride is None else _shapes.normalize_tuple(stride, ndim, "stride")
    dilation_t = _shapes.normalize_tuple(dilation, ndim, "dilation")
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
    n, c = x.shape[:2]
    in_shape = tuple(int(s) for s in x.shape[2:])
    if c < 1 or min(in_shape) < 1:
        raise ValueError(f"x must have non-empty channel and spatial dims, got shape {x.shape}")
    pads = _shapes.resolve_padding(padding, kernel, dilation_t, stride_t, in_shape)
    for (lo, hi), k in zip(pads, kernel):
        if lo > k // 2 or hi > k // 2:
            raise ValueError(f"padding {pads} must be at most half of kernel_size {kernel} on each side")
    _shapes.check_padded_extent(in_shape, pads)
    out_shape = _shapes.pool_output_shape(in_shape, kernel, stride_t, pads, dilation_t, ceil_mode)
    if min(out_shape) < 1:
        raise ValueError(f"output size {out_shape} is too small: input {x.shape}, kernel_size={kernel}, "
                         f"stride={stride_t}, padding={pads}, dilation={dilation_t}")
    return PoolParams(ndim, int(n), int(c), in_shape, kernel, stride_t, pads, dilation_t, ceil_mode,
                      out_shape, x.dtype)


@dataclass(frozen=True)
class AdaptivePoolParams:
    """A validated adaptive (or global) pooling call: spatial input and output shapes."""

    ndim: int
    batch: int
    channels: int
    input_shape: tuple
    output_shape: tuple
    dtype: np.dtype

    @property
    def output_array_shape(self) -> tuple:
        return (self.batch, self.channels) + self.output_shape


def adaptive_pool_params(x, output_size, *, ndim: int | None) -> AdaptivePoolParams:
    """Validate an adaptive pooling call (``ndim`` spatial dims; ``None``: 1 to 3, any).

    ``output_size=1`` with ``ndim=None`` is global pooling. N may be 0; C and the spatial dims
    must be non-empty.
    """
    if ndim is None:
        x = as_float_array(x, "x")
        if not 3 <= x.ndim <= 5:
            raise ValueError(f"x must be (N, C, *spatial) with 1 to 3 spatial dims, got shape {x.shape}")
        ndim = x.ndim - 2
    else:
        x = as_float_array(x, "x", ndim + 2, _layout(ndim))
    n, c = x.shape[:2]
    in_shape = tuple(int(s) for s in x.shape[2:])
    if c < 1 or min(in_shape) < 1:
        raise ValueError(f"x must have non-empty channel and spatial dims, got shape {x.shape}")
    out_shape = _shapes.adaptive_output_shape(in_shape, output_size)
    elements = c
    for size in out_shape:  # Python ints: no overflow while checking
        elements *= size
    if elements > _shapes.MAX_EXTENT:
        raise ValueError(f"output_size {output_size!r} is too large: output planes of shape "
                         f"{out_shape} for x {x.shape}")
    return AdaptivePoolParams(ndim, int(n), int(c), in_shape, out_shape, x.dtype)


def check_grad_output(grad_output, expected_shape: tuple, dtype, name: str = "grad_output") -> np.ndarray:
    g = as_float_array(grad_output, name)
    if g.shape != tuple(expected_shape):
        raise ValueError(f"{name} must have shape {tuple(expected_shape)} (the forward output), "
                         f"got {g.shape}")
    if g.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} like the forward inputs, got {g.dtype}")
    return g


NEED_NAMES = ("input", "weight", "bias")


def check_need(need) -> frozenset:
    if isinstance(need, str):
        need = (need,)
    try:
        items = frozenset(need)
    except TypeError:
        raise TypeError(f"need must be a tuple of names from {NEED_NAMES}, got {need!r}") from None
    unknown = items - set(NEED_NAMES)
    if unknown:
        raise ValueError(f"need has unknown entries {sorted(unknown)}; allowed: {NEED_NAMES}")
    return items


def check_indices(indices, expected_shape: tuple, input_shape: tuple, *,
                  empty_windows: bool = False) -> np.ndarray:
    """Validate max/min-pool indices: int64, output-shaped, each inside its input plane, or
    -1 where ``empty_windows`` (max/min pooling: a dilated window with no input element,
    which routes no gradient)."""
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64:
        raise TypeError(f"indices must be the int64 array returned with return_indices=True, "
                        f"got {type(indices).__name__} {getattr(indices, 'dtype', '')}")
    if indices.shape != tuple(expected_shape):
        raise ValueError(f"indices must have shape {tuple(expected_shape)}, got {indices.shape}")
    plane = math.prod(input_shape)
    lowest = -1 if empty_windows else 0
    if indices.size and (indices.min() < lowest or indices.max() >= plane):
        raise ValueError(f"indices must lie in [0, {plane})"
                         f"{' (or be -1)' if empty_windows else ''} for input spatial shape "
                         f"{input_shape}")
    return indices


@dataclass(frozen=True)
class ConvTransposeParams:
    """A validated transposed convolution, every argument normalized to per-dim tuples.

    A transposed convolution is the input gradient of the convolution ``conv`` (same weight
    array, whose (C_in, C_out/groups) axes are that convolution's (C_out, C_in/groups)); the
    ``output_padding`` extra elements at the end of each dim are read by no output of that
    convolution, so ``conv`` sees the output without them where they exceed the end padding.
    """

    ndim: int
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    input_shape: tuple
    kernel_size: tuple
    stride: tuple
    padding: tuple  # per-side pairs, removed from the full output
    output_padding: tuple
    dilation: tuple
    output_shape: tuple
    dtype: np.dtype

    @property
    def output_array_shape(self) -> tuple:
        return (self.batch, self.out_channels) + self.output_shape

    @property
    def trailing_zeros(self) -> tuple:
        """Per dim: output elements past the end of the full scatter (always zero + bias)."""
        return tuple(max(op - hi, 0) for op, (_, hi) in zip(self.output_padding, self.padding))

    @property
    def conv(self) -> ConvParams:
        """The convolution whose input gradient this transposed convolution computes: its
        input is this output minus ``trailing_zeros``, its end padding ``hi - output_padding``
        (clipped at 0), so its output is exactly this input."""
        trim = self.trailing_zeros
        conv_in = tuple(o - t for o, t in zip(self.output_shape, trim))
        pads = tuple((lo, max(hi - op, 0))
                     for (lo, hi), op in zip(self.padding, self.output_padding))
        return ConvParams(self.ndim, self.batch, self.out_channels, self.in_channels,
                          self.groups, conv_in, self.kernel_size, self.stride, pads,
                          self.dilation, self.input_shape, self.dtype)


def conv_transpose_params(x, weight, bias, *, stride, padding, output_padding, dilation, groups,
                          ndim: int) -> ConvTransposeParams:
    """Validate a transposed-convolution call and return its normalized parameters.

    ``padding`` is an int, a per-dim tuple or per-side pairs: the elements removed from each
    side of the full output. String modes are rejected (their meaning for the transposed op is
    ambiguous). ``output_padding`` must be smaller than the stride or the dilation, as PyTorch.
    """
    x, weight = _conv_arrays(x, weight, groups, ndim, "(C_in, C_out/groups, *kernel)")
    n, c_in = x.shape[:2]
    kernel = tuple(int(k) for k in weight.shape[2:])
    c_out = int(weight.shape[1]) * int(groups)
    if c_in < 1 or c_out < 1 or min(kernel) < 1 or min(x.shape[2:]) < 1:
        raise ValueError(f"x {x.shape} and weight {weight.shape} must have non-empty channel, "
                         f"kernel and spatial dims")
    if c_in % groups:
        raise ValueError(f"x has {c_in} channels (shape {x.shape}), not divisible by groups={groups}")
    if weight.shape[0] != c_in:
        raise ValueError(f"weight shape {weight.shape} must be (C_in, C_out/groups, *kernel) with "
                         f"C_in = {c_in} (x shape {x.shape})")
    _check_bias(bias, x.dtype, c_out, f"for weight {weight.shape} and groups={groups}")
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a tuple or per-side pairs for a transposed "
                         f"convolution, got {padding!r}")
    stride_t = _shapes.normalize_tuple(stride, ndim, "stride")
    dilation_t = _shapes.normalize_tuple(dilation, ndim, "dilation")
    pads = _shapes.resolve_padding(padding, kernel, dilation_t, stride_t)
    out_pad = _shapes.normalize_tuple(output_padding, ndim, "output_padding", minimum=0)
    for op, s, d in zip(out_pad, stride_t, dilation_t):
        if op >= max(s, d):
            raise ValueError(f"output_padding {out_pad} must be smaller than stride {stride_t} "
                             f"or dilation {dilation_t} in every dim")
    in_shape = tuple(int(s) for s in x.shape[2:])
    out_shape = _shapes.conv_transpose_output_shape(in_shape, kernel, stride_t, pads, dilation_t,
                                                    out_pad)
    if min(out_shape) < 1:
        raise ValueError(f"output size {out_shape} is too small: input {x.shape}, weight "
                         f"{weight.shape}, stride={stride_t}, padding={pads}, "
                         f"output_padding={out_pad}, dilation={dilation_t}")
    _shapes.check_padded_extent(out_shape, pads, what=f"stride={stride_t}, dilation={dilation_t} "
                                f"and output size")
    return ConvTransposeParams(ndim, int(n), int(c_in), c_out, int(groups), in_shape, kernel,
                               stride_t, pads, out_pad, dilation_t, out_shape, x.dtype)
