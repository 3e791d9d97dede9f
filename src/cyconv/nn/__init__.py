"""Layers for NumPy models on cyconv's kernels: forward/backward, SGD, softmax cross-entropy.

Every layer has ``forward(x)``, ``backward(grad)`` (returns the input gradient and stores the
parameter gradients), ``params()``/``grads()`` and ``state_dict()``/``load_state_dict()``/
``save(path)``/``load(path)`` (``.npz``). Convolution and pooling layers take ``ops=``: the
``cyconv`` module (default) or ``cyconv.reference``, so the same network runs on the
compiled kernels and on the pure-NumPy oracle. Weights come from a seeded
``numpy.random.Generator`` (He or Glorot initialisation); float32 by default, ``dtype=``
selects float64.

Sequences: ``RNN``, ``LSTM`` and ``GRU`` (PyTorch's parameters and gate order, compiled
forward and backpropagation through time, ``lengths=`` for padded batches), ``Embedding``,
``LastStep`` and ``TimeDistributed``; ``Adam``, and gradient clipping by global norm
(``clip_norm=`` of ``SGD`` and ``Adam``, ``clip_grad_norm``).

Example
-------
>>> from cyconv import nn
>>> model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
...                       nn.Flatten(), nn.Linear(8 * 4 * 4, 10, rng=1))
>>> optimizer = nn.SGD(model, lr=0.1, momentum=0.9)
>>> # for x, labels in batches:
>>> #     loss, grad = nn.softmax_cross_entropy(model.forward(x), labels)
>>> #     model.backward(grad); optimizer.step()
"""
from ._adam import Adam, clip_grad_norm
from ._layers import (AvgPool1d, AvgPool2d, AvgPool3d, Conv1d, Conv2d, Conv3d, ConvTranspose2d,
                      Dropout, Flatten, GlobalAvgPool, Linear, MaxPool1d, MaxPool2d, MaxPool3d,
                      MinPool1d, MinPool2d, MinPool3d, ReLU, init_weight)
from ._module import Module, Sequential
from ._optim import SGD, softmax, softmax_cross_entropy
from ._recurrent import GRU, LSTM, RNN
from ._sequence import Embedding, LastStep, TimeDistributed
from ._train import accuracy, predict, train_epoch

__all__ = [
    "AvgPool1d", "AvgPool2d", "AvgPool3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d",
    "Dropout", "Flatten", "GlobalAvgPool", "Linear", "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "MinPool1d", "MinPool2d", "MinPool3d", "Module", "ReLU", "SGD",
    "Sequential", "accuracy", "init_weight", "predict", "softmax", "softmax_cross_entropy",
    "train_epoch",
    # sequences
    "Adam", "Embedding", "GRU", "LSTM", "LastStep", "RNN", "TimeDistributed", "clip_grad_norm",
]
