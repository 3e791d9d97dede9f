"""pytest-benchmark suite: the conv1d/conv3d rows of the DESIGN shape set and the
transposed-convolution row, every implementation (see test_bench_conv2d.py)."""
import pytest

from cyconv import _bench, get_num_threads

IMPLS = ["cyconv", "torch", "numpy", "reference"]
CASES = ([(c, _bench.conv_implementations) for c in _bench.CONV_ND_CASES]
         + [(c, _bench.conv_transpose_implementations) for c in _bench.CONV_TRANSPOSE_CASES])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pass_", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case, make", CASES, ids=[c.name for c, _ in CASES])
def test_conv_nd(benchmark, case, make, pass_, impl):
    impls = make(case, get_num_threads(), include_slow=impl in ("numpy", "reference"))
    if impl not in impls:
        pytest.skip(f"{impl} is not available for {case.name}")
    fn = impls[impl][0 if pass_ == "fwd" else 1]
    benchmark.group = f"{case.name} {pass_}"
    benchmark.extra_info["gflop"] = case.flops * (1 if pass_ == "fwd" else 3) / 1e9
    rounds = 3 if impl in ("numpy", "reference") else 10
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1)
