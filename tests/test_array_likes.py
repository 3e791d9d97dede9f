"""Any array-like in, the same answer out: every public op (compiled and reference) takes
lists, tuples, memoryviews and CPU torch tensors wherever it takes an ndarray, and refuses
what cannot be read as numbers with a TypeError naming the argument."""
import numpy as np
import pytest

import cyconv
from cyconv import reference as ref
from support.ops import CASES, OPS, as_arrays

ARRAY_ARGS = ("x", "weight", "bias", "grad_output", "indices")


def _converted(name, convert, module):
    args, kwargs = CASES[name](np.float64, np.random.default_rng(0))
    args = [convert(a) if isinstance(a, np.ndarray) else a for a in args]
    kwargs = {k: convert(v) if k in ARRAY_ARGS and isinstance(v, np.ndarray) else v
              for k, v in kwargs.items()}
    return getattr(module, name)(*args, **kwargs)


def _plain(name, module):
    return _converted(name, lambda a: a, module)


@pytest.mark.parametrize("kind", ["list", "tuple-nested", "memoryview"])
@pytest.mark.parametrize("name", OPS)
def test_python_sequences_give_the_ndarray_result(name, kind):
    convert = {"list": lambda a: a.tolist(),
               "tuple-nested": lambda a: _tuples(a.tolist()),
               "memoryview": lambda a: memoryview(np.ascontiguousarray(a))}[kind]
    for module in (cyconv, ref) if hasattr(ref, name) else (cyconv,):
        for got, want in zip(as_arrays(_converted(name, convert, module)),
                             as_arrays(_plain(name, module)), strict=True):
            np.testing.assert_array_equal(got, want)


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


@pytest.mark.parametrize("name", OPS)
def test_cpu_torch_tensors_give_the_ndarray_result(name):
    torch = pytest.importorskip("torch")
    got = _converted(name, torch.from_numpy, cyconv)
    for g, w in zip(as_arrays(got), as_arrays(_plain(name, cyconv)), strict=True):
        np.testing.assert_array_equal(g, w)


def test_torch_tensors_that_need_grad_are_refused_saying_what_to_do():
    torch = pytest.importorskip("torch")
    x = torch.ones((1, 1, 5, 5), dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match=r"x is a torch tensor that requires grad.*detach"):
        cyconv.conv2d(x, np.ones((1, 1, 3, 3)))
    with pytest.raises(TypeError, match=r"x is a torch tensor that requires grad"):
        cyconv.max_pool2d(x, 2)


@pytest.mark.parametrize("bad, word", [([[1.0, 2.0], [3.0]], "ragged"),
                                       ([{"a": 1}], "x must")])
def test_what_numpy_cannot_read_as_numbers_is_a_type_error(bad, word):
    with pytest.raises(TypeError, match="x"):
        cyconv.conv1d(bad, np.ones((1, 1, 1)))
    with pytest.raises(TypeError, match="x"):
        cyconv.avg_pool1d(bad, 1)


def test_integer_lists_are_refused_not_cast():
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        cyconv.conv1d([[[1, 2, 3]]], np.ones((1, 1, 1)))
