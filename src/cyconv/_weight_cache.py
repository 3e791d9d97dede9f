"""Transformed weights (Winograd's G w G^T, the FFT path's weight spectra) kept between
calls: a repeated call whose weight has the same bits skips the transform.

Entries are keyed by what else decides the transform (the path, shapes, transform lengths)
and hold a copy of the weight they came from; a lookup compares the caller's weight with
that copy bit for bit, so a weight changed in place (an optimizer step) is never served a
stale transform, and -0.0 is not 0.0.
"""
from __future__ import annotations

import collections
import threading

import numpy as np

from . import _conv_tuning as tuning


class WeightCache:
    """The transformed weights of the last few weights seen, each with a copy of its
    source, at most ``budget`` bytes (least recently used first out). A lookup compares the
    source's bits with the copy (one pass over the weight, stopping at the first
    difference: a training step's updated weights miss at once). Entries are never changed
    in place, so a caller may keep using one another thread replaces."""

    def __init__(self, budget: int):
        self.budget = budget
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, source: np.ndarray):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        copy, u = entry
        bits = np.dtype(f"u{source.dtype.itemsize}")
        return u if np.array_equal(copy.view(bits), source.view(bits)) else None

    def put(self, key, source: np.ndarray, u: np.ndarray) -> None:
        size = source.nbytes + u.nbytes
        if size > self.budget:
            return
        entry = (source.copy(), u)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while sum(c.nbytes + t.nbytes for c, t in self._entries.values()) > self.budget:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


KEPT = WeightCache(tuning.TRANSFORMED_WEIGHT_CACHE_BYTES)
