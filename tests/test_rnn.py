"""Recurrent layers and ops (cyconv.nn.RNN/LSTM/GRU, cyconv.recurrent,
cyconv.reference.recurrent): against torch.nn.RNN/LSTM/GRU with copied weights (outputs,
final states, every gradient; 1-2 layers, both directions, batch_first both ways, variable
lengths through pack_padded_sequence), float64 within 1e-10 and float32 within the
accuracy contract, finite differences in float64, reference against compiled, degenerate
shapes, thread-count invariance (bitwise) and argument errors."""
import copy
import zlib

import numpy as np
import pytest

import cyconv
from cyconv import nn
from cyconv import recurrent as compiled
from cyconv import reference as ref

CELLS = {"lstm": (nn.LSTM, "LSTM", {}), "gru": (nn.GRU, "GRU", {}),
         "rnn_tanh": (nn.RNN, "RNN", {}), "rnn_relu": (nn.RNN, "RNN", {"nonlinearity": "relu"})}
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@pytest.fixture(autouse=True)
def one_thread():
    """Small calls: thread counts have their own test (on a loaded 2-core machine every
    OpenMP barrier of a time step can cost a time slice)."""
    with cyconv.threads(1):
        yield


def _rel(actual, expected) -> float:
    """Largest error relative to the largest magnitude of ``expected``."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    if expected.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300))


def _torch_run(torch, cell, layer, x, h0, c0, lengths, grad, grad_h, grad_c, dtype):
    """torch's outputs and gradients for the same weights and inputs (as float64 arrays)."""
    kind, tname, kw = CELLS[cell]
    tdtype = getattr(torch, np.dtype(dtype).name)
    tlayer = getattr(torch.nn, tname)(layer.input_size, layer.hidden_size,
                                      num_layers=layer.num_layers,
                                      bidirectional=layer.bidirectional,
                                      batch_first=layer.batch_first, dtype=tdtype, **kw)
    with torch.no_grad():
        for name, value in layer.params().items():
            getattr(tlayer, name).copy_(torch.from_numpy(value))
    xt = torch.tensor(x, requires_grad=True)
    ht = torch.tensor(h0, requires_grad=True)
    ct = torch.tensor(c0, requires_grad=True) if c0 is not None else None
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                      batch_first=layer.batch_first,
                                                      enforce_sorted=False)
    out, state = tlayer(inp, (ht, ct) if ct is not None else ht)
    if lengths is not None:
        steps = x.shape[1] if layer.batch_first else x.shape[0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=layer.batch_first,
                                                        total_length=steps)
    h_n = state[0] if ct is not None else state
    loss = (out * torch.tensor(grad)).sum() + (h_n * torch.tensor(grad_h)).sum()
    if ct is not None:
        loss = loss + (state[1] * torch.tensor(grad_c)).sum()
    loss.backward()
    result = {"output": out, "h_n": h_n, "grad_x": xt.grad, "grad_h0": ht.grad}
    if ct is not None:
        result.update(c_n=state[1], grad_c0=ct.grad)
    result.update({"grad " + name: p.grad for name, p in tlayer.named_parameters()})
    names = [name for name, _ in tlayer.named_parameters()]
    return {k: v.detach().double().numpy() for k, v in result.items()}, names


def _ours(layer, x, h0, c0, lengths, grad, grad_h, grad_c):
    output = layer.forward(x, h0, c0, lengths=lengths)
    result = {"output": output, "h_n": layer.h_n}
    grad_x = layer.backward(grad, grad_h, grad_c)
    result.update(grad_x=grad_x, grad_h0=layer.grad_h0)
    if layer.c_n is not None:
        result.update(c_n=layer.c_n, grad_c0=layer.grad_c0)
    result.update({"grad " + name: g for name, g in layer.grads().items()})
    return result


def _case(cell, rng, *, layers, bidirectional, batch_first, lengths, dtype, ops,
          shape=None):
    steps, batch, in_size, hidden = shape or (int(rng.integers(1, 7)), int(rng.integers(1, 6)),
                                             int(rng.integers(1, 7)), int(rng.integers(1, 9)))
    kind, _, kw = CELLS[cell]
    layer = kind(in_size, hidden, num_layers=layers, bidirectional=bidirectional,
                 batch_first=batch_first, dtype=dtype, rng=int(rng.integers(1000)), ops=ops,
                 **kw)
    x = rng.standard_normal((batch, steps, in_size) if batch_first else (steps, batch, in_size))
    states = (layers * (2 if bidirectional else 1), batch, hidden)
    h0 = rng.standard_normal(states)
    c0 = rng.standard_normal(states) if cell == "lstm" else None
    lens = None
    if lengths:
        lens = rng.integers(1, steps + 1, batch)
        lens[rng.integers(batch)] = steps  # torch pads to the longest; total_length covers it
    out_shape = x.shape[:2] + (states[0] // layers * hidden,)
    grad, grad_h = rng.standard_normal(out_shape), rng.standard_normal(states)
    grad_c = rng.standard_normal(states) if cell == "lstm" else None
    cast = [None if a is None else a.astype(dtype) for a in (x, h0, c0, grad, grad_h, grad_c)]
    x, h0, c0, grad, grad_h, grad_c = cast
    return layer, (x, h0, c0, lens, grad, grad_h, grad_c)


TORCH_CASES = [(cell, layers, bi, bf, lengths)
               for cell in CELLS for layers in (1, 2) for bi in (False, True)
               for bf in (True, False) for lengths in (False, True)
               if (layers == 2) == (bi != bf) or cell == "lstm"]


@pytest.mark.parametrize("cell,layers,bidirectional,batch_first,lengths", TORCH_CASES)
def test_float64_matches_torch(cell, layers, bidirectional, batch_first, lengths):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(repr((cell, layers, bidirectional, batch_first,
                                                 lengths)).encode()))
    for _ in range(2):
        layer, args = _case(cell, rng, layers=layers, bidirectional=bidirectional,
                            batch_first=batch_first, lengths=lengths, dtype=np.float64,
                            ops=cyconv)
        ours = _ours(layer, *args)
        theirs, names = _torch_run(torch, cell, layer, *args[:4], *args[4:], np.float64)
        assert list(layer.params()) == names  # torch's parameter order
        assert set(ours) == set(theirs)
        for key in theirs:
            assert _rel(ours[key], theirs[key]) <= 1e-10, key


@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_matches_torch_float64(cell):
    """float32 against torch in float64 (the same weights, rounded to float32): within the
    float32 accuracy contract on these well-conditioned (torch-initialized) weights."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    layer, args = _case(cell, rng, layers=2, bidirectional=True, batch_first=True,
                        lengths=True, dtype=np.float32, ops=cyconv, shape=(9, 21, 13, 37))
    ours = _ours(layer, *args)
    layer64 = CELLS[cell][0](13, 37, num_layers=2, bidirectional=True, dtype=np.float64,
                             **CELLS[cell][2])
    layer64.load_state_dict(layer.state_dict())
    args64 = [a if a is None or a.dtype.kind == "i" else a.astype(np.float64) for a in args]
    theirs, _ = _torch_run(torch, cell, layer64, *args64, np.float64)
    for key in theirs:
        assert ours[key].dtype == np.float32, key
        assert _rel(ours[key], theirs[key]) <= 1e-5, key


def _op_args(mode, rng, steps, batch, in_size, hidden, dtype=np.float64, bias=True):
    gates = GATES[mode]
    scale = 1 / np.sqrt(hidden)
    args = [rng.standard_normal((steps, batch, in_size)),
            rng.uniform(-scale, scale, (gates * hidden, in_size)) * 2,
            rng.uniform(-scale, scale, (gates * hidden, hidden)) * 2,
            rng.standard_normal(gates * hidden) * 0.3 if bias else None,
            rng.standard_normal(gates * hidden) * 0.3 if bias else None,
            rng.standard_normal((batch, hidden)),
            rng.standard_normal((batch, hidden)) if mode == "lstm" else None]
    return [None if a is None else a.astype(dtype) for a in args]


SHAPES = [(1, 1, 1, 1), (1, 3, 2, 5), (4, 1, 3, 1), (5, 17, 3, 13), (3, 9, 1, 50),
          (2, 2, 70, 3), (0, 3, 2, 4), (3, 0, 2, 4)]


@pytest.mark.parametrize("mode", list(GATES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_reference_matches_compiled(mode, shape):
    """Both backends, every output and gradient, degenerate shapes included (T = 0, N = 0,
    one unit, one step, one sequence), with and without lengths and biases, both directions."""
    rng = np.random.default_rng(sum(shape) + len(mode))
    steps, batch = shape[:2]
    for reverse, bias, with_lengths in ((False, True, False), (True, False, True)):
        args = _op_args(mode, rng, *shape, bias=bias)
        lengths = rng.integers(0, steps + 1, batch) if with_lengths else None
        ours = compiled.recurrent_forward(mode, *args, lengths=lengths, reverse=reverse)
        theirs = ref.recurrent.recurrent_forward(mode, *args, lengths=lengths, reverse=reverse)
        grads = [rng.standard_normal(ours.output.shape), rng.standard_normal(ours.h_n.shape),
                 rng.standard_normal(ours.h_n.shape) if mode == "lstm" else None]
        g_ours = compiled.recurrent_backward(ours.cache, *grads)
        g_theirs = ref.recurrent.recurrent_backward(theirs.cache, *grads)
        for name, a, b in zip(("output", "h_n", "c_n") + g_ours._fields,
                              tuple(ours[:3]) + tuple(g_ours), tuple(theirs[:3]) + tuple(g_theirs)):
            if b is None:
                assert a is None, name
                continue
            assert np.all(np.isfinite(a)), name
            assert _rel(a, b) <= 1e-12, name


@pytest.mark.parametrize("mode", list(GATES))
def test_finite_differences(mode):
    """<g, output> + <g_h, h_n> (+ <g_c, c_n>) along a random direction of each argument:
    the central difference equals the compiled gradient's inner product."""
    rng = np.random.default_rng(3)
    steps, batch, in_size, hidden = 4, 3, 3, 5
    args = _op_args(mode, rng, steps, batch, in_size, hidden)
    lengths = np.array([4, 2, 3])
    names = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0")
    out = compiled.recurrent_forward(mode, *args, lengths=lengths, reverse=True)
    g = [rng.standard_normal(out.output.shape), rng.standard_normal(out.h_n.shape),
         rng.standard_normal(out.h_n.shape) if mode == "lstm" else None]
    grads = compiled.recurrent_backward(out.cache, *g)
    by_name = dict(zip(names, (grads.grad_input, grads.grad_w_ih, grads.grad_w_hh,
                               grads.grad_b_ih, grads.grad_b_hh, grads.grad_h0, grads.grad_c0)))

    def loss(values):
        r = compiled.recurrent_forward(mode, *values, lengths=lengths, reverse=True)
        total = np.sum(g[0] * r.output) + np.sum(g[1] * r.h_n)
        return total + (np.sum(g[2] * r.c_n) if mode == "lstm" else 0.0)

    eps = 1e-6
    for k, name in enumerate(names):
        if args[k] is None:
            continue
        v = rng.standard_normal(args[k].shape)
        plus, minus = list(args), list(args)
        plus[k], minus[k] = args[k] + eps * v, args[k] - eps * v
        numeric = (loss(plus) - loss(minus)) / (2 * eps)
        assert numeric == pytest.approx(float(np.sum(by_name[name] * v)), rel=1e-6, abs=1e-7), \
            name


@pytest.mark.parametrize("mode", list(GATES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_count_does_not_change_a_bit(mode, dtype):
    rng = np.random.default_rng(11)
    # 35 rows: full row blocks on the micro-kernel, the last 3 rows on the one-row GEMV
    args = _op_args(mode, rng, 6, 35, 29, 61, dtype=dtype)
    lengths = rng.integers(0, 7, 35)
    grads = None
    results = []
    for n in (1, 2, 3):
        out = compiled.recurrent_forward(mode, *args, lengths=lengths, num_threads=n)
        if grads is None:
            grads = [rng.standard_normal(out.output.shape).astype(dtype),
                     rng.standard_normal(out.h_n.shape).astype(dtype), None]
        back = compiled.recurrent_backward(out.cache, *grads, num_threads=n)
        results.append([out.output, out.h_n, out.c_n] + list(back))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            if a is None:
                assert b is None
            else:
                assert a.tobytes() == b.tobytes()


def test_layer_with_reference_backend_matches_compiled():
    rng = np.random.default_rng(5)
    for cell in CELLS:
        layer, args = _case(cell, rng, layers=2, bidirectional=True, batch_first=False,
                            lengths=True, dtype=np.float64, ops=cyconv)
        twin = CELLS[cell][0](layer.input_size, layer.hidden_size, num_layers=2,
                              bidirectional=True, batch_first=False, dtype=np.float64,
                              ops=ref, **CELLS[cell][2])
        twin.load_state_dict(layer.state_dict())
        ours, theirs = _ours(layer, *args), _ours(twin, *args)
        for key in ours:
            assert _rel(ours[key], theirs[key]) <= 1e-12, (cell, key)


def test_layer_conventions():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, rng=0)
    assert list(lstm.params()) == [
        f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert lstm.params()["weight_ih_l0"].shape == (16, 3)
    assert lstm.params()["weight_ih_l1"].shape == (16, 8)
    assert lstm.params()["weight_hh_l1_reverse"].shape == (16, 4)
    bound = 1 / np.sqrt(4)
    assert all(np.abs(p).max() <= bound and p.dtype == np.float32
               for p in lstm.params().values())
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    h0 = np.zeros((4, 2, 4), np.float32)
    y = lstm.forward(x, (h0, h0 + 1))
    assert y.shape == (2, 5, 8) and lstm.h_n.shape == lstm.c_n.shape == (4, 2, 4)
    np.testing.assert_array_equal(y, lstm.forward(x, h0, h0 + 1))
    gru = nn.GRU(3, 4, bias=False, rng=0)
    assert list(gru.params()) == ["weight_ih_l0", "weight_hh_l0"]
    gru.forward(x)
    assert gru.c_n is None
    assert gru.backward(np.ones((2, 5, 4), np.float32)).shape == x.shape
    assert gru.grad_c0 is None and gru.grad_h0.shape == (1, 2, 4)
    assert "LSTM(3, 4, num_layers=2, bidirectional=True)" == repr(lstm)


def test_dropout_between_layers():
    layer = nn.GRU(3, 4, num_layers=2, dropout=0.5, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 6, 3))
    train_out = layer.forward(x)
    grad = layer.backward(np.ones_like(train_out))
    assert grad.shape == x.shape
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), layer.forward(x))  # no dropout in eval
    assert not np.array_equal(layer.forward(x), train_out)


@pytest.mark.parametrize("backend", [compiled, ref.recurrent], ids=["compiled", "reference"])
def test_bad_arguments(backend):
    rng = np.random.default_rng(0)
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _op_args("lstm", rng, 3, 2, 4, 5)
    f = backend.recurrent_forward
    with pytest.raises(ValueError, match="mode"):
        f("elman", x, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"x must be 3-D .*got shape \(2, 4\)"):
        f("lstm", x[0], w_ih, w_hh)
    with pytest.raises(ValueError, match=r"w_ih must have shape \(20, 4\).*\(20, 3\)"):
        f("lstm", x, w_ih[:, :3], w_hh)
    with pytest.raises(ValueError, match=r"w_hh must have shape .*\(15, 5\)"):
        f("lstm", x, w_ih, w_hh[:15])
    with pytest.raises(ValueError, match="b_ih and b_hh"):
        f("lstm", x, w_ih, w_hh, b_ih, None)
    with pytest.raises(ValueError, match=r"b_hh must have shape \(20,\)"):
        f("lstm", x, w_ih, w_hh, b_ih, b_hh[:4])
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\).*\(3, 5\)"):
        f("lstm", x, w_ih, w_hh, h0=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="c0 is only for mode 'lstm'"):
        f("gru", x, w_ih[:15], w_hh[:15], c0=c0)
    with pytest.raises(TypeError, match="w_hh has dtype float32 but x has dtype float64"):
        f("lstm", x, w_ih, w_hh.astype(np.float32))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        f("lstm", x.astype(np.int64), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 3\]"):
        f("lstm", x, w_ih, w_hh, lengths=[1, 4])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        f("lstm", x, w_ih, w_hh, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="lengths must hold integers"):
        f("lstm", x, w_ih, w_hh, lengths=[1.0, 2.0])
    out = f("lstm", x, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(3, 2, 5\)"):
        backend.recurrent_backward(out.cache, np.zeros((3, 2, 4)))
    with pytest.raises(TypeError, match="cache must be"):
        backend.recurrent_backward(object(), np.zeros((3, 2, 5)))


def test_layer_bad_arguments():
    layer = nn.LSTM(3, 4, rng=0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, input_size\) with "
                                         r"input_size=3, got \(2, 5, 4\)"):
        layer.forward(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 2, 4\)"):
        layer.forward(np.zeros((2, 5, 3), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="x has dtype float64"):
        layer.forward(np.zeros((2, 5, 3)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.GRU(3, 4).backward(np.zeros((2, 5, 4), np.float32))
    layer.forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad must have the output's shape \(2, 5, 4\)"):
        layer.backward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="c0 is only for LSTM"):
        nn.GRU(3, 4).forward(np.zeros((2, 5, 3), np.float32), c0=np.zeros((1, 2, 4)))


@pytest.mark.parametrize("batch_first", [True, False])
def test_unbatched_sequence_matches_torch(batch_first):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    layer = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first,
                    dtype=np.float64, rng=1)
    tlayer = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first,
                           dtype=torch.float64)
    with torch.no_grad():
        for name, value in layer.params().items():
            getattr(tlayer, name).copy_(torch.from_numpy(value))
    x, h0, c0 = rng.standard_normal((5, 3)), rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    grad, grad_h = rng.standard_normal((5, 8)), rng.standard_normal((4, 4))
    y = layer.forward(x, (h0, c0))
    dx = layer.backward(grad, grad_h)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    out, (hn, cn) = tlayer(xt, (ht, torch.tensor(c0)))
    ((out * torch.tensor(grad)).sum() + (hn * torch.tensor(grad_h)).sum()).backward()
    assert y.shape == (5, 8) and layer.h_n.shape == layer.c_n.shape == (4, 4)
    for ours, theirs in ((y, out), (layer.h_n, hn), (layer.c_n, cn), (dx, xt.grad),
                         (layer.grad_h0, ht.grad)):
        assert _rel(ours, theirs.detach().numpy()) <= 1e-10
    with pytest.raises(ValueError, match="lengths= needs a batch"):
        layer.forward(x, lengths=[5])


def test_reused_work_arrays_give_the_same_results():
    """A layer's second call borrows the first call's arrays (reuse=): the same bits as a
    fresh layer, and the spent cache refuses a backward."""
    rng = np.random.default_rng(4)
    for cell in ("lstm", "gru"):
        layer, args = _case(cell, rng, layers=2, bidirectional=True, batch_first=True,
                            lengths=True, dtype=np.float32, ops=cyconv)
        fresh = copy.deepcopy(layer)
        _ours(layer, *args)
        other = [a if a is None or a.dtype.kind == "i" else a[::-1].copy() for a in args]
        again = _ours(layer, *other)          # reuses the first call's buffers
        expected = _ours(fresh, *other)
        for key in expected:
            assert again[key].tobytes() == expected[key].tobytes(), (cell, key)
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _op_args("lstm", rng, 3, 2, 4, 5)
    first = compiled.recurrent_forward("lstm", x, w_ih, w_hh)
    compiled.recurrent_forward("lstm", x, w_ih, w_hh, reuse=first.cache)
    with pytest.raises(ValueError, match="cache was spent"):
        compiled.recurrent_backward(first.cache, np.zeros((3, 2, 5)))


@pytest.mark.parametrize("mode", list(GATES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_keeps_nothing_and_gives_the_same_bits(mode, dtype):
    """keep=False (need_grad=False on the layers): the same output and final states, bit
    for bit, with the states in a ring of two and the gates in the tile scratch."""
    rng = np.random.default_rng(12)
    args = _op_args(mode, rng, 7, 35, 29, 61, dtype=dtype)
    lengths = rng.integers(0, 8, 35)
    for reverse in (False, True):
        full = compiled.recurrent_forward(mode, *args, lengths=lengths, reverse=reverse,
                                          num_threads=2)
        lean = compiled.recurrent_forward(mode, *args, lengths=lengths, reverse=reverse,
                                          num_threads=2, keep=False)
        assert lean.cache is None
        for a, b in zip(full[:3], lean[:3]):
            assert (a is None and b is None) or a.tobytes() == b.tobytes()
    layer = nn.LSTM(5, 6, num_layers=2, bidirectional=True, rng=0)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    y = layer.forward(x)
    np.testing.assert_array_equal(layer.forward(x, need_grad=False), y)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones_like(y))
    assert ref.recurrent.recurrent_forward(mode, *args[:5], keep=False).cache is None
