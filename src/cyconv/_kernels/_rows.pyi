"""Type stubs for _rows.pyx, the row convolution kernels (kept in step with the .pyx by
tests/test_packaging.py); arrays are C-contiguous NumPy arrays, Geom structs dicts."""
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray
_Struct = Mapping[str, int]  # a Cython struct argument, converted from a dict


class RowKernel(IntEnum):
    ROWS_WIDE = 0
    ROWS_NARROW = 1
    ROWS_PIXELS = 2


def padded_forward(x_padded: _Array, image_stride: int, offsets: _Array, a_packed: _Array,
                   y: _Array, bias: _Array, has_bias: bool, groups: int, channels: int, g: _Struct,
                   row_tiles: bool, row_kernel: int, block: int, work: _Array, KC: int,
                   num_threads: int, x_raw: _Array | None = ..., raw_pads: tuple[int, int,
                   int] = ..., pad_work: _Array | None = ..., edge_offsets: _Array | None = ...,
                   edge_work: _Array | None = ...) -> None: ...
def rowpairs_forward(x_raw: _Array, pads: tuple[int, ...], offsets: _Array, a_packed: _Array,
                     y: _Array, bias: _Array, has_bias: bool, groups: int, g: _Struct,
                     pad_work: _Array, work: _Array, KC: int, num_threads: int) -> None: ...
