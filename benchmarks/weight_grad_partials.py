"""The padded weight gradient with one image per double accumulation against several
(_conv_tuning.WEIGHT_GRAD_PARTIAL_POSITIONS), float32, 2 threads, one process, interleaved
rounds, medians (benchmarks/README.md, "Padded weight gradient: images per partial").

    python benchmarks/weight_grad_partials.py [--repeats 15]
"""
import argparse

import numpy as np

import cyconv
from cyconv import _bench
from cyconv import _conv_tuning as tuning

CASES = {  # name: x shape, weight shape, keyword arguments
    "lenet2": ((64, 20, 12, 12), (50, 20, 5, 5), {}),
    "conv1d": ((32, 64, 1024), (64, 64, 5), dict(padding=2)),
    "dilated": ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=2, dilation=2)),
    "256 x 8x8": ((256, 32, 8, 8), (32, 32, 3, 3), dict(padding=1)),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    chosen = tuning.WEIGHT_GRAD_PARTIAL_POSITIONS
    fns = {}
    for name, (xs, ws, kw) in CASES.items():
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        nd = len(xs) - 2
        op = getattr(cyconv, f"conv{nd}d")
        backward = getattr(cyconv, f"conv{nd}d_backward")
        gy = rng.standard_normal(op(x, w, **kw).shape).astype(np.float32)
        for positions in (1, chosen):
            def run(gy=gy, x=x, w=w, kw=kw, positions=positions, backward=backward):
                tuning.WEIGHT_GRAD_PARTIAL_POSITIONS = positions
                with cyconv.forced_paths(grad_weight=cyconv.GradWeightPath.PADDED_WIDE):
                    backward(gy, x, w, need=("weight",), **kw)
            fns[(name, positions)] = run
    try:
        t = _bench.interleaved_medians(fns, repeats=args.repeats)
    finally:
        tuning.WEIGHT_GRAD_PARTIAL_POSITIONS = chosen
    print(f"| row | one image ms | up to {chosen} positions ms | speed-up |")
    print("|---|---|---|---|")
    for name in CASES:
        one, many = t[(name, 1)], t[(name, chosen)]
        print(f"| {name} | {one * 1e3:.2f} | {many * 1e3:.2f} | {one / many:.2f} |")


if __name__ == "__main__":
    main()
