"""'auto' forward against the im2col path on convolutions whose windows do not overlap
(kernel == stride: patch embeddings, 2x2/2 downsampling) and a few strided 3x3/5x5 rows,
in one process, interleaved rounds, medians (2 threads by default).

    python benchmarks/nonoverlapping_forward.py [--repeats 7] [--dtype float32|float64]

A ratio im2col / auto below 1 is a row where the rule's choice (printed) loses to the
lowered GEMM on this CPU; benchmarks/README.md, "Non-overlapping windows".
"""
import argparse

import numpy as np

import cyconv
from cyconv import ForwardPath, _bench

CASES = [  # x shape, weight shape, keyword arguments
    ((8, 64, 56, 56), (128, 64, 2, 2), dict(stride=2)),
    ((8, 32, 112, 112), (64, 32, 2, 2), dict(stride=2)),
    ((8, 256, 28, 28), (512, 256, 2, 2), dict(stride=2)),
    ((8, 16, 64, 64), (32, 16, 2, 2), dict(stride=2)),
    ((8, 16, 64, 64), (64, 16, 4, 4), dict(stride=4)),
    ((8, 3, 224, 224), (384, 3, 16, 16), dict(stride=16)),
    ((32, 64, 1024), (128, 64, 2), dict(stride=2)),
    ((2, 32, 32, 32, 32), (64, 32, 2, 2, 2), dict(stride=2)),
    ((8, 128, 56, 56), (256, 128, 3, 3), dict(stride=2, padding=1)),
    ((8, 32, 64, 64), (64, 32, 5, 5), dict(stride=2, padding=2)),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"{dtype.name}, {cyconv.get_num_threads()} threads, median of {args.repeats} rounds")
    print("| x | weight | args | auto path | auto ms | im2col ms | im2col / auto |")
    print("|---|---|---|---|---|---|---|")
    for x_shape, w_shape, kw in CASES:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        op = {3: cyconv.conv1d, 4: cyconv.conv2d, 5: cyconv.conv3d}[x.ndim]

        def im2col():
            with cyconv.forced_paths(forward=ForwardPath.IM2COL):
                op(x, w, **kw)

        t = _bench.interleaved_medians({"auto": lambda: op(x, w, **kw), "im2col": im2col},
                                       repeats=args.repeats)
        path = cyconv.plan_conv(x, w, **kw).forward.path.value
        print(f"| {x_shape} | {w_shape} | {kw} | {path} | {t['auto'] * 1e3:.2f} | "
              f"{t['im2col'] * 1e3:.2f} | {t['im2col'] / t['auto']:.2f} |")


if __name__ == "__main__":
    main()
