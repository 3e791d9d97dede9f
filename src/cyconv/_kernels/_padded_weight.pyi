"""Type stubs for _padded_weight.pyx, the stride-1 weight gradient on the padded grid (kept
in step with the .pyx by tests/test_packaging.py); arrays are C-contiguous NumPy arrays."""
from typing import Any

_Array = Any  # a typed memoryview argument: a C-contiguous float32/float64/index ndarray


def padded_weight_grad(x_padded: _Array, image_stride: int, gy_grid: _Array, Q: int,
                       runs: tuple[int, int, int], shifts: _Array, ident: _Array,
                       grad_w: _Array, groups: int, batch: int,
                       plane: int, tap_block: int, channel_blocks: int, panel_block: int,
                       tiles: _Array, accs: _Array, KC: int, partial_positions: int,
                       narrow: bool, num_threads: int) -> None: ...
