"""cyconv.nn: layers against the reference backend, whole-network finite-difference gradient
checks (float64), loss, optimizer, dropout, initialisation, state dicts, and a short training run
on synthetic images."""
import numpy as np
import pytest

import cyconv
from cyconv import _demo, nn
from cyconv import reference as ref



@pytest.fixture(autouse=True)
def one_thread():
    """The layers' ops are tested elsewhere for every thread count; here the calls are tiny,
    and on a loaded 2-core machine every OpenMP barrier can cost a time slice."""
    with cyconv.threads(1):
        yield


BACKENDS = [pytest.param(cyconv, id="cyconv"), pytest.param(ref, id="reference")]


def _rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- layers vs backends
LAYER_CASES = [
    ("conv1d", lambda ops: nn.Conv1d(3, 4, 3, stride=2, padding="same", rng=1, ops=ops,
                                     dtype=np.float64), (2, 3, 11)),
    ("conv1d_causal", lambda ops: nn.Conv1d(2, 2, 3, padding="causal", dilation=2, bias=False,
                                            rng=1, ops=ops, dtype=np.float64), (2, 2, 9)),
    ("conv2d", lambda ops: nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2, rng=2,
                                     ops=ops, dtype=np.float64), (2, 4, 7, 8)),
    ("conv2d_flip", lambda ops: nn.Conv2d(2, 3, 3, padding="full", flip=True, rng=2, ops=ops,
                                          dtype=np.float64), (1, 2, 5, 6)),
    ("conv3d", lambda ops: nn.Conv3d(2, 3, 3, padding=1, dilation=(1, 2, 1), rng=3, ops=ops,
                                     dtype=np.float64), (2, 2, 4, 6, 5)),
    ("conv_transpose2d", lambda ops: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                         output_padding=1, groups=2, rng=4,
                                                         ops=ops, dtype=np.float64),
     (2, 4, 5, 4)),
    ("global_avg_pool", lambda ops: nn.GlobalAvgPool(ops=ops), (2, 3, 5, 4)),
    ("global_avg_pool_keepdims", lambda ops: nn.GlobalAvgPool(keepdims=True, ops=ops),
     (2, 3, 3, 4, 2)),
    ("maxpool", lambda ops: nn.MaxPool2d(3, 2, 1, ops=ops), (2, 3, 9, 8)),
    ("minpool", lambda ops: nn.MinPool2d(2, ceil_mode=True, ops=ops), (2, 3, 7, 9)),
    ("avgpool", lambda ops: nn.AvgPool2d(3, 2, 1, count_include_pad=False, ops=ops),
     (2, 3, 8, 7)),
    ("maxpool1d", lambda ops: nn.MaxPool1d(3, 2, dilation=2, ops=ops), (2, 3, 12)),
    ("minpool3d", lambda ops: nn.MinPool3d(2, ops=ops), (1, 2, 4, 5, 6)),
    ("avgpool1d", lambda ops: nn.AvgPool1d(4, 3, 2, ceil_mode=True, ops=ops), (2, 2, 11)),
    ("avgpool3d", lambda ops: nn.AvgPool3d((2, 3, 2), ops=ops), (2, 2, 4, 6, 5)),
]


@pytest.mark.parametrize("name, make, shape", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_matches_reference_backend(name, make, shape):
    rng = np.random.default_rng(0)
    x = _rand(rng, shape)
    fast, slow = make(cyconv), make(ref)
    y = fast.forward(x)
    np.testing.assert_allclose(y, slow.forward(x), rtol=1e-12, atol=1e-12)
    grad = _rand(rng, y.shape)
    np.testing.assert_allclose(fast.backward(grad), slow.backward(grad), rtol=1e-12, atol=1e-12)
    for key, value in fast.grads().items():
        np.testing.assert_allclose(value, slow.grads()[key], rtol=1e-12, atol=1e-12)
    assert fast.grads().keys() == fast.params().keys()


def test_conv_layer_calls_the_op_with_its_geometry():
    rng = np.random.default_rng(1)
    layer = nn.Conv2d(3, 4, 3, stride=2, padding="same", dilation=1, rng=0)
    x = _rand(rng, (2, 3, 9, 9), np.float32)
    expected = cyconv.conv2d(x, layer.weight, layer.bias, stride=2, padding="same")
    np.testing.assert_array_equal(layer.forward(x), expected)
    assert layer.weight.shape == (4, 3, 3, 3) and layer.weight.dtype == np.float32
    assert layer.bias.shape == (4,) and not layer.bias.any()


def test_linear_relu_flatten():
    rng = np.random.default_rng(2)
    linear = nn.Linear(6, 4, rng=0, dtype=np.float64)
    x = _rand(rng, (5, 6))
    y = linear.forward(x)
    np.testing.assert_allclose(y, x @ linear.weight.T + linear.bias)
    grad = _rand(rng, y.shape)
    np.testing.assert_allclose(linear.backward(grad), grad @ linear.weight)
    np.testing.assert_allclose(linear.grads()["weight"], grad.T @ x)
    np.testing.assert_allclose(linear.grads()["bias"], grad.sum(0))

    relu = nn.ReLU()
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0.0, 0.0, 1.0]])

    flatten = nn.Flatten()
    x = _rand(rng, (2, 3, 4, 5))
    assert flatten.forward(x).shape == (2, 60)
    assert flatten.backward(np.ones((2, 60))).shape == (2, 3, 4, 5)


# ------------------------------------------------------------- whole-network gradient checks
def _reseed_dropout(model):
    for layer in model.layers:
        if isinstance(layer, nn.Dropout):
            layer.rng = np.random.default_rng(123)


def _loss(model, x, labels):
    _reseed_dropout(model)  # the same dropout mask in every evaluation
    return nn.softmax_cross_entropy(model.forward(x), labels)


def _check_network_gradients(model, x, labels, *, samples=12, eps=1e-6, tol=1e-6):
    """Central differences of the loss against backward, for the input and every parameter."""
    rng = np.random.default_rng(7)
    for name, param in model.params().items():
        # Zero biases leave exact zeros (ReLU kinks) wherever a layer's inputs are all zero.
        if name.endswith("bias"):
            param[...] = rng.normal(0.0, 0.1, param.shape)
    loss, grad_logits = _loss(model, x, labels)
    grad_x = model.backward(grad_logits)
    analytic = dict(model.grads(), input=grad_x)
    arrays = dict(model.params(), input=x)
    for name, array in arrays.items():
        flat = array.reshape(-1)  # a view: perturbing it perturbs the parameter in place
        assert np.shares_memory(flat, array)
        for index in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + eps
            plus = _loss(model, x, labels)[0]
            flat[index] = saved - eps
            minus = _loss(model, x, labels)[0]
            flat[index] = saved
            numeric = (plus - minus) / (2 * eps)
            value = analytic[name].reshape(-1)[index]
            assert abs(numeric - value) <= tol * max(1.0, abs(numeric)), (name, index, numeric,
                                                                          value)


@pytest.mark.parametrize("ops", BACKENDS)
def test_network_gradient_conv2d_pools_dropout(ops):
    rng = np.random.default_rng(3)
    f64 = dict(dtype=np.float64, ops=ops)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, rng=rng, **f64), nn.ReLU(),
        nn.MaxPool2d(2, ops=ops),
        nn.Conv2d(4, 4, 3, padding="same", groups=2, rng=rng, **f64), nn.ReLU(),
        nn.AvgPool2d(3, 1, 1, ops=ops),
        nn.Conv2d(4, 6, 2, stride=2, rng=rng, **f64),
        nn.MinPool2d(1, ops=ops),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 8, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Dropout(0.3, rng=rng), nn.Linear(8, 5, init="glorot", rng=rng, dtype=np.float64))
    x = _rand(rng, (3, 2, 8, 8))
    labels = np.array([0, 4, 2])
    _check_network_gradients(model, x, labels)


@pytest.mark.parametrize("ops", BACKENDS)
def test_network_gradient_1d_and_3d_layers(ops):
    rng = np.random.default_rng(4)
    f64 = dict(dtype=np.float64, ops=ops)
    net1d = nn.Sequential(nn.Conv1d(2, 3, 3, padding="causal", rng=rng, **f64), nn.ReLU(),
                          nn.MaxPool1d(3, 1, 1, ops=ops),
                          nn.Conv1d(3, 3, 2, stride=2, dilation=1, rng=rng, **f64),
                          nn.Flatten(), nn.Linear(3 * 5, 4, rng=rng, dtype=np.float64))
    _check_network_gradients(net1d, _rand(rng, (2, 2, 10)), np.array([1, 3]))
    net3d = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1, rng=rng, **f64), nn.ReLU(),
                          nn.AvgPool3d(3, 1, 1, ops=ops),
                          nn.Conv3d(2, 2, 2, stride=2, rng=rng, **f64),
                          nn.Flatten(), nn.Linear(2 * 2 * 2 * 2, 3, rng=rng, dtype=np.float64))
    _check_network_gradients(net3d, _rand(rng, (2, 1, 4, 4, 4)), np.array([2, 0]))


@pytest.mark.parametrize("ops", BACKENDS)
def test_network_gradient_encoder_decoder_global_pool(ops):
    """Down with a strided conv, up with a transposed conv, then global average pooling."""
    rng = np.random.default_rng(5)
    f64 = dict(dtype=np.float64, ops=ops)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, rng=rng, **f64), nn.ReLU(),
                          nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1,
                                             rng=rng, **f64), nn.ReLU(),
                          nn.GlobalAvgPool(ops=ops), nn.Linear(3, 4, rng=rng, dtype=np.float64))
    x = _rand(rng, (3, 2, 6, 6))
    assert model.layers[2].forward(model.layers[0].forward(x)).shape == (3, 3, 6, 6)
    _check_network_gradients(model, x, np.array([3, 0, 1]))


def test_conv_transpose_layer_weight_layout_and_init():
    layer = nn.ConvTranspose2d(64, 32, 4, stride=2, groups=2, rng=0)
    assert layer.weight.shape == (64, 16, 4, 4) and layer.bias.shape == (32,)
    # Each output pixel sums C_in/groups * kH*kW / (sH*sW) = 32 * 16 / 4 terms.
    assert layer.weight.std() == pytest.approx(np.sqrt(2 / 128), rel=0.03)
    x = np.random.default_rng(1).standard_normal((1, 64, 3, 3)).astype(np.float32)
    assert layer.forward(x).shape == (1, 32, 8, 8)


# ------------------------------------------------------------------------------ loss, optimizer
def test_softmax_cross_entropy_matches_direct_formula_and_is_stable():
    rng = np.random.default_rng(5)
    logits = _rand(rng, (6, 4))
    labels = rng.integers(0, 4, 6)
    loss, grad = nn.softmax_cross_entropy(logits, labels)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(6), labels])), rel=1e-12)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(grad, (probs - onehot) / 6, rtol=1e-12, atol=1e-15)
    # Shifting all logits of a row changes nothing; huge logits do not overflow.
    big_loss, big_grad = nn.softmax_cross_entropy(logits + 1e4, labels)
    assert big_loss == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(big_grad, grad, atol=1e-9)
    # exp(1000) overflows float32 (and float64); the shifted form does not.
    extreme, extreme_grad = nn.softmax_cross_entropy(np.array([[1e3, -1e3]], np.float32),
                                                     np.array([1]))
    assert extreme == pytest.approx(2e3)
    np.testing.assert_allclose(extreme_grad, [[1.0, -1.0]])
    f32_loss, f32_grad = nn.softmax_cross_entropy(logits.astype(np.float32), labels)
    assert f32_grad.dtype == np.float32 and f32_loss == pytest.approx(loss, rel=1e-5)


def test_softmax_cross_entropy_rejects_bad_labels():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match="labels"):
        nn.softmax_cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(TypeError, match="labels"):
        nn.softmax_cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="labels"):
        nn.softmax_cross_entropy(logits, np.array([0]))


def test_sgd_momentum_and_weight_decay_follow_the_update_rule():
    layer = nn.Linear(2, 1, rng=0, dtype=np.float64)
    w0 = layer.weight.copy()
    optimizer = nn.SGD(layer, lr=0.1, momentum=0.9, weight_decay=0.01)
    x = np.array([[1.0, 2.0]])
    velocity = np.zeros_like(w0)
    expected = w0.copy()
    for _ in range(3):
        layer.forward(x)
        layer.backward(np.ones((1, 1)))
        step = layer.grads()["weight"] + 0.01 * expected
        velocity = 0.9 * velocity + step
        expected = expected - 0.1 * velocity
        optimizer.step()
        np.testing.assert_allclose(layer.weight, expected, rtol=1e-14)
    with pytest.raises(ValueError, match="momentum"):
        nn.SGD(layer, lr=0.1, momentum=1.0)


# --------------------------------------------------------------------- dropout, init, modes
def test_dropout_is_inverted_seeded_and_off_in_eval_mode():
    x = np.ones((200, 50), np.float32)
    drop = nn.Dropout(0.25, rng=np.random.default_rng(9))
    y = drop.forward(x)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(drop.backward(x), y)  # the same mask and scale
    again = nn.Dropout(0.25, rng=np.random.default_rng(9)).forward(x)
    np.testing.assert_array_equal(again, y)
    drop.eval()
    np.testing.assert_array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(x), x)
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.0)


def test_initialisation_he_and_glorot_from_seeded_generators():
    conv = nn.Conv2d(64, 32, 3, rng=np.random.default_rng(0))
    assert conv.weight.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.03)
    same = nn.Conv2d(64, 32, 3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(conv.weight, same.weight)
    other = nn.Conv2d(64, 32, 3, rng=np.random.default_rng(1))
    assert not np.array_equal(conv.weight, other.weight)
    linear = nn.Linear(300, 200, init="glorot", rng=0, dtype=np.float64)
    bound = np.sqrt(6 / 500)
    assert np.abs(linear.weight).max() <= bound and np.abs(linear.weight).max() > 0.95 * bound
    assert linear.weight.dtype == np.float64
    with pytest.raises(ValueError, match="init"):
        nn.Linear(2, 2, init="zeros")
    with pytest.raises(TypeError, match="dtype"):
        nn.Conv1d(1, 1, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(TypeError, match="rng"):
        nn.Linear(2, 2, rng="seed")


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Conv2d(1, 1, 3).backward(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(RuntimeError, match="no gradient"):
        nn.Linear(2, 2).grads()


def test_sequential_modes_names_and_backend_switch():
    model = _demo.build_lenet(0, dtype=np.float64)
    assert list(model.params())[:2] == ["0.weight", "0.bias"]
    model.eval()
    assert not any(layer.training for layer in model.layers)
    x = _rand(np.random.default_rng(6), (4, 1, 8, 8))
    fast = model.forward(x)
    model.set_ops(ref)
    assert model[0].ops is ref and model[2].ops is ref
    np.testing.assert_allclose(model.forward(x), fast, rtol=1e-12, atol=1e-12)


def test_state_dict_round_trip_through_npz(tmp_path):
    model = _demo.build_lenet(0)
    other = _demo.build_lenet(1)
    x = _rand(np.random.default_rng(8), (3, 1, 8, 8), np.float32)
    model.eval(), other.eval()
    assert not np.allclose(model.forward(x), other.forward(x))
    path = tmp_path / "lenet.npz"
    model.save(path)
    live = other.params()["0.weight"]
    other.load(path)
    assert other.params()["0.weight"] is live  # loaded in place, optimizers stay attached
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    state = model.state_dict()
    state["0.weight"] = state["0.weight"][:1]
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="names"):
        other.load_state_dict({"0.weight": state["0.weight"]})


# ------------------------------------------------------------------------------ training loop
def _bar_images(n, rng):
    """8x8 images of one of four bar orientations at random positions, plus noise."""
    labels = rng.integers(0, 4, n)
    images = 0.2 * rng.standard_normal((n, 1, 8, 8))
    offsets = rng.integers(1, 7, n)
    for i, (label, k) in enumerate(zip(labels, offsets)):
        if label == 0:
            images[i, 0, k, 1:7] += 1
        elif label == 1:
            images[i, 0, 1:7, k] += 1
        else:
            diagonal = np.arange(1, 7)
            rows = diagonal if label == 2 else diagonal[::-1]
            images[i, 0, rows, diagonal] += 1
    return images.astype(np.float32), labels


def test_training_loop_learns_synthetic_bars():
    rng = np.random.default_rng(0)
    x_train, y_train = _bar_images(320, rng)
    x_test, y_test = _bar_images(200, rng)
    model = _demo.build_lenet(0, num_classes=4)
    optimizer = nn.SGD(model, lr=0.05, momentum=0.9, weight_decay=1e-4)
    chance = nn.accuracy(model, x_test, y_test)
    first = nn.train_epoch(model, optimizer, x_train, y_train, 32, np.random.default_rng(1))
    for _ in range(3):
        last = nn.train_epoch(model, optimizer, x_train, y_train, 32, np.random.default_rng(1))
    assert np.mean(last) < 0.5 * np.mean(first)
    trained = nn.accuracy(model, x_test, y_test)
    assert trained >= 0.9 > chance + 0.3, (chance, trained)


def test_demo_run_reports_accuracy_and_backend_speedup():
    rng = np.random.default_rng(2)
    data = _bar_images(256, rng) + _bar_images(128, rng)
    lines = []
    result = _demo.run(epochs=3, data=data, progress=False, echo=lines.append)
    assert len(result["epoch_seconds"]) == 3 and result["test_accuracy"] >= 0.9
    assert result["speedup"] == pytest.approx(result["reference_epoch_seconds"]
                                              / result["cyconv_epoch_seconds"])
    assert lines[0].startswith("data: 256 training and 128 test images of 8x8, 4 classes")
    assert "speed-up" in lines[-1]


def test_demo_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")  # the demo extra; the plots are optional output
    model = _demo.build_lenet(0)
    paths = _demo.save_plots(model, [2.0, 1.0, 0.5, 0.4], [0.5, 0.9], str(tmp_path))
    for path in paths:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_training_steps_match_torch():
    """Three SGD steps (momentum, weight decay) of the demo network equal PyTorch's, from the
    same weights and batches: layers, loss, backward and the update rule all agree."""
    torch = pytest.importorskip("torch")  # the independent oracle; installed by `make test`
    tnn = torch.nn
    model = _demo.build_lenet(0, dtype=np.float64)
    model.eval()  # dropout off in both, so the comparison is deterministic
    reference = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(128, 64), tnn.ReLU(), tnn.Linear(64, 10)).double()
    ours = [layer for layer in model.layers if layer.params()]
    theirs = [layer for layer in reference if isinstance(layer, (tnn.Conv2d, tnn.Linear))]
    with torch.no_grad():
        for mine, other in zip(ours, theirs):
            other.weight.copy_(torch.from_numpy(mine.weight))
            other.bias.copy_(torch.from_numpy(mine.bias))
    optimizer = nn.SGD(model, lr=0.05, momentum=0.9, weight_decay=1e-3)
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9,
                                      weight_decay=1e-3)
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.random((8, 1, 8, 8))
        labels = rng.integers(0, 10, 8)
        loss, grad = nn.softmax_cross_entropy(model.forward(x), labels)
        model.backward(grad)
        optimizer.step()
        torch_optimizer.zero_grad()
        torch_loss = tnn.functional.cross_entropy(reference(torch.from_numpy(x)),
                                                  torch.from_numpy(labels))
        torch_loss.backward()
        torch_optimizer.step()
        assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for mine, other in zip(ours, theirs):
        np.testing.assert_allclose(mine.weight, other.weight.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(mine.bias, other.bias.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
