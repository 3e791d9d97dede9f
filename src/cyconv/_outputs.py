"""Large result arrays, recycled between calls.

A result of more than 32 MiB is, in glibc, a fresh memory mapping on every call: glibc
recycles freed mappings only up to that size. The kernel then pays for faulting in (and the
system for zeroing) every page of it - for a float64 pooling grad_input of 51 MB more time
than the kernel's own (benchmarks/README.md, "Large results: recycled memory"). So results
of at least ``RECYCLE_MIN_BYTES`` are views of buffers kept here: when the last view of a
result is gone its buffer comes back, and the next call of about its size gets it with its
pages already in place. At most ``capacity()`` bytes wait here unused; the rest is freed
as usual.

Such a result is an ordinary writeable, aligned, C-contiguous ndarray that does not own
its memory (``flags.owndata`` False, ``base`` the buffer's lease), like any view.
"""
from __future__ import annotations

import os
import threading

import numpy as np

# glibc's largest recycled mapping (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit): smaller results
# come back from the heap without page faults already.
RECYCLE_MIN_BYTES = 32 * 2**20

# Results start on a cache line (NumPy's own large arrays start 16 bytes into a page).
_ALIGN = 64

# A returned buffer is reused for a request of at least this fraction of its size.
_FIT = 0.75


def _capacity_from_env() -> int:
    text = os.environ.get("CYCONV_OUTPUT_CACHE_MB", "")
    try:
        return max(0, int(text)) * 2**20 if text.strip() else 512 * 2**20
    except ValueError:
        raise ValueError(f"CYCONV_OUTPUT_CACHE_MB must be an integer, got {text!r}") from None


_capacity = _capacity_from_env()
_lock = threading.Lock()
_free: list = []        # unused buffers (1-D uint8 arrays), oldest first
_free_bytes = 0


def _after_fork_in_child() -> None:
    # a fork while another thread held the lock would leave the child's copy held forever
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def capacity() -> int:
    """Bytes of unused result buffers kept for reuse (``CYCONV_OUTPUT_CACHE_MB``, default
    512; 0 turns recycling off)."""
    return _capacity


def set_capacity(nbytes: int) -> None:
    """Keep at most ``nbytes`` of unused result buffers (0: none, recycling off)."""
    global _capacity
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes < 0:
        raise ValueError(f"nbytes must be a non-negative integer, got {nbytes!r}")
    _capacity = int(nbytes)
    _trim(_capacity)


def release_memory() -> None:
    """Free the memory cyconv keeps between calls: unused result buffers, this thread's
    scratch buffers and the kept transformed weights (the next calls allocate them again).
    """
    from . import _threads, _weight_cache
    _trim(0)
    _threads.release_scratch()
    _weight_cache.KEPT.clear()


def cached_bytes() -> int:
    """Bytes of unused result buffers kept now."""
    return _free_bytes


def _trim(limit: int) -> None:
    with _lock:
        _evict_to(limit)


def _evict_to(limit: int) -> None:
    """Free the oldest unused buffers until at most ``limit`` bytes wait (lock held)."""
    global _free_bytes
    while _free and _free_bytes > limit:
        _free_bytes -= _free.pop(0).nbytes


class _Lease:
    """Owner of one buffer while results view it; gives it back when they are all gone."""

    __slots__ = ("raw", "__array_interface__")

    def __init__(self, raw: np.ndarray, shape: tuple, dtype: np.dtype):
        self.raw = raw
        address = raw.ctypes.data
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "version": 3,
                                    "data": (address + (-address % _ALIGN), False)}

    def __del__(self):
        try:
            _give_back(self.raw)
        except (NameError, TypeError, AttributeError):
            pass  # at interpreter exit this module's globals may be gone first


def _give_back(raw: np.ndarray) -> None:
    global _free_bytes
    # never wait here: this runs wherever the last view dies, perhaps inside _take itself
    # (a garbage collection) with the lock held - then the buffer is just freed
    if raw.nbytes > _capacity or not _lock.acquire(blocking=False):
        return
    try:
        _free.append(raw)
        _free_bytes += raw.nbytes
        _evict_to(_capacity)
    finally:
        _lock.release()


def _take(nbytes: int):
    """The smallest unused buffer of ``nbytes`` .. ``nbytes / _FIT`` bytes, or None."""
    global _free_bytes
    with _lock:
        best = None
        for i, raw in enumerate(_free):
            if nbytes <= raw.nbytes and nbytes >= _FIT * raw.nbytes and \
                    (best is None or raw.nbytes < _free[best].nbytes):
                best = i
        if best is None:
            return None
        raw = _free.pop(best)
        _free_bytes -= raw.nbytes
        return raw


def empty(shape: tuple, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, from a recycled buffer when it is large (C order)."""
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    if nbytes < RECYCLE_MIN_BYTES or nbytes > _capacity:
        return np.empty(shape, dtype)
    raw = _take(nbytes + _ALIGN)
    if raw is None:
        raw = np.empty(nbytes + _ALIGN, np.uint8)
    return np.asarray(_Lease(raw, tuple(int(n) for n in shape), dtype))
