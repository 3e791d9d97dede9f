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
def column_sums(a: _Array, rows: int, pw: int, ps: int, out: _Array, n_threads: int) -> None: ...
def gemm_packed_b(a1: _Array, ars1: int, acs1: int, c1: _Array, a2: _Array, ars2: int,
                  acs2: int, c2: _Array, bp: _Array, K: int, scratch: _Array,
                  n_threads: int) -> None: ...
def forward_steps(mode: int, reverse: bool, hb: int, xproj: _Array, whh_panels: _Array, bhh: _Array,
                  lengths: _Array, hs: _Array, cs: _Array, acts: _Array, aux: _Array, y: _Array,
                  hpack: _Array, tiles: _Array, keep: bool, n_threads: int) -> None: ...
def backward_steps(mode: int, reverse: bool, hb: int, dy: _Array, whhT_panels: _Array, lengths: _Array,
                   hs: _Array, cs: _Array, acts: _Array, aux: _Array, dgx: _Array, dgh: _Array,
                   separate_dgh: bool, pw: int, ps: int, carry: _Array, dc: _Array, dpack: _Array,
                   wihT_panels: _Array, dx: _Array, tiles: _Array,
                   n_threads: int) -> None: ...
