"""pytest-benchmark suite: global average pooling (the DESIGN row), adaptive average pooling,
1-D and 3-D pooling, every implementation (see test_bench_pool2d.py).

For ratios on a shared machine use the interleaved timing of ``python -m cyconv bench``
(cyconv and torch round-robin in one process); this suite times one implementation after the
other.
"""
import pytest

from cyconv import _bench, get_num_threads

IMPLS = ["cyconv", "torch", "numpy", "reference"]
CASES = [c for c in _bench.POOL2D_CASES if c.op == "global_avg"] + _bench.POOL_ND_CASES


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pass_", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pool_nd(benchmark, case, pass_, impl):
    impls = _bench.pool_implementations(case, get_num_threads(),
                                        include_slow=impl in ("numpy", "reference"))
    if impl not in impls:
        pytest.skip(f"{impl} is not available for {case.name}")
    fn = impls[impl][0 if pass_ == "fwd" else 1]
    if fn is None:
        pytest.skip(f"{impl} has no {pass_} for this case")
    benchmark.group = f"pool {case.name} {pass_}"
    rounds = 3 if impl in ("numpy", "reference") else 10
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
