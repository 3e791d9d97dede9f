"""The command line (python -m cyconv info / bench) and the benchmark harness."""
import subprocess
import sys

import numpy as np
import pytest


def test_cli_info():
    out = subprocess.run([sys.executable, "-m", "cyconv", "info"], capture_output=True, text=True,
                         check=True)
    assert "OpenMP compiled in: yes" in out.stdout
    assert "\nCPU: " in out.stdout
    assert "compile flags:" in out.stdout
    assert "threads in use:" in out.stdout


def test_cli_bench_rejects_unknown_cases_before_timing(capsys):
    from cyconv.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--cases", "globalavg,nope"])
    assert exc.value.code == 2
    assert "unknown benchmark cases ['nope']" in capsys.readouterr().err


def test_bench_run_times_only_the_chosen_cases(monkeypatch):
    from cyconv import _bench
    monkeypatch.setattr(_bench, "matmul_gflops", lambda **kw: 1.0)  # the ceiling is not the point
    lines = []
    _, records, _ = _bench.run(quick=True, num_threads=1, compare=False, print_fn=lines.append,
                               only=["globalavg"])
    assert [(r["case"], r["pass"]) for r in records] == [("globalavg", "fwd"),
                                                         ("globalavg", "fwd+bwd")]


def test_bench_runs_the_rows_in_float64_with_the_float64_ceiling(monkeypatch):
    from cyconv import _bench
    asked = []
    monkeypatch.setattr(_bench, "matmul_gflops", lambda **kw: asked.append(kw) or 1.0)
    monkeypatch.setattr(_bench, "CEILING_N", 64)
    monkeypatch.setattr(_bench, "SETTLE_SECONDS", 0.0)
    lines = []
    _, records, _ = _bench.run(quick=True, num_threads=1, compare=False, print_fn=lines.append,
                               only=["lenet1"], dtype="float64")
    assert asked == [{"dtype": np.dtype(np.float64)}]
    assert "float64, 1 threads" in lines[0] and "NumPy float64 matmul" in lines[0]
    assert [r["case"] for r in records] == ["lenet1", "lenet1"]
    from cyconv._machine import cpu_model
    assert lines[0].startswith(cpu_model())
    cases = _bench.conv_implementations(_bench.CONV2D_CASES[0], 1, include_slow=False,
                                        dtype=np.float64)
    assert set(cases) >= {"cyconv"}


def test_bench_conv_rows_carry_the_ceiling_timed_right_before_them(monkeypatch):
    from cyconv import _bench
    monkeypatch.setattr(_bench, "matmul_gflops", lambda **kw: 1.0)
    monkeypatch.setattr(_bench, "CEILING_N", 128)       # small: the plumbing is the point
    monkeypatch.setattr(_bench, "SETTLE_SECONDS", 0.0)
    lines = []
    _, records, _ = _bench.run(quick=True, num_threads=1, compare=False, print_fn=lines.append,
                               only=["lenet1"])
    fwd, both = records
    # re-timed for the row (not the stubbed 1.0 of the start); its value depends on the load
    assert fwd["ceiling"] != 1.0 and fwd["ceiling"] > 0 and both["ceiling"] == fwd["ceiling"]
    assert "matmul" not in fwd["seconds"]  # the ceiling is not one of the implementations
    row = next(line for line in lines if line.startswith("| lenet1 | fwd |"))
    percent = float(row.split("|")[5])
    assert percent == round(fwd["flops"] / fwd["seconds"]["cyconv"] / 1e9 / fwd["ceiling"] * 100)


def test_bench_training_summary_backward_rate_and_geometric_means():
    from cyconv import _bench
    records = [
        {"case": "vgg3x3", "pass": "fwd", "flops": 10e9, "seconds": {"cyconv": 1.0, "torch": 2.0}},
        {"case": "vgg3x3", "pass": "fwd+bwd", "flops": 30e9,
         "seconds": {"cyconv": 3.5, "torch": 3.5}},
        {"case": "res3x3", "pass": "fwd", "flops": 10e9, "seconds": {"cyconv": 1.0, "torch": 0.5}},
        {"case": "res3x3", "pass": "fwd+bwd", "flops": 30e9,
         "seconds": {"cyconv": 2.0, "torch": 3.5}},
        {"case": "max2x2/2", "pass": "fwd", "flops": None, "seconds": {"cyconv": 1.0}},
    ]
    lines = _bench.training_summary(records)
    # vgg3x3: backward 2.5 s for 20 GFLOP = 8 GFLOP/s against the forward's 10
    assert "| vgg3x3 | 10.0 | 8.0 | 0.80 |" in lines
    assert "| res3x3 | 10.0 | 20.0 | 2.00 |" in lines
    assert not any("max2x2" in line for line in lines)
    # forward ratios 0.5 and 2.0 (geometric mean 1.00); fwd+bwd 1.0 and 4/7
    assert any(line.startswith("Geometric mean cyconv/torch time, fwd, over the 2") and
               "1.00 (max 2.00)" in line for line in lines)
    assert any(line.startswith("Geometric mean cyconv/torch time, fwd+bwd") and
               "0.76 (max 1.00)" in line for line in lines)


def test_bench_backward_rate_pairs_each_round_with_its_forward():
    from cyconv import _bench
    # per round (forward, fwd+bwd) seconds: backward 2, 2 and 9 s (a burst in round 3, which
    # also slowed that round's forward); the fwd row's own median (5 s) is not used
    fwd = {"case": "vgg3x3", "pass": "fwd", "flops": 10e9, "seconds": {"cyconv": 5.0}}
    both = {"case": "vgg3x3", "pass": "fwd+bwd", "flops": 30e9, "seconds": {"cyconv": 3.0},
            "paired": [(1.0, 3.0), (1.0, 3.0), (3.0, 12.0)]}
    fwd_rate, bwd_rate, rate = _bench._backward_rates(fwd, both)
    assert fwd_rate == 10.0 and bwd_rate == 10.0  # medians: forward 1 s, backward 2 s
    assert rate == 1.0  # per-round 2f / (b - f): 1.0, 1.0, 0.67
    assert "| vgg3x3 | 10.0 | 10.0 | 1.00 |" in _bench.training_summary([fwd, both])


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
