"""Pure-NumPy reference implementations of every public op (the oracle for tests).

Same signatures as the ``cyconv`` ops, minus ``algorithm``, ``num_threads`` and ``out``.
Clarity over speed, but vectorized over the batch, channels and pixels (loops run over
kernel offsets only), so realistic shapes take seconds.
"""
from .._validate import ConvGrads
from ._conv import conv2d, conv2d_backward
from ._pool import (avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, min_pool2d,
                    min_pool2d_backward)

__all__ = [
    "ConvGrads",
    "avg_pool2d", "avg_pool2d_backward",
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward",
    "min_pool2d", "min_pool2d_backward",
]
