"""Type stubs for the compiled module _fold.pyx (signatures: the .pyx; kept in step with it
by tests/test_packaging.py). Kernel arrays are flat C-contiguous NumPy arrays, passed as
typed memoryviews."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray


def fold(cols: _Array, y: _Array, geometry: _Array, spans: _Array, num_threads: int) -> None: ...
def unfold(x: _Array, cols: _Array, geometry: _Array, num_threads: int) -> None: ...
