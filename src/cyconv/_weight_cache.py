"""Transformed weights (Winograd's G w G^T, the FFT path's weight spectra) kept between
calls: a repeated call whose weight has the same bits skips the transform.

Entries are keyed by what else decides the transform (the path, shapes, transform lengths)
and hold a copy of the weight they came from; a lookup compares the caller's weight with
the copies under its key bit for bit, so a weight changed in place (an optimizer step) is
never served a stale transform, -0.0 is not 0.0, and layers of the same shapes each keep
theirs.
"""
from __future__ import annotations

import collections
import threading

import numpy as np

from . import _conv_tuning as tuning


class WeightCache:
    """The transformed weights of the last few weights seen, each with a copy of its
    source, at most ``budget`` bytes (least recently used first out). Several weights may
    share a key (the layers of a network with the same shapes): a lookup compares the
    source's bits with each copy under its key, newest first - a few spread elements first,
    so a changed weight (a training step) is turned away without a pass over it. Entries
    are never changed in place, so a caller may keep using one another thread drops."""

    PER_KEY = 8  # the same-shape layers one key keeps

    def __init__(self, budget: int):
        self.budget = budget
        self._entries: collections.OrderedDict = collections.OrderedDict()  # (key, n) ->
        self._added = 0
        self._lock = threading.Lock()

    def get(self, key, source: np.ndarray):
        bits = np.dtype(f"u{source.dtype.itemsize}")
        src = source.reshape(-1).view(bits)
        with self._lock:
            candidates = [(k, e) for k, e in reversed(self._entries.items()) if k[0] == key]
        for k, (copy, u, _) in candidates:
            if _same_bits(copy.reshape(-1).view(bits), src):
                with self._lock:
                    if k in self._entries:
                        self._entries.move_to_end(k)
                return u
        return None

    def put(self, key, source: np.ndarray, u: np.ndarray) -> None:
        """Keep ``u`` for ``source``'s bits. An entry of the same key whose source lay at the
        same address (a weight updated in place: a training step) is replaced, and a key
        keeps at most PER_KEY entries (weights replaced by new arrays)."""
        size = source.nbytes + u.nbytes
        if size > self.budget:
            return
        address = source.__array_interface__["data"][0]
        entry = (source.copy(), u, address)
        with self._lock:
            same_key = [k for k, e in self._entries.items() if k[0] == key]
            for k in same_key:
                if self._entries[k][2] == address:
                    del self._entries[k]
                    same_key.remove(k)
                    break
            for k in same_key[:max(0, len(same_key) - self.PER_KEY + 1)]:
                del self._entries[k]
            self._added += 1
            self._entries[(key, self._added)] = entry
            while sum(e[0].nbytes + e[1].nbytes for e in self._entries.values()) > self.budget:
                self._entries.popitem(last=False)

    def keys(self) -> list:
        """The keys of the entries, least recently used first (a key once per entry)."""
        with self._lock:
            return [k for k, _ in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """a == b bit for bit (1-D unsigned views of one size): 16 spread elements, then all."""
    if a.shape != b.shape:
        return False
    probe = np.linspace(0, a.size - 1, num=min(16, a.size), dtype=np.intp)
    return bool(np.array_equal(a[probe], b[probe])) and bool(np.array_equal(a, b))


KEPT = WeightCache(tuning.TRANSFORMED_WEIGHT_CACHE_BYTES)
