"""pytest-benchmark suite: unfold / fold 2-D (im2col / col2im as functions) on the vgg3x3
input (8x64x56x56 float32, kernel 3, padding 1): cyconv, torch and the reference, one group
per op. For ratios on a shared machine use ``benchmarks/fold_vs_torch.py`` (cyconv and torch
round-robin in one process); this suite times one implementation after the other.
"""
import pytest

from cyconv import get_num_threads
from fold_vs_torch import CASES, implementations

IMPLS = ["cyconv", "torch", "reference"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", ["unfold", "fold"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_fold2d(benchmark, case, op, impl):
    impls = implementations(case, get_num_threads())
    if impl not in impls[op]:
        pytest.skip(f"{impl} is not installed")
    benchmark.group = f"fold2d {case[0]} {op}"
    rounds = 3 if impl == "reference" else 10
    benchmark.pedantic(impls[op][impl], rounds=rounds, warmup_rounds=1)
