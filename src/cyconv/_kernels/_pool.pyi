"""Type stubs for the compiled module _pool.pyx, the pooling forwards (signatures: the .pyx;
kept in step with it by tests/test_packaging.py). Kernel arrays are C-contiguous NumPy arrays
of the op's dtype, passed as typed memoryviews; the window is a PoolWindow packed from a dict
of its int fields."""
from collections.abc import Mapping
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray

SCRATCH_PAD: int


class PoolWindow:
    def __init__(self, window: Mapping[str, int]) -> None: ...


def avg_backward_scratch_length(window: PoolWindow) -> int: ...
def avg_forward(x: _Array, y: _Array, window: PoolWindow, count_include_pad: bool,
                work_stride: int, num_threads: int) -> None: ...
def extremum_forward(x: _Array, y: _Array, indices: _Array, want_index: bool, largest: bool,
                     window: PoolWindow, work: _Array, taps: _Array, num_threads: int) -> None: ...
def forward_scratch_length(window: PoolWindow) -> int: ...
def isa_level() -> int: ...
def set_prefetch_bytes(nbytes: int) -> int: ...
