"""Type stubs for _winograd.pyx, the Winograd F(4x4, 3x3) forward and weight transform (kept
in step with the .pyx by tests/test_packaging.py); arrays are C-contiguous NumPy arrays."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray


def transform_matrices() -> tuple[Any, Any]: ...
def transform_scratch(rows: int, tiles_w: int) -> int: ...
def transform_weights(w: _Array, g: _Array, u_packed: _Array, MR: int,
                      num_threads: int) -> None: ...
def winograd_forward(x: _Array, x_shape: tuple[int, ...], x_last: bool, u_packed: _Array,
                     y: _Array, y_shape: tuple[int, ...], y_last: bool, bias: _Array,
                     has_bias: bool, groups: int, dh: int, dw: int, phases: _Array,
                     rows: int, TBs: int, co_split: int, offsets: _Array, work: _Array, KC: int,
                     num_threads: int) -> None: ...
