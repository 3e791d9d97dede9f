"""Thread-count control for the kernels.

Resolution order for one call: the op's ``num_threads=`` argument, then the innermost
``cyconv.threads(n)`` context, then ``set_num_threads(n)``, then ``OMP_NUM_THREADS`` (as it was
when cyconv was imported), then the
OpenMP default (the CPUs this process may run on, as limited by threadpoolctl), capped at
``MAX_THREADS``. The count is resolved here, in Python, and passed to the kernels'
``prange(num_threads=...)``. The kernels call no BLAS, so there is no second thread pool to
oversubscribe the cores.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import threading

import numpy as np

from ._kernels import _info

_global_threads: int | None = None
# Upper bound on the threads one call starts. More threads than a few per CPU only add start-up
# cost and scratch memory (one workspace row each), and asking OpenMP for hundreds of thousands
# crashes the process when thread creation fails. Results do not depend on the count.
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))
class _ThreadState(threading.local):
    """Per Python thread: the stack of ``threads(n)`` contexts. Created with the attribute, as
    a getattr that misses (and raises inside) cost more than a small call's kernel."""

    def __init__(self):
        self.stack = []


_local = _ThreadState()


# Read once, when cyconv is imported, as the OpenMP runtime reads it once at start-up: starting
# a dask LocalCluster(processes=True) writes OMP_NUM_THREADS=1 into this process's environment
# (the nanny's setting for its workers), and cyconv's default must not silently drop to 1 then.
_OMP_NUM_THREADS_AT_IMPORT = os.environ.get("OMP_NUM_THREADS", "")


def _env_threads() -> int | None:
    value = _OMP_NUM_THREADS_AT_IMPORT.split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return None


_ENV_THREADS = _env_threads()


def _check(n, name: str) -> int:
    if type(n) is int and n >= 1:
        return n
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"{name} must be a positive int or None, got {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be a positive int or None, got {n}")
    return int(n)


def get_num_threads() -> int:
    """The thread count cyconv's kernels use when an op gets ``num_threads=None``."""
    stack = _local.stack
    if stack:
        return stack[-1]
    if _global_threads is not None:
        return _global_threads
    return _ENV_THREADS or _default_threads()


def _default_threads() -> int:
    # OpenMP's own default honours the affinity mask and threadpoolctl's openmp limits.
    if _info.openmp_enabled():
        return max(1, _info.openmp_max_threads())
    return 1


def set_num_threads(n: int | None) -> None:
    """Set the default thread count for all ops (``None`` restores the default)."""
    global _global_threads
    _global_threads = None if n is None else _check(n, "n")


@contextlib.contextmanager
def threads(n: int):
    """Context manager: ops called inside (from this Python thread) use ``n`` threads."""
    n = _check(n, "n")
    stack = _local.stack
    stack.append(n)
    try:
        yield n
    finally:
        stack.pop()


def resolve(num_threads) -> int:
    """The thread count for one call, at most ``MAX_THREADS``."""
    if num_threads is None:  # get_num_threads, inlined: this runs on every call
        stack = _local.stack
        n = stack[-1] if stack else (_global_threads or _ENV_THREADS or _default_threads())
    else:
        n = _check(num_threads, "num_threads")
    return n if n < MAX_THREADS else MAX_THREADS


# Work below which a call runs on one thread: starting and joining an OpenMP region costs
# more than splitting such work saves (benchmarks/README.md, "One thread for small calls").
SMALL_CONV_MACS = 2**20        # multiply-adds of a convolution pass
SMALL_POOL_ELEMENTS = 2**14    # input elements of a pooling pass


def for_work(n_threads: int, work: int, small: int) -> int:
    """``n_threads``, or 1 when ``work`` is below ``small``."""
    return 1 if work < small else n_threads


def scratch_rows(n_threads: int, length: int, dtype, zero: bool = False) -> np.ndarray:
    """(n_threads, >= length) kernel scratch, one row per thread. Rows are whole 16-element
    blocks plus a 16-element gap, so the parts two threads use never share a 64-byte cache
    line: without the gap one thread's row buffer shared a line with the other's divisors,
    and the two cores took turns on it every output row (avg 3x3/2 forward, 2 threads: 1.97
    -> 1.74 ms with the gap, OMP_WAIT_POLICY=passive, median of 31)."""
    shape = scratch_shape(n_threads, length)
    return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)


def scratch_shape(n_threads: int, length: int) -> tuple:
    """The shape of :func:`scratch_rows` (for callers that keep it with a plan)."""
    return (n_threads, -(-length // 16) * 16 + 16)


# Largest scratch buffer kept between calls (per Python thread and dtype).
SCRATCH_CACHE_BYTES = 64 * 2**20


@contextlib.contextmanager
def scratch(length: int, dtype, slot: str = "padded_input"):
    """A flat work buffer of ``length`` elements, reused across calls of this Python thread.

    The padded input copies of the implicit kernels are the size of the input itself. Freed
    after every call, such buffers can leave enough free memory at the top of the C heap for
    glibc to return it to the system, and the next call then faults every page back in:
    conv1d forward (8 MiB output, 8.4 MiB padded copy), 1 thread, in one pattern of
    interleaved calls took 9.1 ms instead of 6.9 ms. Keeping one buffer (up to
    SCRATCH_CACHE_BYTES) per thread, dtype and ``slot`` (one name per use that can be live
    at the same time as another) removes that churn. Nested users of one slot (a backward
    pass calling a forward) each get their own buffer; the larger one is kept.
    """
    pool = _local.__dict__.setdefault("scratch", {})
    key = (slot, np.dtype(dtype).str)
    buf = pool.pop(key, None)
    if buf is None or buf.size < length:
        buf = None  # drop the smaller one before allocating the larger
        buf = np.empty(length, dtype)
    try:
        yield buf[:length]
    finally:
        kept = pool.get(key)
        if buf.nbytes <= SCRATCH_CACHE_BYTES and (kept is None or kept.size < buf.size):
            pool[key] = buf


def release_scratch() -> None:
    """Free this thread's cached scratch buffers (see :func:`scratch`)."""
    _local.__dict__.pop("scratch", None)


# Python threads for kernels that must not leave an OpenMP team behind (see run_parts)
_pool = None
_pool_lock = threading.Lock()


def _forget_pool_after_fork() -> None:
    # a forked child has none of the parent's pool threads: submitting to that pool would
    # wait forever, so the child starts its own
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_parts(fn, parts: int) -> None:
    """``fn(part)`` for part < ``parts``: part 0 on this thread, the others on a pool of
    Python threads (kept for the process), all joined before returning. For a nogil kernel
    whose next step is another library's thread pool: an OpenMP team spins on its cores
    for a while after its region ends (libgomp's GOMP_SPINCOUNT), and SciPy's FFT workers
    that run next lose those cores; idle Python threads wait without spinning."""
    if parts <= 1:
        fn(0)
        return
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                from concurrent.futures import ThreadPoolExecutor
                _pool = ThreadPoolExecutor(max_workers=MAX_THREADS,
                                           thread_name_prefix="cyconv-parts")
    futures = [_pool.submit(fn, part) for part in range(1, parts)]
    try:
        fn(0)
    finally:
        for future in futures:
            future.result()

