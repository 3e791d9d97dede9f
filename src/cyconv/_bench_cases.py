"""The benchmark rows: convolution, transposed convolution and pooling cases with their
arrays and FLOP counts (shared by `python -m cyconv bench`, benchmarks/ and the tests)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _shapes


@dataclass(frozen=True)
class ConvCase:
    name: str
    batch: int
    in_channels: int
    spatial: tuple
    out_channels: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    groups: int

    @property
    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def arrays(self, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        ndim = len(self.spatial)
        x = rng.standard_normal((self.batch, self.in_channels) + self.spatial).astype(dtype)
        w = rng.standard_normal((self.out_channels, self.in_channels // self.groups)
                                + (self.kernel,) * ndim).astype(dtype)
        w *= 1 / np.sqrt(w[0].size)
        return x, w

    def output_shape(self) -> tuple:
        ndim = len(self.spatial)
        pads = _shapes.resolve_padding(self.padding, (self.kernel,) * ndim, (self.dilation,) * ndim)
        return _shapes.conv_output_shape(self.spatial, (self.kernel,) * ndim, (self.stride,) * ndim,
                                         pads, (self.dilation,) * ndim)

    @property
    def flops(self) -> int:
        return _shapes.conv_flops(self.batch, self.out_channels, self.in_channels, self.groups,
                                  self.output_shape(), (self.kernel,) * len(self.spatial))


CONV2D_CASES = [
    ConvCase("lenet1", 64, 1, (28, 28), 20, 5, 1, 0, 1, 1),
    ConvCase("lenet2", 64, 20, (12, 12), 50, 5, 1, 0, 1, 1),
    ConvCase("vgg3x3", 8, 64, (56, 56), 64, 3, 1, 1, 1, 1),
    ConvCase("res3x3", 8, 256, (14, 14), 256, 3, 1, 1, 1, 1),
    ConvCase("res1x1", 8, 256, (56, 56), 64, 1, 1, 0, 1, 1),
    ConvCase("stem7x7", 8, 3, (224, 224), 64, 7, 2, 3, 1, 1),
    ConvCase("depthwise", 8, 128, (56, 56), 128, 3, 1, 1, 1, 128),
    ConvCase("strided", 8, 128, (56, 56), 256, 3, 2, 1, 1, 1),
    ConvCase("dilated", 8, 64, (56, 56), 64, 3, 1, 2, 2, 1),
]

# the 1-D and 3-D benchmark rows (same fields; the op follows len(spatial))
CONV_ND_CASES = [
    ConvCase("conv1d", 32, 64, (1024,), 64, 5, 1, 2, 1, 1),
    ConvCase("conv3d", 2, 16, (32, 32, 32), 32, 3, 1, 1, 1, 1),
]


@dataclass(frozen=True)
class ConvTransposeCase:
    """A transposed convolution: weight (C_in, C_out/groups, *kernel)."""

    name: str
    batch: int
    in_channels: int
    spatial: tuple
    out_channels: int
    kernel: int
    stride: int
    padding: int
    output_padding: int = 0
    dilation: int = 1
    groups: int = 1

    @property
    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    dilation=self.dilation, groups=self.groups)

    def arrays(self, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        ndim = len(self.spatial)
        x = rng.standard_normal((self.batch, self.in_channels) + self.spatial).astype(dtype)
        w = rng.standard_normal((self.in_channels, self.out_channels // self.groups)
                                + (self.kernel,) * ndim).astype(dtype)
        w *= 1 / np.sqrt(w.shape[1] * self.kernel ** ndim)
        return x, w

    @property
    def flops(self) -> int:
        """Those of the convolution whose input gradient this is (its output = our input)."""
        return _shapes.conv_flops(self.batch, self.in_channels, self.out_channels, self.groups,
                                  self.spatial, (self.kernel,) * len(self.spatial))


CONV_TRANSPOSE_CASES = [
    ConvTransposeCase("convT4x4/2", 8, 64, (28, 28), 32, 4, 2, 1),
]


@dataclass(frozen=True)
class PoolCase:
    name: str
    op: str  # a key of POOL_OPS
    shape: tuple
    kwargs: dict
    torch_kwargs: dict | None = None  # when torch's twin takes other arguments

    def arrays(self, dtype=np.float32, seed=0):
        return np.random.default_rng(seed).standard_normal(self.shape).astype(dtype)


POOL2D_CASES = [
    PoolCase("max2x2/2", "max", (8, 64, 112, 112), dict(kernel_size=2, stride=2)),
    PoolCase("avg3x3/2", "avg", (8, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),
    PoolCase("globalavg", "global_avg", (8, 512, 7, 7), dict(keepdims=True),
             dict(output_size=1)),
]

# adaptive pooling (a ResNet head's 14x14 -> 7x7), and 1-D / 3-D pooling on the outputs of the
# conv1d / conv3d rows
POOL_ND_CASES = [
    PoolCase("adaptiveavg14to7", "adaptive_avg", (8, 512, 14, 14), dict(output_size=7)),
    PoolCase("max1d2/2", "max1d", (32, 64, 1024), dict(kernel_size=2, stride=2)),
    PoolCase("avg3d2x2x2/2", "avg3d", (2, 32, 32, 32, 32), dict(kernel_size=2, stride=2)),
]

# PoolCase.op -> the name of the cyconv/reference op (with its "_backward" twin), and of
# torch.nn.functional's where it differs
POOL_OPS = {"max": "max_pool2d", "avg": "avg_pool2d", "global_avg": "global_avg_pool",
            "adaptive_avg": "adaptive_avg_pool2d", "max1d": "max_pool1d", "avg3d": "avg_pool3d"}
TORCH_POOL_OPS = {"global_avg": "adaptive_avg_pool2d"}
