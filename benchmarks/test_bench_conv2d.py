"""pytest-benchmark suite: conv2d rows of the DESIGN shape set, every implementation.

Run with ``make bench-full`` (or ``pytest benchmarks --benchmark-only``); each group is one
case and pass, so ``pytest-benchmark compare`` lines the implementations up side by side.
"""
import pytest

from cyconv import _bench, get_num_threads

IMPLS = ["cyconv", "torch", "numpy", "reference"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pass_", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", _bench.CONV2D_CASES, ids=lambda c: c.name)
def test_conv2d(benchmark, case, pass_, impl):
    impls = _bench.conv_implementations(case, get_num_threads(), include_slow=impl in ("numpy", "reference"))
    if impl not in impls:
        pytest.skip(f"{impl} is not installed")
    fn = impls[impl][0 if pass_ == "fwd" else 1]
    benchmark.group = f"conv2d {case.name} {pass_}"
    benchmark.extra_info["gflop"] = case.flops * (1 if pass_ == "fwd" else 3) / 1e9
    rounds = 3 if impl in ("numpy", "reference") else 10
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
