"""Type stubs for the compiled module _padding.pyx (signatures: the .pyx; kept in step with
it by tests/test_packaging.py). Kernel arrays are C-contiguous NumPy arrays, passed as typed
memoryviews."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray


def pad_or_fold(src: _Array, dst: _Array, md: _Array, mh: _Array, mw: _Array, lo_w: int,
                adjoint: bool, num_threads: int) -> None: ...
