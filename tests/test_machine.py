"""The machine facts the plans scale to: cache sizes from sysfs (defaults where unreadable),
and the byte budgets derived from them."""
import numpy as np

from cyconv import _conv_tuning as tuning
from cyconv import _machine


def test_cache_sizes_are_read_or_defaulted():
    l1, l2 = _machine.cache_bytes(1, 12345), _machine.cache_bytes(2, 67890)
    for size, default in ((l1, 12345), (l2, 67890)):
        assert size == default or (size >= 4096 and size % 1024 == 0)
    assert _machine.cache_bytes(9, 4321) == 4321  # no such level


def test_budgets_follow_the_caches():
    assert tuning.L2_BYTES == tuning.L2_CACHE_BYTES // 2
    assert tuning.L2_TARGET_BYTES == tuning.L2_CACHE_BYTES // 4
    assert tuning.PAD_PER_ITEM_BYTES == tuning.L2_CACHE_BYTES // 2
    assert tuning.PIXEL_ROWS_MAX_L1_BYTES == tuning.L1_BYTES
    assert np.all(np.array([tuning.L1_BYTES, tuning.L2_CACHE_BYTES]) >= 4096)
