"""Shape arithmetic, thread control, build facts and the command line."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cyconv
from cyconv import _shapes
from cyconv._kernels import _info


@pytest.mark.parametrize("padding, kernel, dilation, stride, size, expected", [
    (1, (3, 3), (1, 1), (1, 1), None, ((1, 1), (1, 1))),
    ((1, 2), (3, 5), (1, 1), (1, 1), None, ((1, 1), (2, 2))),
    (((0, 1), (2, 3)), (3, 3), (1, 1), (1, 1), None, ((0, 1), (2, 3))),
    ("valid", (3, 3), (1, 1), (1, 1), None, ((0, 0), (0, 0))),
    ("full", (3, 2), (2, 1), (1, 1), None, ((4, 4), (1, 1))),
    ("same", (4, 3), (1, 1), (1, 1), None, ((1, 2), (1, 1))),     # extra element at the end
    ("same", (3, 3), (2, 2), (1, 1), None, ((2, 2), (2, 2))),
    ("same", (3, 3), (1, 1), (2, 2), (9, 10), ((1, 1), (0, 1))),  # TF rule: ceil(L/stride) outputs
    ("causal", (3,), (2,), (1,), None, ((4, 0),)),
])
def test_resolve_padding(padding, kernel, dilation, stride, size, expected):
    assert _shapes.resolve_padding(padding, kernel, dilation, stride, size) == expected


def test_same_padding_keeps_the_size():
    for k in range(1, 6):
        for s in (1, 2, 3):
            for size in (5, 8, 13):
                pads = _shapes.resolve_padding("same", (k,), (1,), (s,), (size,))
                assert _shapes.conv_output_size(size, k, s, pads[0], 1) == -(-size // s)


@pytest.mark.parametrize("size, k, s, pad, d, ceil, expected", [
    (8, 2, 2, (0, 0), 1, False, 4),
    (11, 3, 2, (1, 1), 1, False, 6),
    (10, 3, 2, (0, 0), 1, False, 4),
    (10, 3, 2, (0, 0), 1, True, 5),
    (5, 2, 2, (0, 0), 1, True, 3),
    (6, 3, 3, (1, 1), 1, True, 3),   # last window would start in the right padding: dropped
    (12, 3, 1, (1, 1), 2, False, 10),
    # an input shorter than the (dilated) kernel: one window with ceil_mode, none without
    (1, 2, 2, (0, 0), 1, True, 1),
    (1, 2, 2, (0, 0), 1, False, 0),
    (2, 3, 3, (0, 0), 1, True, 1),
    (3, 2, 4, (0, 0), 4, True, 1),
    (3, 2, 1, (0, 0), 4, True, -1),
    (3, 2, 1, (0, 0), 4, False, -1),
])
def test_pool_output_size(size, k, s, pad, d, ceil, expected):
    assert _shapes.pool_output_size(size, k, s, pad, d, ceil) == expected


def test_flops():
    assert _shapes.conv_flops(8, 64, 64, 1, (56, 56), (3, 3)) == 2 * 8 * 64 * 56 * 56 * 64 * 9
    assert _shapes.conv_flops(8, 128, 128, 128, (56, 56), (3, 3)) == 2 * 8 * 128 * 56 * 56 * 9


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


def test_omp_num_threads_is_honoured():
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


def test_cli_info():
    out = subprocess.run([sys.executable, "-m", "cyconv", "info"], capture_output=True, text=True,
                         check=True)
    assert "OpenMP compiled in: yes" in out.stdout
    assert "compile flags:" in out.stdout
    assert "threads in use:" in out.stdout


def test_threadpoolctl_openmp_limit_is_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert cyconv.get_num_threads() == 1
    assert cyconv.get_num_threads() >= 1


def test_cli_bench_rejects_unknown_cases_before_timing(capsys):
    from cyconv.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--cases", "globalavg,nope"])
    assert exc.value.code == 2
    assert "unknown benchmark cases ['nope']" in capsys.readouterr().err


def test_bench_run_times_only_the_chosen_cases(monkeypatch):
    from cyconv import _bench
    monkeypatch.setattr(_bench, "matmul_gflops", lambda: 1.0)  # the ceiling is not the point
    lines = []
    _, records, _ = _bench.run(quick=True, num_threads=1, compare=False, print_fn=lines.append,
                               only=["globalavg"])
    assert [(r["case"], r["pass"]) for r in records] == [("globalavg", "fwd"),
                                                         ("globalavg", "fwd+bwd")]


def test_bench_conv_rows_carry_the_ceiling_timed_right_before_them(monkeypatch):
    from cyconv import _bench
    monkeypatch.setattr(_bench, "matmul_gflops", lambda: 1.0)
    monkeypatch.setattr(_bench, "CEILING_N", 128)       # small: the plumbing is the point
    monkeypatch.setattr(_bench, "SETTLE_SECONDS", 0.0)
    lines = []
    _, records, _ = _bench.run(quick=True, num_threads=1, compare=False, print_fn=lines.append,
                               only=["lenet1"])
    fwd, both = records
    # re-timed for the row (not the stubbed 1.0 of the start); its value depends on the load
    assert fwd["ceiling"] != 1.0 and fwd["ceiling"] > 0 and both["ceiling"] == fwd["ceiling"]
    assert "matmul" not in fwd["seconds"]  # the ceiling is not one of the implementations
    percent = float(lines[-2].split("|")[5])
    assert percent == round(fwd["flops"] / fwd["seconds"]["cyconv"] / 1e9 / fwd["ceiling"] * 100)


def test_bench_relative_rates_pair_each_round_with_the_base(monkeypatch):
    from cyconv import _bench
    monkeypatch.setattr(_bench, "SETTLE_SECONDS", 0.0)
    # fake clock: a call of "a" takes 1 s; "b"'s timed calls take 4, 2 and 4 s (its warm-up
    # and untimed calls 9 s)
    seconds = {"a": iter([1.0] * 7), "b": iter([9.0, 9.0, 4.0, 9.0, 2.0, 9.0, 4.0])}
    clock = [0.0]
    calls = []

    def make(name):
        def fn():
            calls.append(name)
            clock[0] += next(seconds[name])
        return fn

    monkeypatch.setattr(_bench.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(_bench.time, "sleep", lambda s: None)
    rates = _bench.relative_rates({"a": (make("a"), 10.0), "b": (make("b"), 20.0)}, "a",
                                  repeats=3)
    assert rates["a"][1:] == (1.0, 1.0, 1.0)
    # b's rate relative to a's per round: 20/4 / 10 = 0.5, 20/2 / 10 = 1.0, 0.5
    assert rates["b"] == (4.0, 0.5, 0.5, 1.0)
    # one warm-up call each, then per round an untimed and a timed call of each
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3
