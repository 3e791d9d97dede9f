"""The layer protocol shared by every ``cyconv.nn`` layer, and ``Sequential``.

A layer is a plain object with ``forward(x)`` and ``backward(grad)``: ``forward`` keeps what
the backward pass needs, ``backward`` returns the gradient with respect to the input and
stores the gradients of the layer's parameters, readable through ``grads()`` under the same
names as ``params()``. There is no autograd tape: a network is a ``Sequential`` chain, and
its ``backward`` calls the layers' ``backward`` in reverse order.
"""
from __future__ import annotations

import copy
import importlib
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def default_ops():
    """The compiled ops (the ``cyconv`` module), imported on first use.

    Imported lazily because ``cyconv/__init__`` imports this package.
    """
    return importlib.import_module("cyconv")


def resolve_ops(ops):
    """``ops`` itself, or the compiled ``cyconv`` module for ``None``."""
    return default_ops() if ops is None else ops


def resolve_rng(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, an int seed, or ``None`` (seed 0).

    ``None`` means seed 0 rather than fresh OS entropy, so that every network built
    without an explicit generator is reproducible.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


def resolve_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def positive_int(value, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


class Module:
    """Base class of the layers: train/eval mode, parameters, gradients, state dicts.

    Subclasses with parameters keep them in ``self._params`` (name -> array) and fill
    ``self._grads`` with arrays of the same shapes in ``backward``. Parameters are updated
    in place (by ``SGD.step`` or ``load_state_dict``), so the arrays returned by
    ``params()`` stay the live parameters.
    """

    def __init__(self):
        self.training = True
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}

    def __deepcopy__(self, memo) -> "Module":
        # Backends are modules, which cannot be copied: the copy shares them.
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, value if key == "ops" else copy.deepcopy(value, memo))
        return clone

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> "Module":
        """Set training mode (``Dropout`` drops only in training mode); returns ``self``."""
        self.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def set_ops(self, ops) -> "Module":
        """Run on the backend ``ops`` from now on (``cyconv``, ``cyconv.reference``, or
        ``None`` for ``cyconv``); returns ``self``. Layers without ops ignore it."""
        if hasattr(self, "ops"):
            self.ops = resolve_ops(ops)
        return self

    def params(self) -> dict[str, np.ndarray]:
        """The live parameter arrays, by name (``{}`` for layers without parameters)."""
        return dict(self._params)

    def grads(self) -> dict[str, np.ndarray]:
        """The parameter gradients of the last ``backward``, by the names of ``params()``."""
        missing = [name for name in self._params if name not in self._grads]
        if missing:
            raise RuntimeError(f"{type(self).__name__}: no gradient for {missing} yet; "
                               "call forward and backward first")
        return {name: self._grads[name] for name in self._params}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters, by name (what ``save`` writes)."""
        return {name: value.copy() for name, value in self.params().items()}

    def load_state_dict(self, state) -> None:
        """Copy ``state`` (name -> array, e.g. an opened ``.npz``) into the parameters.

        The names and shapes must match exactly; values are cast to each parameter's dtype.
        """
        params = self.params()
        names = set(state.keys())
        if names != set(params):
            raise ValueError(f"state names {sorted(names)} do not match the parameters "
                             f"{sorted(params)}")
        for name, target in params.items():
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(f"state[{name!r}] has shape {value.shape}, the parameter "
                                 f"has shape {target.shape}")
            np.copyto(target, value, casting="same_kind")

    def save(self, path) -> None:
        """Write ``state_dict()`` to an ``.npz`` file (``numpy.savez``)."""
        np.savez(path, **self.state_dict())

    def load(self, path) -> None:
        """Load parameters written by ``save`` (``numpy.load`` then ``load_state_dict``)."""
        with np.load(path) as state:
            self.load_state_dict(state)

    def _saved(self, value, what: str):
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward "
                               f"(no saved {what})")
        return value


class Sequential(Module):
    """A chain of layers: ``forward`` runs them in order, ``backward`` in reverse.

    Parameter names are ``"<index>.<name>"`` (``"0.weight"``, ``"3.bias"``), as in PyTorch.
    """

    def __init__(self, *layers: Module):
        super().__init__()
        for index, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"layer {index} must be a cyconv.nn Module, got {layer!r}")
        self.layers = list(layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def train(self, mode: bool = True) -> "Sequential":
        super().train(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def set_ops(self, ops) -> "Sequential":
        for layer in self.layers:
            layer.set_ops(ops)
        return self

    def params(self) -> dict[str, np.ndarray]:
        return {f"{index}.{name}": value for index, layer in enumerate(self.layers)
                for name, value in layer.params().items()}

    def grads(self) -> dict[str, np.ndarray]:
        return {f"{index}.{name}": value for index, layer in enumerate(self.layers)
                for name, value in layer.grads().items()}

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
