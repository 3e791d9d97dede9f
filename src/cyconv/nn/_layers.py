"""Layers: convolutions, pooling, ReLU, Flatten, Linear, Dropout.

Convolution and pooling layers call the public ops of their backend (``ops``: the
``cyconv`` module by default, or ``cyconv.reference``) — the forward op in ``forward`` and
the matching stateless ``*_backward`` op in ``backward``. Argument checking is the ops' job;
the constructors check only what they need to build the parameters.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _padding_modes, _shapes
from ._module import Module, positive_int, resolve_dtype, resolve_ops, resolve_rng

INITS = ("he", "glorot")


def init_weight(shape: tuple, fan_in: int, fan_out: int, init: str, rng: np.random.Generator,
                dtype: np.dtype) -> np.ndarray:
    """A weight array drawn from a seeded generator.

    ``'he'`` (Kaiming normal, for layers followed by ReLU): N(0, 2 / fan_in), which keeps the
    activations' variance constant through ReLU layers. ``'glorot'`` (Xavier uniform):
    U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), balancing forward and backward variance
    for layers without ReLU.
    """
    if init == "he":
        weight = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
    elif init == "glorot":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weight = rng.uniform(-bound, bound, size=shape)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return weight.astype(dtype)


class _ConvLayer(Module):
    """Shared parts of the convolution layers: channel checks, parameters, forward/backward.

    Subclasses set ``ndim`` and ``op`` (the backend's forward op name; ``op + '_backward'``
    is its gradient), and say how the weight is laid out and what its fans are.
    """

    ndim = 0
    op = ""

    def _build(self, in_channels, out_channels, kernel_size, groups, bias, init, rng, dtype,
               ops, keywords: dict) -> None:
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.groups = positive_int(groups, "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.kernel_size = _shapes.normalize_tuple(kernel_size, self.ndim, "kernel_size")
        self.keywords = dict(keywords, groups=self.groups)
        self.ops = resolve_ops(ops)
        dtype = resolve_dtype(dtype)
        fan_in, fan_out = self._fans()
        self.weight = init_weight(self._weight_shape(), fan_in, fan_out, init,
                                  resolve_rng(rng), dtype)
        self.bias = np.zeros(self.out_channels, dtype) if bias else None
        self._params = {"weight": self.weight}
        if bias:
            self._params["bias"] = self.bias
        self._x = None

    def _weight_shape(self) -> tuple:
        raise NotImplementedError

    def _fans(self) -> tuple:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return getattr(self.ops, self.op)(x, self.weight, self.bias, **self.keywords)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._saved(self._x, "input")
        need = ("input", "weight", "bias") if self.bias is not None else ("input", "weight")
        grads = getattr(self.ops, self.op + "_backward")(grad, x, self.weight, need=need,
                                                         **self.keywords)
        self._grads["weight"] = grads.grad_weight
        if self.bias is not None:
            self._grads["bias"] = grads.grad_bias
        return grads.grad_input

    def __repr__(self) -> str:
        geometry = ", ".join(f"{key}={value!r}" for key, value in self.keywords.items())
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, {geometry})")


class _ConvNd(_ConvLayer):
    """Convolution over ``ndim`` spatial dims with learnable weight and bias."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, flip=False, init="he", rng=None,
                 dtype=np.float32, ops=None):
        super().__init__()
        self.op = f"conv{self.ndim}d"
        keywords = dict(stride=stride, padding=padding, dilation=dilation, flip=flip)
        if _padding_modes.check_mode(padding_mode) != "zeros":
            keywords["padding_mode"] = padding_mode
        self._build(in_channels, out_channels, kernel_size, groups, bias, init, rng, dtype, ops,
                    keywords)

    def _weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def _fans(self) -> tuple:
        taps = math.prod(self.kernel_size)
        return (self.in_channels // self.groups * taps, self.out_channels // self.groups * taps)


class Conv1d(_ConvNd):
    """1-D convolution layer: x (N, C_in, L) -> (N, C_out, L_out).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, dilation, groups
        As ``cyconv.conv1d`` (padding may be ``'same'``, ``'valid'``, ``'full'``,
        ``'causal'``).
    bias : bool
        Learn a bias per output channel (initialised to zero).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        How ``padding`` extends the input, as ``torch.nn.Conv1d``.
    flip : bool
        True convolution instead of cross-correlation.
    init : {'he', 'glorot'}
        Weight initialisation (see ``init_weight``).
    rng : numpy.random.Generator or int, optional
        Source of the initial weights; ``None`` means seed 0.
    dtype : float32 or float64
    ops : module, optional
        ``cyconv`` (default) or ``cyconv.reference``.

    Attributes
    ----------
    weight : ndarray, shape (C_out, C_in/groups, k)
    bias : ndarray, shape (C_out,), or None
    """

    ndim = 1


class Conv2d(_ConvNd):
    """2-D convolution layer: x (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    Same parameters as ``Conv1d`` with ``cyconv.conv2d``'s geometry arguments; ``weight``
    has shape (C_out, C_in/groups, kH, kW).
    """

    ndim = 2


class Conv3d(_ConvNd):
    """3-D convolution layer: x (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out).

    Same parameters as ``Conv1d`` with ``cyconv.conv3d``'s geometry arguments; ``weight``
    has shape (C_out, C_in/groups, kD, kH, kW).
    """

    ndim = 3


class ConvTranspose2d(_ConvLayer):
    """Transposed 2-D convolution layer (the gradient of ``conv2d`` with respect to its input).

    x (N, C_in, H, W) -> (N, C_out, H_out, W_out) with
    ``H_out = (H - 1)*stride - pad_top - pad_bottom + dilation*(kH - 1) + output_padding + 1``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, output_padding, groups, dilation
        As ``cyconv.conv_transpose2d``.
    bias, flip, init, rng, dtype, ops
        As ``Conv1d``. The fans for the initialisation are those of the convolution this
        layer transposes: each output pixel sums ``C_in/groups * kH*kW / (sH*sW)`` terms.

    Attributes
    ----------
    weight : ndarray, shape (C_in, C_out/groups, kH, kW)
    bias : ndarray, shape (C_out,), or None
    """

    ndim = 2
    op = "conv_transpose2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, *, flip=False, init="he",
                 rng=None, dtype=np.float32, ops=None):
        super().__init__()
        self._strides = _shapes.normalize_tuple(stride, 2, "stride")
        self._build(in_channels, out_channels, kernel_size, groups, bias, init, rng, dtype, ops,
                    dict(stride=stride, padding=padding, output_padding=output_padding,
                         dilation=dilation, flip=flip))

    def _weight_shape(self) -> tuple:
        return (self.in_channels, self.out_channels // self.groups) + self.kernel_size

    def _fans(self) -> tuple:
        taps = math.prod(self.kernel_size)
        fan_in = max(1, self.in_channels // self.groups * taps // math.prod(self._strides))
        return fan_in, self.out_channels // self.groups * taps


class _Pool(Module):
    """Shared parts of the pooling layers: the backend op ``op`` and ``op + '_backward'``
    called with the layer's geometry ``keywords``."""

    ndim = 0
    op = ""

    def __init__(self, kernel_size, ops, keywords: dict):
        super().__init__()
        self.kernel_size = kernel_size
        self.keywords = keywords
        self.ops = resolve_ops(ops)
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return getattr(self.ops, self.op)(x, self.kernel_size, **self.keywords)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._saved(self._x, "input")
        return getattr(self.ops, self.op + "_backward")(grad, x, self.kernel_size,
                                                        **self.keywords)

    def __repr__(self) -> str:
        geometry = ", ".join(f"{key}={value!r}" for key, value in self.keywords.items())
        return f"{type(self).__name__}(kernel_size={self.kernel_size!r}, {geometry})"


class _ExtremumPool(_Pool):
    """Max or min pooling; keeps the forward's indices so backward does not re-search."""

    kind = ""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, *, ceil_mode=False,
                 ops=None):
        super().__init__(kernel_size, ops, dict(stride=stride, padding=padding,
                                                dilation=dilation, ceil_mode=ceil_mode))
        self.op = f"{self.kind}_pool{self.ndim}d"
        self._indices = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self._indices = getattr(self.ops, self.op)(x, self.kernel_size, return_indices=True,
                                                      **self.keywords)
        self._x = x
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._saved(self._x, "input")
        return getattr(self.ops, self.op + "_backward")(grad, x, self.kernel_size,
                                                        indices=self._indices, **self.keywords)


class _AvgPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, *, ceil_mode=False,
                 count_include_pad=True, ops=None):
        super().__init__(kernel_size, ops, dict(stride=stride, padding=padding,
                                                ceil_mode=ceil_mode,
                                                count_include_pad=count_include_pad))
        self.op = f"avg_pool{self.ndim}d"


class MaxPool2d(_ExtremumPool):
    """2-D max pooling layer: (N, C, H, W) -> (N, C, H_out, W_out).

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As ``cyconv.max_pool2d`` (``stride=None`` means ``kernel_size``).
    ops : module, optional
        ``cyconv`` (default) or ``cyconv.reference``.

    Notes
    -----
    The gradient goes to the first maximum of each window (the forward's indices).
    """

    kind, ndim = "max", 2


class MaxPool1d(_ExtremumPool):
    """1-D max pooling layer: (N, C, L) -> (N, C, L_out); as ``MaxPool2d``."""

    kind, ndim = "max", 1


class MaxPool3d(_ExtremumPool):
    """3-D max pooling layer: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out); as
    ``MaxPool2d``."""

    kind, ndim = "max", 3


class MinPool2d(_ExtremumPool):
    """2-D min pooling layer, as ``MaxPool2d`` with ``cyconv.min_pool2d``."""

    kind, ndim = "min", 2


class MinPool1d(_ExtremumPool):
    """1-D min pooling layer, as ``MaxPool2d`` with ``cyconv.min_pool1d``."""

    kind, ndim = "min", 1


class MinPool3d(_ExtremumPool):
    """3-D min pooling layer, as ``MaxPool2d`` with ``cyconv.min_pool3d``."""

    kind, ndim = "min", 3


class AvgPool2d(_AvgPool):
    """2-D average pooling layer: (N, C, H, W) -> (N, C, H_out, W_out).

    Parameters
    ----------
    kernel_size, stride, padding, ceil_mode, count_include_pad
        As ``cyconv.avg_pool2d`` (``stride=None`` means ``kernel_size``).
    ops : module, optional
        ``cyconv`` (default) or ``cyconv.reference``.
    """

    ndim = 2


class AvgPool1d(_AvgPool):
    """1-D average pooling layer: (N, C, L) -> (N, C, L_out); as ``AvgPool2d``."""

    ndim = 1


class AvgPool3d(_AvgPool):
    """3-D average pooling layer: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out); as
    ``AvgPool2d``."""

    ndim = 3


class GlobalAvgPool(Module):
    """Mean over all spatial dims: (N, C, *spatial) -> (N, C), or (N, C, 1, ...) with
    ``keepdims=True``; uses ``ops.global_avg_pool``."""

    def __init__(self, *, keepdims=False, ops=None):
        super().__init__()
        self.keepdims = keepdims
        self.ops = resolve_ops(ops)
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return self.ops.global_avg_pool(x, keepdims=self.keepdims)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._saved(self._x, "input")
        return self.ops.global_avg_pool_backward(grad, x, keepdims=self.keepdims)

    def __repr__(self) -> str:
        return f"GlobalAvgPool(keepdims={self.keepdims})"


class ReLU(Module):
    """max(x, 0), elementwise; the gradient passes where x > 0 (zero at x == 0)."""

    def __init__(self):
        super().__init__()
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, x.dtype.type(0))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask = self._saved(self._mask, "mask")
        return np.where(mask, grad, grad.dtype.type(0))

    def __repr__(self) -> str:
        return "ReLU()"


class Flatten(Module):
    """(N, *dims) -> (N, prod(dims)); backward restores the shape."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._saved(self._shape, "shape"))

    def __repr__(self) -> str:
        return "Flatten()"


class Linear(Module):
    """Fully connected layer: x (N, in_features) -> x @ weight.T + bias, (N, out_features).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : {'he', 'glorot'}
    rng : numpy.random.Generator or int, optional
        ``None`` means seed 0.
    dtype : float32 or float64

    Attributes
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), or None

    Notes
    -----
    A matrix product, so it runs on NumPy's matmul whatever the conv/pool backend is.
    """

    def __init__(self, in_features, out_features, bias=True, *, init="he", rng=None,
                 dtype=np.float32):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        dtype = resolve_dtype(dtype)
        self.weight = init_weight((self.out_features, self.in_features), self.in_features,
                                  self.out_features, init, resolve_rng(rng), dtype)
        self.bias = np.zeros(self.out_features, dtype) if bias else None
        self._params = {"weight": self.weight}
        if bias:
            self._params["bias"] = self.bias
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {x.shape}")
        self._x = x
        y = x @ self.weight.T
        if self.bias is not None:
            y += self.bias
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x = self._saved(self._x, "input")
        if grad.shape != (x.shape[0], self.out_features):
            raise ValueError(f"grad must have shape {(x.shape[0], self.out_features)}, "
                             f"got {grad.shape}")
        self._grads["weight"] = grad.T @ x
        if self.bias is not None:
            self._grads["bias"] = grad.sum(axis=0)
        return grad @ self.weight

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"


class Dropout(Module):
    """Inverted dropout: in training mode zero each element with probability ``p`` and scale
    the rest by ``1 / (1 - p)``, so evaluation mode is the identity.

    Parameters
    ----------
    p : float in [0, 1)
    rng : numpy.random.Generator or int, optional
        Source of the masks; ``None`` means seed 0.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = resolve_rng(rng)
        self._scale_mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._scale_mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        self._scale_mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return x * self._scale_mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self._scale_mask is None:
            return grad
        return grad * self._scale_mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
