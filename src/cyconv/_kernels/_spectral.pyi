"""Type stubs for the compiled module _spectral.pyx (signatures: the .pyx; kept in step with
it by tests/test_packaging.py). Kernel arrays are C-contiguous NumPy arrays, passed as typed
memoryviews."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray


def contract(a: _Array, a_strides: tuple, b: _Array, b_strides: tuple, z: _Array, K: int,
             conj_a: bool, conj_b: bool, part: int, parts: int, num_threads: int) -> None: ...
