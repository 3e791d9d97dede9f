"""Validation and shape arithmetic of unfold / fold (im2col / col2im as functions).

Shared by the public ops (:mod:`cyconv.fold`) and the reference; the arithmetic itself is
:mod:`cyconv._shapes`' (a block count is a convolution's output size). Every check happens
here, before any kernel runs; messages name the argument and the shapes involved.

The spatial rank: the length of ``output_size`` (fold) or of ``kernel_size`` when either is a
sequence, else 2 - PyTorch's unfold and fold are 2-D, and an int ``kernel_size`` keeps their
meaning (``x`` (N, C, H, W), or (C, H, W) unbatched). 1-D and 3-D calls give a tuple.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _shapes, _validate


@dataclass(frozen=True)
class FoldParams:
    """A validated unfold or fold: the image (unfold's input, fold's output) and its blocks."""

    ndim: int
    batch: int
    channels: int
    image_shape: tuple   # spatial dims of the image
    kernel_size: tuple
    dilation: tuple
    padding: tuple       # per-side pairs
    stride: tuple
    blocks: tuple        # sliding blocks along each dim (their product is L)
    dtype: np.dtype

    @property
    def image_array_shape(self) -> tuple:
        """(N, C, *image): unfold's input, fold's output."""
        return (self.batch, self.channels) + self.image_shape

    @property
    def cols_array_shape(self) -> tuple:
        """(N, C * prod(kernel_size), L): unfold's output, fold's input."""
        return (self.batch, self.channels * math.prod(self.kernel_size), math.prod(self.blocks))

    @property
    def arguments(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")

    @property
    def geometry(self) -> tuple:
        """The kernels' 3-D view: image, kernel, stride, leading padding, dilation, blocks,
        each with singleton leading dims for 1-D and 2-D."""
        lead = 3 - self.ndim
        values = ((1,) * lead + self.image_shape, (1,) * lead + self.kernel_size,
                  (1,) * lead + self.stride, (0,) * lead + tuple(lo for lo, _ in self.padding),
                  (1,) * lead + self.dilation, (1,) * lead + self.blocks)
        return tuple(v for group in values for v in group)


def spatial_rank(kernel_size, output_size=None) -> int:
    """The number of spatial dims of a call (see the module docstring)."""
    given = [(value, name) for value, name in ((output_size, "output_size"),
                                               (kernel_size, "kernel_size"))
             if isinstance(value, (tuple, list))]
    if not given:
        return 2
    (first, name), rank = given[0], len(given[0][0])
    if len(given) == 2 and len(kernel_size) != rank:
        raise ValueError(f"kernel_size {kernel_size!r} must be an int or have one entry per "
                         f"dim of output_size {output_size!r}")
    if not 1 <= rank <= 3:
        raise ValueError(f"{name} must be an int or a tuple of 1 to 3 ints (one per spatial "
                         f"dim), got {first!r}")
    return rank


def _layout(ndim: int, given) -> str:
    return (f"{_validate._layout(ndim)} for a {ndim}-D unfold (kernel_size={given!r}: an int "
            f"means 2-D, as in PyTorch; a tuple of 1, 2 or 3 ints gives the spatial rank)")


def _blocks(ndim, image_shape, kernel_size, dilation, padding, stride, image: str):
    """(kernel, dilation, padding pairs, stride, blocks) of an image of ``image_shape``."""
    kernel = _shapes.normalize_tuple(kernel_size, ndim, "kernel_size")
    dilation_t = _shapes.normalize_tuple(dilation, ndim, "dilation")
    stride_t = _shapes.normalize_tuple(stride, ndim, "stride")
    pads = _shapes.resolve_padding(padding, kernel, dilation_t, stride_t, image_shape)
    _shapes.check_padded_extent(image_shape, pads, what=image)
    blocks = _shapes.conv_output_shape(image_shape, kernel, stride_t, pads, dilation_t)
    if min(blocks) < 1:
        raise ValueError(f"kernel_size={kernel} with dilation={dilation_t} does not fit in "
                         f"{image} {image_shape} with padding={pads}: the sliding blocks per "
                         f"dim would be {blocks}, each must be at least one")
    return kernel, dilation_t, pads, stride_t, blocks


def unfold_params(x, kernel_size, dilation, padding, stride) -> FoldParams:
    """Validate an unfold of a batched ``x`` (N, C, *spatial)."""
    ndim = spatial_rank(kernel_size)
    _shapes.normalize_tuple(kernel_size, ndim, "kernel_size")  # its errors before x's
    x = _validate.as_float_array(x, "x", ndim + 2, _layout(ndim, kernel_size))
    n, c = x.shape[:2]
    image = tuple(int(s) for s in x.shape[2:])
    if c < 1 or min(image) < 1:
        raise ValueError(f"x must have non-empty channel and spatial dims, got shape {x.shape}")
    geometry = _blocks(ndim, image, kernel_size, dilation, padding, stride,
                       f"the input x {x.shape} of spatial size")
    return FoldParams(ndim, int(n), int(c), image, *geometry, x.dtype)


def fold_params(x, output_size, kernel_size, dilation, padding, stride) -> FoldParams:
    """Validate a fold of a batched ``x`` (N, C * prod(kernel_size), L) into ``output_size``."""
    ndim = spatial_rank(kernel_size, output_size)
    image = _shapes.normalize_tuple(output_size, ndim, "output_size")
    kernel = _shapes.normalize_tuple(kernel_size, ndim, "kernel_size")
    x = _validate.as_float_array(x, "x", 3, "(N, C*prod(kernel_size), L) or 2-D "
                                 "(C*prod(kernel_size), L) unbatched")
    n, rows, length = (int(s) for s in x.shape)
    positions = math.prod(kernel)
    if rows < 1 or length < 1:
        raise ValueError(f"x must have non-empty C*prod(kernel_size) and L dims, got shape "
                         f"{x.shape}")
    if rows % positions:
        raise ValueError(f"x has {rows} rows (shape {x.shape}), not divisible by "
                         f"prod(kernel_size) = {positions} for kernel_size={kernel}")
    geometry = _blocks(ndim, image, kernel, dilation, padding, stride, "output_size")
    p = FoldParams(ndim, n, rows // positions, image, *geometry, x.dtype)
    if p.cols_array_shape[2] != length:
        raise ValueError(f"x has L = {length} blocks (shape {x.shape}), but output_size={image} "
                         f"with {p.arguments} has {' * '.join(map(str, p.blocks))} = "
                         f"{p.cols_array_shape[2]} sliding blocks")
    return p


def check_grad_output(grad_output, p: FoldParams, shape: tuple, op: str) -> np.ndarray:
    """grad_output of the ``op`` output ``shape`` of the call ``p``, in its dtype."""
    g = _validate.as_float_array(grad_output, "grad_output")
    if g.shape != shape:
        raise ValueError(f"grad_output must have shape {shape} (the {op} output of image shape "
                         f"{p.image_array_shape} with {p.arguments}), got {g.shape}")
    return _validate.check_grad_output(g, shape, p.dtype)
