"""Type stubs for the compiled module _adaptive_pool.pyx (signatures: the .pyx; kept in step
with it by tests/test_packaging.py). Kernel arrays are C-contiguous NumPy arrays, passed as
typed memoryviews."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray


def avg_backward(grad_y: _Array, grad_x: _Array, limits: _Array, rows: _Array,
                 num_threads: int) -> None: ...
def avg_forward(x: _Array, y: _Array, limits: _Array, rows: _Array, num_threads: int) -> None: ...
def max_backward(x: _Array, grad_y: _Array, indices: _Array, use_indices: bool, grad_x: _Array,
                 limits: _Array, num_threads: int) -> None: ...
def max_forward(x: _Array, y: _Array, indices: _Array, want_index: bool, limits: _Array,
                num_threads: int) -> None: ...
