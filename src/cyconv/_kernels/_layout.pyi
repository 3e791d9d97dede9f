"""Type stubs for _layout.pyx, the convolution layout kernels (kept in step with the .pyx by
tests/test_packaging.py); arrays are C-contiguous NumPy arrays, Geom structs dicts."""
from collections.abc import Mapping
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64 ndarray
_Struct = Mapping[str, int]  # a Cython struct argument, converted from a dict


def gather_phase(x: _Array, z: _Array, rd: int, rh: int, rw: int, sd: int, sh: int, sw: int,
                 num_threads: int) -> None: ...
def pack_grad_output_grid(grad_y: _Array, out: _Array, g: _Struct, groups: int, ob: int, Q: int,
                          plane_sums: _Array, want_sums: bool, num_threads: int) -> None: ...
def pad_planes(x4: _Array, flat: _Array, GD: int, GH: int, GW: int, pd: int, ph: int, pw: int,
               num_threads: int) -> None: ...
def scatter_phase(z: _Array, out: _Array, rd: int, rh: int, rw: int, sd: int, sh: int, sw: int,
                  num_threads: int) -> None: ...
def swap_last_axes(src: _Array, dst: _Array, num_threads: int) -> None: ...
