"""Memory: thousands of calls keep memory flat, a conv forward's peak stays within 3x its
arrays, and a failed allocation anywhere in an op is a clean MemoryError."""
import gc
import os
import tracemalloc

import numpy as np
import pytest

import cyconv
from cyconv._kernels import _info

from support.ops import CASES, OPS, as_arrays, call


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _prepared_calls():
    """Every op's small case, arguments built once (so the loop allocates only results)."""
    calls = []
    for name in OPS:
        for dtype in (np.float32, np.float64):
            args, kwargs = CASES[name](dtype, np.random.default_rng(1))
            calls.append((getattr(cyconv, name), args, kwargs))
            if name.startswith(("max_pool", "min_pool")) and not name.endswith("_backward"):
                calls.append((getattr(cyconv, name), args, dict(kwargs, return_indices=True)))
    return calls


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_thousands_of_calls_keep_memory_flat():
    # one thread: the loop measures memory, not OpenMP wake-ups on a busy machine
    calls = [(fn, args, dict(kwargs, num_threads=1)) for fn, args, kwargs in _prepared_calls()]
    for fn, args, kwargs in calls * 3:  # warm up: caches, allocator pools
        fn(*args, **kwargs)
    gc.collect()
    tracemalloc.start()
    try:
        traced_before = tracemalloc.get_traced_memory()[0]
        rss_before = _rss_bytes()
        rounds = -(-3000 // len(calls))
        for _ in range(rounds):
            for fn, args, kwargs in calls:
                fn(*args, **kwargs)
        gc.collect()
        traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
        rss_growth = _rss_bytes() - rss_before
    finally:
        tracemalloc.stop()
    n_calls = rounds * len(calls)
    assert n_calls >= 3000
    # Python-visible allocations (NumPy reports its buffers to tracemalloc): a leaked result or
    # workspace per call would add megabytes here
    assert traced_growth < 256 * 2**10, (n_calls, traced_growth)
    # and the process as a whole (C-level leaks too), with room for allocator noise; under
    # AddressSanitizer (make sanitize) freed memory sits in its quarantine, so RSS grows there
    if "sanitize=address" not in _info.compile_flags():
        assert rss_growth < 16 * 2**20, (n_calls, rss_growth)


VGG3X3 = ((8, 64, 56, 56), (64, 64, 3, 3))


@pytest.mark.parametrize("algorithm", ["auto", "im2col", "implicit"])
def test_conv_forward_peak_memory_on_vgg3x3_is_below_3x_its_arrays(algorithm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(VGG3X3[0]).astype(np.float32)
    w = rng.standard_normal(VGG3X3[1]).astype(np.float32)
    output_bytes = x.nbytes  # 64 -> 64 channels, 'same' size
    cyconv.conv2d(x, w, padding=1, algorithm=algorithm)  # warm up (packing caches, if any)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        y = cyconv.conv2d(x, w, padding=1, algorithm=algorithm)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert y.nbytes == output_bytes
    arrays = x.nbytes + y.nbytes + w.nbytes
    # the output counts in the peak, the caller's input and weight do not: everything the call
    # allocates besides its output (padded copies, packed weights, workspaces) is in the margin
    assert peak < 3 * arrays, (algorithm, peak / arrays)


def test_conv_backward_peak_memory_on_vgg3x3_stays_bounded():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(VGG3X3[0]).astype(np.float32)
    w = rng.standard_normal(VGG3X3[1]).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    cyconv.conv2d_backward(gy, x, w, padding=1)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        grads = cyconv.conv2d_backward(gy, x, w, padding=1)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    arrays = x.nbytes + w.nbytes + gy.nbytes + sum(g.nbytes for g in grads)
    assert peak < 3 * arrays, peak / arrays


class _FailingNumpy:
    """NumPy as seen by an API module, except that the ``fail_at``-th allocation raises
    MemoryError (as NumPy does when the system has no memory left)."""

    ALLOCATORS = ("empty", "zeros", "ones", "full", "empty_like", "zeros_like",
                  "ascontiguousarray", "concatenate")

    def __init__(self, fail_at):
        self.fail_at = fail_at
        self.count = 0

    def __getattr__(self, name):
        real = getattr(np, name)
        if name not in self.ALLOCATORS:
            return real

        def allocate(*args, **kwargs):
            self.count += 1
            if self.count == self.fail_at:
                raise MemoryError(f"injected failure of allocation {self.count} ({name})")
            return real(*args, **kwargs)
        return allocate


def _api_modules():
    """The modules behind the ops (cyconv.conv, cyconv.pool, the executors and plans ...):
    each allocates through ``np``."""
    import sys
    return [module for key, module in sorted(sys.modules.items())
            if key.startswith("cyconv.") and not key.startswith("cyconv.reference")
            and getattr(module, "np", None) is np]


def test_the_api_modules_are_found():
    assert {"cyconv.conv", "cyconv.pool"} <= {m.__name__ for m in _api_modules()}


@pytest.mark.parametrize("name", OPS)
def test_every_allocation_failure_is_a_clean_memory_error(name, monkeypatch):
    want = as_arrays(call(name, np.float32))
    failures = 0
    for fail_at in range(1, 64):
        fake = _FailingNumpy(fail_at)
        with monkeypatch.context() as patch:
            for module in _api_modules():
                patch.setattr(module, "np", fake)
            try:
                got = as_arrays(call(name, np.float32))
            except MemoryError:
                failures += 1
                continue
        # no allocation left to fail: the call succeeded, with the right result
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        break
    else:
        pytest.fail(f"{name} made more than 63 allocations")
    assert failures >= 1  # every op allocates at least its result
    # and nothing was left half-done: the next calls are still right
    for g, w in zip(as_arrays(call(name, np.float32)), want, strict=True):
        np.testing.assert_array_equal(g, w)


# ---- large results: recycled buffers (cyconv._outputs) --------------------------------------

BIG = (1, 8, 1024, 1024)  # float32: 32 MiB, the smallest recycled result


def _big_conv(rng):
    x = rng.standard_normal(BIG).astype(np.float32)
    w = rng.standard_normal((8, 8, 1, 1)).astype(np.float32)
    return x, w


def test_a_large_result_reuses_a_freed_buffer_and_is_right():
    from cyconv import _outputs
    rng = np.random.default_rng(3)
    x, w = _big_conv(rng)
    first = cyconv.conv2d(x, w)
    assert first.nbytes >= _outputs.RECYCLE_MIN_BYTES
    assert first.flags.writeable and first.flags.c_contiguous and first.ctypes.data % 64 == 0
    address, expected = first.ctypes.data, first.copy()
    del first
    x2 = x * 2
    second = cyconv.conv2d(x2, w)
    assert second.ctypes.data == address  # its pages are in place already
    np.testing.assert_array_equal(second, 2 * expected)
    # the pooling gradients recycle too, and never hand out a buffer that is still in use
    gx = cyconv.max_pool2d_backward(np.ones((1, 8, 512, 512), np.float32), x, 2)
    assert not np.shares_memory(gx, second)
    assert gx.sum() == 8 * 512 * 512  # one 1 per window (no ties among random floats)


def test_a_view_keeps_its_buffer_from_reuse():
    rng = np.random.default_rng(4)
    x, w = _big_conv(rng)
    y = cyconv.conv2d(x, w)
    tail = y[0, 7]
    kept = tail.copy()
    del y
    z = cyconv.conv2d(x + 1, w)
    assert not np.shares_memory(z, tail)
    np.testing.assert_array_equal(tail, kept)


def test_recycling_is_bounded_and_can_be_turned_off():
    from cyconv import _outputs
    rng = np.random.default_rng(5)
    x, w = _big_conv(rng)
    saved = _outputs.capacity()
    try:
        results = [cyconv.conv2d(x, w) for _ in range(4)]
        _outputs.set_capacity(2 * results[0].nbytes + 2 * 64)
        del results
        gc.collect()
        assert 0 < _outputs.cached_bytes() <= _outputs.capacity()
        cyconv.release_memory()
        assert _outputs.cached_bytes() == 0
        _outputs.set_capacity(0)
        y = cyconv.conv2d(x, w)
        assert y.flags.owndata  # a plain NumPy array
        del y
        assert _outputs.cached_bytes() == 0
        with pytest.raises(ValueError, match="nbytes"):
            _outputs.set_capacity(-1)
    finally:
        _outputs.set_capacity(saved)


def test_output_cache_size_from_the_environment(monkeypatch):
    from cyconv import _outputs
    monkeypatch.setenv("CYCONV_OUTPUT_CACHE_MB", "64")
    assert _outputs._capacity_from_env() == 64 * 2**20
    monkeypatch.setenv("CYCONV_OUTPUT_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="CYCONV_OUTPUT_CACHE_MB"):
        _outputs._capacity_from_env()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_recycles_although_the_parent_held_the_lock():
    import signal
    from cyconv import _outputs
    rng = np.random.default_rng(6)
    x, w = _big_conv(rng)
    with _outputs._lock:  # as if another thread were inside the recycler at the fork
        pid = os.fork()
        if pid == 0:  # the child: a deadlock here ends in SIGALRM, not a hung test
            signal.alarm(20)
            ok = False
            try:
                y = cyconv.conv2d(x, w, num_threads=1)
                del y
                ok = cyconv.conv2d(x, w, num_threads=1).shape == (1, 8, 1024, 1024)
            finally:
                os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
