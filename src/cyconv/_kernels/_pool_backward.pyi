"""Type stubs for the compiled module _pool_backward.pyx, the pooling gradients (signatures:
the .pyx; kept in step with it by tests/test_packaging.py). Kernel arrays are C-contiguous
NumPy arrays of the op's dtype, passed as typed memoryviews; the window is _pool's
PoolWindow."""
from typing import Any

from cyconv._kernels._pool import PoolWindow

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray


def avg_backward(grad_y: _Array, grad_x: _Array, window: PoolWindow, count_include_pad: bool,
                 work: _Array, num_threads: int) -> None: ...
def extremum_backward(grad_y: _Array, indices: _Array, grad_x: _Array,
                      num_threads: int) -> None: ...
def extremum_backward_recompute(x: _Array, grad_y: _Array, grad_x: _Array, largest: bool,
                                window: PoolWindow, work: _Array, taps: _Array,
                                num_threads: int) -> None: ...
