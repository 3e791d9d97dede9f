"""Type stubs for _winograd_weight.pyx, the Winograd F(4x4, 3x3) weight gradient (kept in
step with the .pyx by tests/test_packaging.py); arrays are C-contiguous NumPy arrays."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray


def weight_grad_from_transformed(du: _Array, g: _Array, gw: _Array, groups: int, narrow: bool,
                                 panel_major: bool, num_threads: int) -> None: ...
def winograd_weight_grad_staged(x: _Array, gy: _Array, du: _Array, groups: int, ph: int,
                                pw: int, rows: int, segment_rows: int, narrow: bool,
                                offsets: _Array, stage: _Array, work: _Array,
                                plane_sums: _Array, want_sums: bool, chunk_tiles: int,
                                num_threads: int) -> None: ...
def winograd_weight_grad(x: _Array, gy: _Array, partials: _Array, groups: int, ph: int, pw: int,
                         rows: int, TBs: int, narrow: bool, offsets: _Array, work: _Array,
                         plane_sums: _Array, want_sums: bool, num_threads: int) -> None: ...
