"""Type stubs for _im2col.pyx, the im2col forward and col2im kernels (kept in step with the .pyx by
tests/test_packaging.py); arrays are C-contiguous NumPy arrays, Geom structs dicts."""
from collections.abc import Mapping
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray
_Struct = Mapping[str, int]  # a Cython struct argument, converted from a dict


def gemm_backward_input(grad_y: _Array, a_packed: _Array, grad_x: _Array, groups: int, g: _Struct,
                        block: int, channel_block: int, work: _Array, KC: int,
                        num_threads: int) -> None: ...
def gemm_forward(x: _Array, a_packed: _Array, y: _Array, bias: _Array, has_bias: bool, groups: int,
                 g: _Struct, block: int, work: _Array, KC: int, num_threads: int) -> None: ...
