"""The reference itself: against PyTorch and SciPy (independent oracles) and finite differences."""
import numpy as np
import pytest

from cyconv import reference as ref

CASES = [
    # (N, C_in, H, W, C_out, kernel, stride, padding, dilation, groups)
    (2, 3, 9, 11, 5, (3, 3), 1, 1, 1, 1),
    (1, 4, 8, 8, 6, (2, 2), 1, "same", 1, 1),
    (7, 2, 10, 7, 4, (3, 2), (2, 1), 0, 1, 2),
    (3, 6, 13, 12, 6, (3, 3), 1, 1, 1, 6),
    (2, 8, 12, 12, 12, (3, 3), 1, 2, 2, 4),
    (2, 5, 11, 9, 7, (2, 3), 3, ((1, 0), (2, 1)), 1, 1),
    (1, 3, 7, 7, 2, (5, 5), 1, "full", 1, 1),
]


def _data(case, seed=0):
    n, c, h, w, co, k, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)), rng.standard_normal((co, c // groups) + k),
            rng.standard_normal(co), dict(stride=stride, padding=padding, dilation=dilation,
                                          groups=groups))


class TestAgainstTorch:
    torch = pytest.importorskip("torch")
    F = pytest.importorskip("torch.nn.functional")

    @pytest.mark.parametrize("flip", [False, True])
    @pytest.mark.parametrize("case", CASES)
    def test_conv2d_forward_and_backward(self, case, flip):
        from cyconv import _shapes
        x, w, b, kw = _data(case)
        torch, F = self.torch, self.F
        pads = _shapes.resolve_padding(kw["padding"], w.shape[2:],
                                       _shapes.normalize_tuple(kw["dilation"], 2, "dilation"),
                                       _shapes.normalize_tuple(kw["stride"], 2, "stride"), x.shape[2:])
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        # torch pads symmetrically only: pad explicitly with the resolved per-side pairs
        xp = F.pad(xt, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
        wf = torch.flip(wt, (2, 3)) if flip else wt
        yt = F.conv2d(xp, wf, bt, stride=kw["stride"], dilation=kw["dilation"], groups=kw["groups"])
        y = ref.conv2d(x, w, b, flip=flip, **kw)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        gy = np.random.default_rng(9).standard_normal(y.shape)
        yt.backward(torch.tensor(gy))
        g = ref.conv2d_backward(gy, x, w, flip=flip, **kw)
        np.testing.assert_allclose(g.grad_input, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g.grad_weight, wt.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g.grad_bias, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_reference_gradients_finite_differences(case, flip):
    x, w, b, kw = _data(case, seed=2)
    rng = np.random.default_rng(3)
    gy = rng.standard_normal(ref.conv2d(x, w, b, flip=flip, **kw).shape)
    grads = ref.conv2d_backward(gy, x, w, flip=flip, **kw)
    eps = 1e-6
    args = {"x": x, "w": w, "b": b}
    for name, grad in (("x", grads.grad_input), ("w", grads.grad_weight), ("b", grads.grad_bias)):
        v = rng.standard_normal(args[name].shape)
        plus, minus = dict(args), dict(args)
        plus[name] = args[name] + eps * v
        minus[name] = args[name] - eps * v
        numeric = (np.sum(gy * ref.conv2d(plus["x"], plus["w"], plus["b"], flip=flip, **kw))
                   - np.sum(gy * ref.conv2d(minus["x"], minus["w"], minus["b"], flip=flip, **kw))) / (2 * eps)
        assert numeric == pytest.approx(np.sum(grad * v), rel=1e-6, abs=1e-6), name


class TestAgainstScipy:
    signal = pytest.importorskip("scipy.signal")

    @pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (5, 2), (1, 1), (4, 4)])
    @pytest.mark.parametrize("mode", ["valid", "full", "same"])
    def test_flip_is_true_convolution(self, kshape, mode):
        rng = np.random.default_rng(0)
        img, k = rng.standard_normal((9, 11)), rng.standard_normal(kshape)
        even = any(s % 2 == 0 for s in kshape)
        for flip, scipy_fn in ((True, self.signal.convolve2d), (False, self.signal.correlate2d)):
            expected = scipy_fn(img, k, mode=mode)
            ours = ref.conv2d(img[None, None], k[None, None], flip=flip, padding=mode)[0, 0]
            if mode == "same" and even and flip:
                # SciPy's convolve puts an even kernel's extra pad at the start, ours (PyTorch's
                # rule) at the end; explicit per-side padding reproduces SciPy exactly.
                assert not np.allclose(ours, expected)
                pads = tuple((s // 2, (s - 1) // 2) for s in kshape)
                ours = ref.conv2d(img[None, None], k[None, None], flip=True, padding=pads)[0, 0]
            np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_inputs_unmodified():
    x, w, b, kw = _data(CASES[0])
    x32, w32, b32 = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    copies = [a.copy() for a in (x32, w32, b32)]
    y = ref.conv2d(x32, w32, b32, **kw)
    assert y.dtype == np.float32
    g = ref.conv2d_backward(np.ones_like(y), x32, w32, **kw)
    assert all(a.dtype == np.float32 for a in g)
    for a, c in zip((x32, w32, b32), copies):
        np.testing.assert_array_equal(a, c)
