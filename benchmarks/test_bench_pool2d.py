"""pytest-benchmark suite: pooling rows of the DESIGN shape set, every implementation."""
import pytest

from cyconv import _bench, get_num_threads

IMPLS = ["cyconv", "torch", "numpy", "reference"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pass_", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", _bench.POOL2D_CASES, ids=lambda c: c.name)
def test_pool2d(benchmark, case, pass_, impl):
    impls = _bench.pool_implementations(case, get_num_threads(), include_slow=impl in ("numpy", "reference"))
    if impl not in impls:
        pytest.skip(f"{impl} is not installed")
    fn = impls[impl][0 if pass_ == "fwd" else 1]
    if fn is None:
        pytest.skip(f"{impl} has no {pass_} for this case")
    benchmark.group = f"pool2d {case.name} {pass_}"
    rounds = 3 if impl in ("numpy", "reference") else 10
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
