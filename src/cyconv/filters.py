"""The classic image filters, applied per channel with 'same' output size by ``cyconv.conv2d``.

Kernels (functions returning float64 arrays): ``identity``, ``box_blur``, ``gaussian_blur``,
``sharpen``, ``laplacian``, ``sobel_x``, ``sobel_y``. ``apply(image, kernel, border)``
filters an (H, W) or (H, W, C) float image (``channel_axis`` names another channel axis, as
in scikit-image); ``edges`` is the Sobel gradient magnitude.

Border modes are NumPy's ``numpy.pad`` modes (the image is padded explicitly, then
convolved with 'valid' padding). SciPy's ``scipy.ndimage`` uses other names for two of them:

=============  ==================  ===================  =======================
``border``     ``numpy.pad`` mode  ``scipy.ndimage``    pads ``a b c d`` as
=============  ==================  ===================  =======================
``'zero'``     ``'constant'``      ``'constant'``, 0    ``0 0 | a b c d | 0 0``
``'reflect'``  ``'reflect'``       ``'mirror'``         ``c b | a b c d | c b``
``'symmetric'`` ``'symmetric'``    ``'reflect'``        ``b a | a b c d | d c``
``'edge'``     ``'edge'``          ``'nearest'``        ``a a | a b c d | d d``
``'wrap'``     ``'wrap'``          ``'grid-wrap'``      ``c d | a b c d | a b``
=============  ==================  ===================  =======================

``apply`` cross-correlates (``flip=False``, as ``scipy.ndimage.correlate``) or convolves
(``flip=True``, as ``scipy.ndimage.convolve``); the results equal SciPy's with the mode of
the table, including the anchor of even-sized kernels: element ``k // 2`` for correlation,
``(k - 1) // 2`` counted from the start of the flipped kernel for convolution.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _half, _validate
from .conv import conv2d

BORDERS = {"zero": "constant", "reflect": "reflect", "symmetric": "symmetric", "edge": "edge",
           "wrap": "wrap"}


def identity() -> np.ndarray:
    """3x3 kernel that leaves the image unchanged."""
    kernel = np.zeros((3, 3))
    kernel[1, 1] = 1.0
    return kernel


def box_blur(size: int = 3) -> np.ndarray:
    """(size, size) mean filter: every weight ``1 / size**2``."""
    size = _positive_size(size)
    return np.full((size, size), 1.0 / size**2)


def gaussian_blur(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """(size, size) Gaussian kernel with standard deviation ``sigma`` pixels, summing to 1.

    ``size`` defaults to ``2 * ceil(3 * sigma) + 1`` (the kernel covers +-3 sigma). The
    kernel is the outer product of a sampled 1-D Gaussian centred at ``(size - 1) / 2``.
    """
    sigma = float(sigma)
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be positive and finite, got {sigma}")
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else _positive_size(size)
    offsets = np.arange(size) - (size - 1) / 2
    profile = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = np.outer(profile, profile)
    return kernel / kernel.sum()


def sharpen() -> np.ndarray:
    """3x3 sharpening kernel: the image plus its negative 4-neighbour Laplacian."""
    return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def laplacian() -> np.ndarray:
    """3x3 4-neighbour Laplacian (sums to zero: flat regions give 0)."""
    return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sobel_x() -> np.ndarray:
    """3x3 Sobel kernel for the horizontal derivative: positive where intensity grows to the
    right when cross-correlated (``apply`` with ``flip=False``)."""
    return np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_y() -> np.ndarray:
    """3x3 Sobel kernel for the vertical derivative: positive where intensity grows
    downwards when cross-correlated."""
    return sobel_x().T.copy()


def _positive_size(size) -> int:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
        raise TypeError(f"size must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    return int(size)


def _as_image(image, channel_axis) -> tuple:
    """(the image as a float ndarray, its channel axis as 0-2 or None for grayscale)."""
    image = np.asarray(image)
    if image.dtype.kind in "uib":
        raise TypeError(f"image must be float32 or float64, got {image.dtype} (shape "
                        f"{image.shape}); convert it, e.g. image.astype(np.float32) / 255")
    image = _validate.as_float_array(image, "image")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C) (a 3-D image with another "
                         f"channel axis names it with channel_axis), got shape {image.shape}")
    if 0 in image.shape:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    return image, _channel_axis(image.shape, channel_axis)


def _channel_axis(shape: tuple, channel_axis) -> int | None:
    """scikit-image's rule, without its guess: None is grayscale for 2-D and (H, W, C) for
    3-D only when C is 3 or 4 (RGB, RGBA); any other 3-D shape needs ``channel_axis``."""
    if channel_axis is None:
        if len(shape) == 2:
            return None
        if shape[-1] in (3, 4):
            return 2
        raise ValueError(f"image of shape {shape} is ambiguous: with channel_axis=None a 3-D "
                         f"image is (H, W, C) only for C = 3 or 4; pass channel_axis (0 for "
                         f"(C, H, W), -1 for (H, W, C))")
    if not isinstance(channel_axis, numbers.Integral) or isinstance(channel_axis, bool):
        raise TypeError(f"channel_axis must be an int or None, got {channel_axis!r}")
    if len(shape) == 2:
        raise ValueError(f"channel_axis={channel_axis} but image of shape {shape} is 2-D "
                         f"(grayscale, no channel axis): pass channel_axis=None")
    if not -3 <= channel_axis < 3:
        raise ValueError(f"channel_axis={channel_axis} is out of range for the 3-D image of "
                         f"shape {shape} (valid: -3 to 2)")
    return int(channel_axis) % 3


def apply(image, kernel, border: str = "zero", *, flip: bool = False,
          num_threads: int | None = None, channel_axis: int | None = None) -> np.ndarray:
    """Filter an image with a 2-D kernel, channel by channel, keeping its size.

    Parameters
    ----------
    image : ndarray, 2-D (H, W) or 3-D with a channel axis, float16, float32 or float64
        float16 is filtered in float32 and the result rounded to float16 once.
    kernel : array_like, shape (kH, kW)
        Cast to the image's dtype.
    border : {'zero', 'reflect', 'symmetric', 'edge', 'wrap'}
        How the image is extended beyond its edges (``numpy.pad`` modes; see the module
        docstring for the ``scipy.ndimage`` names).
    flip : bool
        False: cross-correlation (``scipy.ndimage.correlate``); True: convolution
        (``scipy.ndimage.convolve``). They differ only for kernels that are not symmetric
        under a 180-degree rotation (``sobel_x``, ``sobel_y``).
    num_threads : int, optional
    channel_axis : int, optional
        The channel axis of a 3-D image (negative counts from the end), as in
        scikit-image: ``0`` for (C, H, W), ``-1`` for (H, W, C). None (default): a 2-D
        image is grayscale and a 3-D one is (H, W, C) if its last axis is 3 or 4 (RGB,
        RGBA); other 3-D shapes are a ValueError asking for ``channel_axis`` rather than a
        guess, and so is a ``channel_axis`` for a 2-D image.

    Returns
    -------
    ndarray, same shape, layout and dtype as ``image``
    """
    try:
        image, axis = _as_image(image, channel_axis)
    except _validate.Float16Input:  # computed in float32, returned as float16
        return _half.rerun(lambda image: apply(image, kernel, border, flip=flip,
                                               num_threads=num_threads,
                                               channel_axis=channel_axis),
                           {"image": np.asarray(image)})
    try:
        kernel = np.asarray(kernel)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"kernel must be a 2-D array of numbers: {err}") from None
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(f"kernel must be a non-empty 2-D array, got shape {kernel.shape}")
    if kernel.dtype.kind not in "uif":
        raise TypeError(f"kernel must be real numbers, got {kernel.dtype}")
    if not isinstance(border, str) or border not in BORDERS:
        raise ValueError(f"border must be one of {sorted(BORDERS)}, got {border!r}")
    flip = _validate.check_bool(flip, "flip")
    # SciPy anchors a correlation kernel at element k // 2 and a convolution kernel at
    # (k - 1) // 2 of its flipped copy; the padding before/after follows from the anchor.
    pads = [((k - 1) // 2, k // 2) if flip else (k // 2, (k - 1) // 2) for k in kernel.shape]
    planes = image[None] if axis is None else np.moveaxis(image, axis, 0)
    padded = np.pad(planes, [(0, 0)] + pads, mode=BORDERS[border])
    # Every channel is one image of a single-channel batch: (C, 1, H + pads, W + pads).
    weight = kernel.astype(image.dtype)[None, None]
    filtered = conv2d(padded[:, None], weight, flip=flip, num_threads=num_threads)[:, 0]
    if axis is None:
        return filtered[0]
    return np.ascontiguousarray(np.moveaxis(filtered, 0, axis))


def edges(image, border: str = "reflect", *, num_threads: int | None = None,
          channel_axis: int | None = None) -> np.ndarray:
    """Gradient magnitude ``sqrt(gx**2 + gy**2)`` of the Sobel derivatives, per channel.

    Parameters
    ----------
    image : ndarray, 2-D (H, W) or 3-D with a channel axis, float16, float32 or float64
    border : str
        As ``apply``; ``'reflect'`` keeps the image's edges from showing up as edges.
    num_threads : int, optional
    channel_axis : int, optional
        As ``apply``.

    Returns
    -------
    ndarray, same shape and dtype as ``image``, >= 0
    """
    image = np.asarray(image)
    if image.dtype == np.float16:  # one rounding to float16, of the magnitude
        return _half.rerun(lambda image: edges(image, border, num_threads=num_threads,
                                               channel_axis=channel_axis), {"image": image})
    gx = apply(image, sobel_x(), border, num_threads=num_threads, channel_axis=channel_axis)
    gy = apply(image, sobel_y(), border, num_threads=num_threads, channel_axis=channel_axis)
    return np.hypot(gx, gy)
