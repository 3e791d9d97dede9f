"""cyconv.nn's sequence helpers: Embedding, LastStep, TimeDistributed, gradient clipping by
global norm (SGD's clip_norm=, clip_grad_norm) and Adam, against torch where it has them."""
import numpy as np
import pytest

from cyconv import nn


def _torch():
    return pytest.importorskip("torch")


def test_embedding_matches_torch():
    torch = _torch()
    emb = nn.Embedding(7, 3, padding_idx=2, dtype=np.float64, rng=0)
    assert np.all(emb.weight[2] == 0)
    temb = torch.nn.Embedding(7, 3, padding_idx=2, dtype=torch.float64)
    with torch.no_grad():
        temb.weight.copy_(torch.from_numpy(emb.weight))
    ids = np.array([[0, 2, 6, 6], [1, 2, 0, 3]])
    grad = np.random.default_rng(1).standard_normal((2, 4, 3))
    out = emb.forward(ids)
    tout = temb(torch.from_numpy(ids))
    tout.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(out, tout.detach().numpy())
    assert emb.backward(grad) is None
    np.testing.assert_allclose(emb.grads()["weight"], temb.weight.grad.numpy(), rtol=1e-14)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 7\)"):
        emb.forward(np.array([7]))
    with pytest.raises(TypeError, match="ids must hold integers"):
        emb.forward(np.array([1.0]))


@pytest.mark.parametrize("batch_first", [True, False])
def test_last_step(batch_first):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 2))  # (N, T, F)
    layer = nn.LastStep(batch_first=batch_first)
    arg = x if batch_first else x.transpose(1, 0, 2)
    np.testing.assert_array_equal(layer.forward(arg), x[:, -1])
    lengths = np.array([5, 1, 0])
    out = layer.forward(arg, lengths)
    np.testing.assert_array_equal(out, [x[0, 4], x[1, 0], [0, 0]])
    grad = rng.standard_normal((3, 2))
    back = layer.backward(grad)
    back = back if batch_first else back.transpose(1, 0, 2)
    expected = np.zeros_like(x)
    expected[0, 4], expected[1, 0] = grad[0], grad[1]
    np.testing.assert_array_equal(back, expected)


def test_time_distributed_linear():
    rng = np.random.default_rng(0)
    inner = nn.Linear(4, 3, rng=1, dtype=np.float64)
    layer = nn.TimeDistributed(inner)
    x = rng.standard_normal((2, 5, 4))
    y = layer.forward(x)
    np.testing.assert_allclose(y, x @ inner.weight.T + inner.bias, rtol=1e-14)
    grad = rng.standard_normal(y.shape)
    gx = layer.backward(grad)
    np.testing.assert_allclose(gx, grad @ inner.weight, rtol=1e-14)
    np.testing.assert_allclose(layer.grads()["weight"],
                               grad.reshape(-1, 3).T @ x.reshape(-1, 4), rtol=1e-12)
    assert list(layer.params()) == ["weight", "bias"]


def _model_and_torch(torch):
    model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64),
                          nn.Linear(3, 2, rng=1, dtype=np.float64))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 3, dtype=torch.float64),
                                 torch.nn.Linear(3, 2, dtype=torch.float64))
    with torch.no_grad():
        for name, p in tmodel.named_parameters():
            p.copy_(torch.from_numpy(model.params()[name]))
    return model, tmodel


def _grads(model, tmodel, torch, rng):
    x = rng.standard_normal((5, 4))
    g = rng.standard_normal((5, 2)) * 10
    model.forward(x)
    model.backward(g)
    tmodel.zero_grad()
    tmodel(torch.from_numpy(x)).backward(torch.from_numpy(g))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_optimizers_with_clipping_match_torch(opt):
    torch = _torch()
    rng = np.random.default_rng(0)
    model, tmodel = _model_and_torch(torch)
    if opt == "sgd":
        ours = nn.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01, clip_norm=1.0)
        theirs = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    else:
        ours = nn.Adam(model, lr=0.05, weight_decay=0.01, clip_norm=1.0)
        theirs = torch.optim.Adam(tmodel.parameters(), lr=0.05, weight_decay=0.01)
    for _ in range(4):
        _grads(model, tmodel, torch, rng)
        before = {k: v.copy() for k, v in model.grads().items()}
        ours.step()
        norm = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)
        theirs.step()
        assert ours.last_norm == pytest.approx(float(norm), rel=1e-12)
        assert ours.last_norm > 1.0  # the clipping ran
        for k, v in model.grads().items():  # the model's gradients are left as they were
            np.testing.assert_array_equal(v, before[k])
        for name, p in tmodel.named_parameters():
            np.testing.assert_allclose(model.params()[name], p.detach().numpy(), rtol=1e-12,
                                       atol=1e-14)


def test_clip_grad_norm_in_place():
    torch = _torch()
    rng = np.random.default_rng(3)
    model, tmodel = _model_and_torch(torch)
    _grads(model, tmodel, torch, rng)
    norm = nn.clip_grad_norm(model, 0.5)
    tnorm = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 0.5)
    assert norm == pytest.approx(float(tnorm), rel=1e-12)
    for name, p in tmodel.named_parameters():
        np.testing.assert_allclose(model.grads()[name], p.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="max_norm must be positive"):
        nn.clip_grad_norm(model, 0)


def test_lstm_classifier_learns():
    """Embedding -> LSTM -> LastStep -> Linear with Adam learns to tell which of two tokens
    came first (a task that needs memory across steps)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 6, (256, 7))
    first = rng.integers(0, 2, 256)
    ids[:, 0] = first
    model = nn.Sequential(nn.Embedding(6, 8, rng=1), nn.LSTM(8, 16, rng=2), nn.LastStep(),
                          nn.Linear(16, 2, rng=3))
    opt = nn.Adam(model, lr=0.02, clip_norm=5.0)
    for _ in range(60):
        loss, grad = nn.softmax_cross_entropy(model.forward(ids), first)
        model.backward(grad)
        opt.step()
    assert loss < 0.05
    assert nn.accuracy(model, ids, first) == 1.0


def test_sequence_demo_runs_on_small_data():
    from cyconv import _demo_sequence
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    x = (rng.random((60, 8, 8)) * 0.2 + labels[:, None, None] / 3).astype(np.float32)
    lines = []
    result = _demo_sequence.run(epochs=2, batch_size=16, data=(x[:40], labels[:40], x[40:],
                                                                  labels[40:]),
                                echo=lines.append)
    for name in ("lstm", "tcn"):
        assert 0 <= result[name]["accuracy"] <= 1
        assert len(result[name]["epoch_seconds"]) == 2
        assert result[name]["speedup"] > 0
    assert any(line.startswith("| LSTM |") for line in lines)


def test_demo_parser_has_the_sequence_task():
    import argparse

    from cyconv import _demo
    parser = argparse.ArgumentParser()
    _demo.add_arguments(parser)
    args = parser.parse_args(["--task", "sequence", "--epochs", "3"])
    assert args.task == "sequence" and args.epochs == 3 and args.lr is None
    assert parser.parse_args([]).task == "digits"
