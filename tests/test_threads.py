"""Concurrency: the kernels release the GIL, ops called from several Python threads at once give
the serial results, and every way of setting the thread count is honoured (counted in OS
threads) without changing a single bit of any result."""
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cyconv
from cyconv._kernels import _info

from support.ops import OPS, as_arrays, call

KERNEL_DIR = pathlib.Path(cyconv.__file__).parent / "_kernels"


def _same(a, b):
    for x, y in zip(as_arrays(a), as_arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", OPS)
def test_results_are_bitwise_identical_for_any_thread_count(name):
    want = call(name, np.float32, num_threads=1)
    for n in (2, 3, 4):
        _same(call(name, np.float32, num_threads=n), want)
    with cyconv.threads(3):
        _same(call(name, np.float32), want)


def test_four_python_threads_calling_different_ops_match_serial_calls():
    jobs = [(name, dtype, seed) for seed, name in enumerate(OPS)
            for dtype in (np.float32, np.float64)]
    serial = {job: call(job[0], job[1], seed=job[2], num_threads=1) for job in jobs}
    barrier = threading.Barrier(4)
    failures = []

    def worker(k):
        barrier.wait()
        try:
            # each thread walks the jobs from a different place, with its own thread count,
            # so different ops (and kernels) run at the same moment
            for i in range(len(jobs)):
                job = jobs[(i + k * len(jobs) // 4) % len(jobs)]
                with cyconv.threads(1 + k % 2):
                    _same(call(*job[:2], seed=job[2]), serial[job])
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread number
            failures.append((k, repr(exc)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_thread_pool_executor_results_match_serial():
    names = OPS * 2
    serial = [call(name, np.float64, seed=i, num_threads=1) for i, name in enumerate(names)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: call(names[i], np.float64, seed=i, num_threads=1),
                                range(len(names))))
    for got, want in zip(results, serial):
        _same(got, want)


def test_every_kernel_entry_point_releases_the_gil():
    """Static check: each ``def`` in the kernel modules that takes arrays runs in ``nogil``.
    It reads the Cython sources, which an installed wheel does not carry (the run-time check
    is test_python_runs_while_a_kernel_computes)."""
    sources = sorted(KERNEL_DIR.glob("*.pyx"))
    if not sources:
        pytest.skip("the kernels' .pyx sources are not installed (a wheel ships none)")
    unchecked = []
    for pyx in sources:
        source = pyx.read_text()
        # split into top-level def blocks (a def runs until the next top-level statement)
        for match in re.finditer(r"^def (\w+)\((.*?)\):\n(.*?)(?=^\S|\Z)", source,
                                 re.S | re.M):
            name, params, body = match.groups()
            if "[" not in params:  # no memoryview arguments: not a compute kernel
                continue
            if "nogil" not in body:
                unchecked.append(f"{pyx.name}:{name}")
    assert not unchecked, f"kernels that keep the GIL: {unchecked}"


def _longest_gil_stall(fn):
    """Run ``fn`` in a thread; return (its duration, the longest pause of a pure-Python loop
    running meanwhile in this thread). A kernel that kept the GIL would stall the loop for
    its whole duration."""
    done = []
    worker = threading.Thread(target=lambda: done.append(fn()))
    # The GIL changes hands at most every switch interval (5 ms by default), so around the
    # call's Python prologue and epilogue the loop may wait that long even though the kernel
    # itself runs without the GIL; a short interval keeps those waits well below a fast
    # kernel's duration.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        start = last = time.perf_counter()
        worker.start()
        stall = 0.0
        while worker.is_alive():
            now = time.perf_counter()
            stall = max(stall, now - last)
            last = now
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    return time.perf_counter() - start, stall


GIL_CALLS = {
    "conv2d im2col": lambda x, w: cyconv.conv2d(x, w, padding=1, algorithm="im2col",
                                                num_threads=1),
    "conv2d implicit": lambda x, w: cyconv.conv2d(x, w, padding=1, algorithm="implicit",
                                                  num_threads=1),
    "conv2d direct": lambda x, w: cyconv.conv2d(x[:, :8], w[:8, :8], padding=1,
                                                algorithm="direct", num_threads=1),
    "conv2d_backward im2col": lambda x, w: cyconv.conv2d_backward(
        np.ones(x.shape[:1] + (64, 48, 48), np.float32), x, w, padding=1, algorithm="im2col",
        need=("input",), num_threads=1),
    "max_pool2d_backward": lambda x, w: cyconv.max_pool2d_backward(
        np.ones(x.shape[:2] + (46, 46), np.float32), x, 3, 1, num_threads=1),
    "avg_pool2d": lambda x, w: cyconv.avg_pool2d(x, 5, 1, 2, num_threads=1),
}


@pytest.mark.parametrize("what", sorted(GIL_CALLS))
def test_python_runs_while_a_kernel_computes(what):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 64, 48, 48)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    fn = GIL_CALLS[what]
    fn(x, w)  # warm up (first-call set-up, page faults)
    # The pure-Python loop keeps running: its longest pause is a small part of the kernel time.
    # Generous, and the best of three tries, because the machine is shared (a busy core also
    # pauses the loop) and the call's Python prologue holds the GIL briefly; a kernel that kept
    # the GIL would pause the loop for the whole call every time.
    tries = [_longest_gil_stall(lambda: fn(x, w)) for _ in range(3)]
    assert min(stall / duration for duration, stall in tries) < 0.5, (what, tries)


SUBPROCESS_CHECK = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import cyconv

    def tasks():
        return len(os.listdir("/proc/self/task"))

    # large enough to be split over the threads (smaller calls run on one)
    x = np.random.default_rng(0).standard_normal((2, 16, 32, 32)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((16, 16, 3, 3)).astype(np.float32)
    want = cyconv.conv2d(x, w, padding=1, num_threads=1)
    cyconv.max_pool2d(x, 2, num_threads=1)
    base = tasks()
    seen = {}

    def run(label):
        seen[label] = [cyconv.get_num_threads(), None, None]
        y = cyconv.conv2d(x, w, padding=1)
        seen[label][1] = tasks() - base  # OpenMP keeps its team: the count only grows
        seen[label][2] = bool((y == want).all() and (cyconv.max_pool2d(x, 2) ==
                                                     cyconv.max_pool2d(x, 2, num_threads=1)).all())

    mode = sys.argv[1]
    if mode == "env":
        run("env")
    else:
        from threadpoolctl import threadpool_limits
        os.environ.pop("OMP_NUM_THREADS", None)
        with threadpool_limits(limits=2, user_api="openmp"):
            run("threadpoolctl 2")
        cyconv.set_num_threads(3)
        run("set_num_threads 3")
        with cyconv.threads(4):
            run("threads 4")
        cyconv.set_num_threads(None)
        with threadpool_limits(limits=1, user_api="openmp"):
            run("threadpoolctl 1")
        seen["num_threads 5"] = [5, None, None]
        y = cyconv.conv2d(x, w, padding=1, num_threads=5)
        seen["num_threads 5"][1:] = [tasks() - base, bool((y == want).all())]
    print(json.dumps(seen))
""")


def _run_check(mode, env_threads=None):
    import json
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if env_threads is not None:
        env["OMP_NUM_THREADS"] = str(env_threads)
    out = subprocess.run([sys.executable, "-c", SUBPROCESS_CHECK, mode], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_omp_num_threads_is_honoured():
    # [threads cyconv resolves, extra OS threads after the call, results identical to 1 thread]
    assert _run_check("env", env_threads=3) == {"env": [3, 2, True]}


def test_threadpoolctl_set_num_threads_context_and_argument_are_honoured():
    assert _run_check("api") == {
        "threadpoolctl 2": [2, 1, True],
        "set_num_threads 3": [3, 2, True],
        "threads 4": [4, 3, True],
        "threadpoolctl 1": [1, 3, True],   # one thread: the idle team of 3 stays
        "num_threads 5": [5, 4, True],
    }


def test_small_calls_run_on_one_thread():
    """Work below _threads.SMALL_CONV_MACS / SMALL_POOL_ELEMENTS runs on one thread whatever
    the count asked for (an OpenMP region costs more than it saves there); larger work keeps
    the count. Results are the same either way."""
    from cyconv import _threads
    small_x = np.ones((1, 3, 16, 16), np.float32)
    small_w = np.ones((3, 3, 3, 3), np.float32)
    assert cyconv.plan_conv(small_x, small_w, num_threads=2).forward.n_threads == 1
    big_x = np.ones((2, 16, 32, 32), np.float32)
    big_w = np.ones((16, 16, 3, 3), np.float32)
    assert 2 * 16 * 16 * 9 * 30 * 30 >= _threads.SMALL_CONV_MACS
    assert cyconv.plan_conv(big_x, big_w, num_threads=2).forward.n_threads == 2
    np.testing.assert_array_equal(cyconv.conv2d(small_x, small_w, num_threads=2),
                                  cyconv.conv2d(small_x, small_w, num_threads=1))


def test_openmp_is_compiled_in():
    # The build probe must find OpenMP with gcc; a silently serial build is a regression.
    assert _info.openmp_enabled()
    assert "-O3" in _info.compile_flags()
    assert "march=native" not in _info.compile_flags()


def test_thread_settings():
    default = cyconv.get_num_threads()
    assert default >= 1
    cyconv.set_num_threads(1)
    try:
        assert cyconv.get_num_threads() == 1
        with cyconv.threads(3):
            assert cyconv.get_num_threads() == 3
            with cyconv.threads(2):
                assert cyconv.get_num_threads() == 2
            assert cyconv.get_num_threads() == 3
        assert cyconv.get_num_threads() == 1
    finally:
        cyconv.set_num_threads(None)
    assert cyconv.get_num_threads() == default
    with pytest.raises(ValueError, match="positive"):
        cyconv.set_num_threads(0)
    with pytest.raises(TypeError, match="positive int"):
        with cyconv.threads("2"):
            pass


def test_omp_num_threads_sets_the_default_of_a_fresh_process():
    code = "import cyconv; print(cyconv.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "3"


def test_gil_is_released_and_threads_compose():
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 8, 20, 20)).astype(np.float32) for _ in range(4)]
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    serial = [cyconv.conv2d(x, w, padding=1) for x in xs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda x: cyconv.conv2d(x, w, padding=1), xs))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_threadpoolctl_openmp_limit_is_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert cyconv.get_num_threads() == 1
    assert cyconv.get_num_threads() >= 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_fft_contraction_threads_work_in_a_forked_child():
    # the FFT path's contraction runs on a pool of Python threads: a child forked after the
    # parent used it must start its own pool (the parent's threads do not exist there)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 32, 32))  # a contraction large enough for two threads
    w = rng.standard_normal((16, 16, 5, 5))
    expected = cyconv.conv2d(x, w, padding=2, algorithm="fft", num_threads=2)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            got = cyconv.conv2d(x, w, padding=2, algorithm="fft", num_threads=2)
            code = 0 if np.array_equal(got, expected) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's FFT convolution did not finish (its thread pool hung)")
