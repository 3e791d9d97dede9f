"""Type stubs for _pointwise.pyx, the 1x1 convolution's GEMM (kept in step with the .pyx by
tests/test_packaging.py); arrays are C-contiguous NumPy arrays."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray


def pointwise_forward(x: _Array, offsets: _Array, a_packed: _Array, y: _Array, bias: _Array,
                      has_bias: bool, groups: int, block: int, work: _Array, KC: int,
                      rows_ahead: int, num_threads: int) -> None: ...
def pointwise_work_length(cig: int, block: int, KC: int, single: bool) -> int: ...
