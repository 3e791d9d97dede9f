"""Type stubs for _channels_last.pyx, the channels-last convolution kernel (kept in step with
the .pyx by tests/test_packaging.py); arrays are flat C-contiguous NumPy arrays, Geom structs
dicts."""
from collections.abc import Mapping
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray
_Struct = Mapping[str, int]  # a Cython struct argument, converted from a dict


def channels_last_forward(x: _Array, batch: int, channels: int, a_packed: _Array,
                          offsets: _Array, y: _Array, out_channels: int, bias: _Array,
                          has_bias: bool, groups: int, g: _Struct, narrow: bool, rows: int,
                          span: int, band: tuple[int, int, int] | None, work: _Array,
                          num_threads: int) -> None: ...
