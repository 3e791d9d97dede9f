"""cyconv.filters against scipy.ndimage.correlate/convolve with the matching border modes."""
import numpy as np
import pytest
from scipy import ndimage

from cyconv import filters

# Our border name (numpy.pad's) -> scipy.ndimage's name for the same extension.
SCIPY_MODE = {"zero": "constant", "reflect": "mirror", "symmetric": "reflect", "edge": "nearest",
              "wrap": "grid-wrap"}
NAMED_KERNELS = {
    "identity": filters.identity(), "box3": filters.box_blur(3), "box4": filters.box_blur(4),
    "gauss": filters.gaussian_blur(1.0), "gauss_even": filters.gaussian_blur(0.8, 4),
    "sharpen": filters.sharpen(), "laplacian": filters.laplacian(),
    "sobel_x": filters.sobel_x(), "sobel_y": filters.sobel_y(),
}
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _scipy(image, kernel, border, flip):
    """SciPy's filter per channel, in float64."""
    function = ndimage.convolve if flip else ndimage.correlate
    image = image.astype(np.float64)
    if image.ndim == 2:
        return function(image, kernel, mode=SCIPY_MODE[border], cval=0.0)
    return np.stack([function(image[..., c], kernel, mode=SCIPY_MODE[border], cval=0.0)
                     for c in range(image.shape[-1])], axis=-1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", list(SCIPY_MODE))
@pytest.mark.parametrize("name", list(NAMED_KERNELS))
def test_named_kernels_match_scipy_correlate(name, border, dtype):
    rng = np.random.default_rng(0)
    image = rng.random((13, 10, 3)).astype(dtype)
    kernel = NAMED_KERNELS[name]
    result = filters.apply(image, kernel, border)
    assert result.shape == image.shape and result.dtype == dtype
    np.testing.assert_allclose(result, _scipy(image, kernel, border, False), **TOL[dtype])


@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("border", list(SCIPY_MODE))
@pytest.mark.parametrize("kernel_shape", [(3, 5), (4, 2), (2, 3), (1, 4), (5, 5)])
def test_asymmetric_kernels_match_scipy(kernel_shape, border, flip):
    """Random kernels (no symmetry to hide a flip or an off-by-one anchor), odd and even sizes,
    correlation and convolution, on a 2-D image."""
    rng = np.random.default_rng(1)
    image = rng.random((11, 9))
    kernel = rng.standard_normal(kernel_shape)
    result = filters.apply(image, kernel, border, flip=flip)
    assert result.shape == image.shape
    np.testing.assert_allclose(result, _scipy(image, kernel, border, flip), rtol=1e-12,
                               atol=1e-12)


def test_flip_changes_only_unsymmetric_kernels():
    image = np.random.default_rng(2).random((9, 9))
    for kernel in (filters.laplacian(), filters.gaussian_blur(1.2), filters.sharpen()):
        np.testing.assert_allclose(filters.apply(image, kernel, flip=True),
                                   filters.apply(image, kernel), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(filters.apply(image, filters.sobel_x(), flip=True),
                               -filters.apply(image, filters.sobel_x()), atol=1e-13)


def test_edges_is_the_sobel_gradient_magnitude():
    rng = np.random.default_rng(3)
    image = rng.random((12, 14, 2))
    expected = np.stack([np.hypot(ndimage.sobel(image[..., c], axis=0, mode="mirror"),
                                  ndimage.sobel(image[..., c], axis=1, mode="mirror"))
                         for c in range(2)], axis=-1)
    # two channels last: not RGB(A), so the channel axis is named
    np.testing.assert_allclose(filters.edges(image, channel_axis=-1), expected, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(filters.edges(np.moveaxis(image, -1, 0), channel_axis=0),
                               np.moveaxis(expected, -1, 0), rtol=1e-12, atol=1e-12)
    # A vertical step edge: magnitude 4 (the Sobel weights 1+2+1) along it, 0 elsewhere.
    step = np.zeros((6, 8))
    step[:, 4:] = 1.0
    magnitude = filters.edges(step, border="edge")
    np.testing.assert_allclose(magnitude[:, 3:5], 4.0)
    np.testing.assert_allclose(magnitude[:, :3], 0.0, atol=1e-15)
    np.testing.assert_allclose(magnitude[:, 5:], 0.0, atol=1e-15)


def test_kernel_properties():
    image = np.random.default_rng(4).random((7, 8)).astype(np.float32)
    np.testing.assert_array_equal(filters.apply(image, filters.identity()), image)
    for size in (1, 2, 5):
        box = filters.box_blur(size)
        assert box.shape == (size, size) and box.sum() == pytest.approx(1.0)
    gauss = filters.gaussian_blur(1.5)
    assert gauss.shape == (11, 11) and gauss.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(gauss, gauss.T)
    np.testing.assert_allclose(gauss, gauss[::-1, ::-1])
    assert gauss[5, 5] == gauss.max()
    # Blurs keep a constant image constant away from zero padding; derivatives give 0 on it.
    flat = np.full((6, 6), 3.0)
    np.testing.assert_allclose(filters.apply(flat, gauss, "edge"), 3.0)
    np.testing.assert_allclose(filters.apply(flat, filters.sharpen(), "reflect"), 3.0)
    for kernel in (filters.laplacian(), filters.sobel_x(), filters.sobel_y()):
        np.testing.assert_allclose(filters.apply(flat, kernel, "symmetric"), 0.0, atol=1e-14)
    # A horizontal ramp: sobel_x = 8 * slope inside, sobel_y and the Laplacian 0.
    ramp = np.tile(np.arange(9.0), (7, 1))
    np.testing.assert_allclose(filters.apply(ramp, filters.sobel_x())[1:-1, 1:-1], 8.0)
    np.testing.assert_allclose(filters.apply(ramp, filters.sobel_y())[1:-1, 1:-1], 0.0)
    np.testing.assert_allclose(filters.apply(ramp, filters.laplacian())[1:-1, 1:-1], 0.0,
                               atol=1e-13)


def test_bad_arguments_raise():
    image = np.zeros((5, 5), np.float32)
    with pytest.raises(TypeError, match="image must be float32 or float64, got uint8"):
        filters.apply(np.zeros((5, 5), np.uint8), filters.identity())
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\)"):
        filters.apply(np.zeros((1, 5, 5, 3)), filters.identity())
    with pytest.raises(ValueError, match="border"):
        filters.apply(image, filters.identity(), border="mirror")
    with pytest.raises(ValueError, match="kernel"):
        filters.apply(image, np.ones(3))
    with pytest.raises(ValueError, match="border"):
        filters.apply(image, filters.identity(), border=["zero"])  # unhashable
    with pytest.raises(ValueError, match="kernel"):
        filters.apply(image, [[1.0, 2.0], [3.0]])  # ragged
    with pytest.raises(ValueError, match="sigma"):
        filters.gaussian_blur(0.0)
    with pytest.raises(ValueError, match="size"):
        filters.box_blur(0)
    with pytest.raises(TypeError, match="size"):
        filters.box_blur(2.5)


# ---- channel_axis (scikit-image's name and default, without guessing) -----------------------

@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3, np.int64(0)])
def test_channel_axis_names_the_channel_axis_and_keeps_the_layout(axis):
    rng = np.random.default_rng(5)
    hwc = rng.random((9, 11, 5))  # 5 channels: ambiguous without channel_axis
    kernel = rng.standard_normal((3, 2))
    image = np.moveaxis(hwc, -1, axis)
    result = filters.apply(image, kernel, "wrap", channel_axis=axis)
    assert result.shape == image.shape and result.flags.c_contiguous
    np.testing.assert_allclose(result, np.moveaxis(_scipy(hwc, kernel, "wrap", False), -1, axis),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [3, 4])
def test_rgb_and_rgba_are_channels_last_by_default(channels):
    image = np.random.default_rng(6).random((8, 10, channels)).astype(np.float32)
    kernel = filters.sobel_x()
    np.testing.assert_array_equal(filters.apply(image, kernel),
                                  filters.apply(image, kernel, channel_axis=-1))
    np.testing.assert_allclose(filters.apply(image, kernel), _scipy(image, kernel, "zero", False),
                               **TOL[np.float32])


def test_a_channels_first_image_needs_channel_axis():
    chw = np.random.default_rng(7).random((3, 64, 64))
    for image in (chw, chw[..., :5], np.zeros((6, 6, 1)), np.zeros((6, 6, 2)), np.zeros((6, 6, 5))):
        with pytest.raises(ValueError, match=r"is ambiguous: .* pass channel_axis \(0 for "
                                             r"\(C, H, W\), -1 for \(H, W, C\)\)"):
            filters.apply(image, filters.box_blur(3))
        with pytest.raises(ValueError, match="pass channel_axis"):
            filters.edges(image)
    # named, it is three 64x64 planes
    result = filters.apply(chw, filters.box_blur(3), "edge", channel_axis=0)
    assert result.shape == (3, 64, 64)
    for c in range(3):
        np.testing.assert_allclose(result[c], filters.apply(chw[c], filters.box_blur(3), "edge"),
                                   rtol=1e-14, atol=1e-15)


def test_bad_channel_axis_is_refused():
    gray, color = np.zeros((6, 7)), np.zeros((6, 7, 3))
    kernel = filters.identity()
    for axis in (0, -1, 2):
        with pytest.raises(ValueError, match=rf"channel_axis={axis} but image of shape \(6, 7\) "
                                             r"is 2-D .* pass channel_axis=None"):
            filters.apply(gray, kernel, channel_axis=axis)
    for axis in (3, -4, 10**20):
        with pytest.raises(ValueError, match=r"channel_axis=.* is out of range .* \(valid: -3 to 2\)"):
            filters.apply(color, kernel, channel_axis=axis)
    for axis in (1.0, True, "0", (0,)):
        with pytest.raises(TypeError, match="channel_axis must be an int or None"):
            filters.apply(color, kernel, channel_axis=axis)


def test_float16_keeps_the_channel_axis():
    image = np.random.default_rng(8).random((2, 9, 8)).astype(np.float16)
    result = filters.apply(image, filters.laplacian(), channel_axis=0)
    assert result.dtype == np.float16 and result.shape == image.shape
    np.testing.assert_array_equal(
        result, filters.apply(image.astype(np.float32), filters.laplacian(),
                              channel_axis=0).astype(np.float16))
