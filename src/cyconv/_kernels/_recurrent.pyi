"""Type stubs for the compiled module _recurrent.pyx (signatures: the .pyx; kept in step with
it by tests/test_packaging.py). Kernel arrays are C-contiguous NumPy arrays, passed as typed
memoryviews."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray

KC: int
MODES: dict[str, int]


def tile_shape(double: bool) -> tuple[int, int]: ...
def gemm(a: _Array, ars: int, acs: int, b: _Array, brs: int, bcs: int, c: _Array, K: int,
         init: bool, c_init: _Array, bpack: _Array, scratch: _Array, n_threads: int) -> None: ...
def column_sums(a: _Array, out: _Array, n_threads: int) -> None: ...
def forward_steps(mode: int, reverse: bool, hb: int, xproj: _Array, whh_panels: _Array, bhh: _Array,
                  lengths: _Array, hs: _Array, cs: _Array, acts: _Array, aux: _Array, y: _Array,
                  hpack: _Array, tiles: _Array, n_threads: int) -> None: ...
def backward_steps(mode: int, reverse: bool, hb: int, dy: _Array, whhT_panels: _Array, lengths: _Array,
                   hs: _Array, cs: _Array, acts: _Array, aux: _Array, dgx: _Array, dgh: _Array,
                   separate_dgh: bool, carry: _Array, dc: _Array, dpack: _Array,
                   wihT_panels: _Array, dx: _Array, tiles: _Array,
                   n_threads: int) -> None: ...
