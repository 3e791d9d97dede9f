"""Type stubs for _im2col_weight.pyx, the lowered weight gradient (kept in step with the .pyx by
tests/test_packaging.py); arrays are C-contiguous NumPy arrays, Geom structs dicts."""
from collections.abc import Mapping
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray
_Struct = Mapping[str, int]  # a Cython struct argument, converted from a dict


def gemm_backward_weight(grad_y: _Array, x: _Array, partial: _Array, groups: int, g: _Struct,
                         block: int, work: _Array, plane_sums: _Array, want_sums: bool,
                         num_threads: int) -> None: ...
