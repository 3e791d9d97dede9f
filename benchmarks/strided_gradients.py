"""Strided convolutions' gradients by phases against col2im / the lowered weight gradient:
each forced through ``cyconv.forced_paths``, interleaved rounds in one process, the median
of the per-round time ratios, and what 'auto' takes (benchmarks/README.md, "Strided
gradients: col2im and the lowered weight gradient").

    python benchmarks/strided_gradients.py [--dtype float32|float64] [--rounds 11]
"""
import argparse
import time

import numpy as np

import cyconv

GI, GW = cyconv.GradInputPath, cyconv.GradWeightPath
SHAPES = [  # name, x shape, weight shape, stride, padding
    ("convT4x4/2 (bench)", (8, 32, 56, 56), (64, 32, 4, 4), 2, 1),
    ("dcgan G 512->256 4->8", (16, 256, 8, 8), (512, 256, 4, 4), 2, 1),
    ("dcgan G 256->128 8->16", (16, 128, 16, 16), (256, 128, 4, 4), 2, 1),
    ("dcgan G 128->64 16->32", (16, 64, 32, 32), (128, 64, 4, 4), 2, 1),
    ("dcgan 3<->64 64x64", (16, 3, 64, 64), (64, 3, 4, 4), 2, 1),
    ("4x4/2 64->128 56", (8, 64, 56, 56), (128, 64, 4, 4), 2, 1),
    ("dqn 8x8/4", (32, 4, 84, 84), (32, 4, 8, 8), 4, 0),
    ("dqn 4x4/2", (32, 32, 20, 20), (64, 32, 4, 4), 2, 0),
    ("6x6/2", (8, 32, 32, 32), (64, 32, 6, 6), 2, 2),
    ("1-D 4/2", (16, 64, 1024), (64, 64, 4), 2, 1),
    ("4x4/2 64->128 4x4 out", (16, 64, 8, 8), (128, 64, 4, 4), 2, 1),
    ("4x4/2 128->256 4x4 out", (16, 128, 8, 8), (256, 128, 4, 4), 2, 1),
    ("4x4/2 256->256 5x5 out", (16, 256, 10, 10), (256, 256, 4, 4), 2, 1),
    ("4x4/2 32->64 6x6 out", (64, 32, 12, 12), (64, 32, 4, 4), 2, 1),
    ("4x4/2 128->128 7x7 out", (32, 128, 14, 14), (128, 128, 4, 4), 2, 1),
    ("4x4/2 256->256 2x2 out", (64, 256, 4, 4), (256, 256, 4, 4), 2, 1),
    ("3x3/2 256->512 4x4 out", (16, 256, 8, 8), (512, 256, 3, 3), 2, 1),
    ("3x3/2 256->512 7x7 out", (16, 256, 14, 14), (512, 256, 3, 3), 2, 1),
    ("3-D 4/2 32->64 4^3 out", (4, 32, 8, 8, 8), (64, 32, 4, 4, 4), 2, 1),
    ("3-D 4/2 16->32 16^3 out", (2, 16, 32, 32, 32), (32, 16, 4, 4, 4), 2, 1),
]


def _ratio(call, pass_name, paths, rounds):
    """median over rounds of time(paths[0]) / time(paths[1]), and each path's median ms;
    None where the first path cannot run the shape."""
    times = {path: [] for path in paths}
    for _ in range(rounds):
        for path in paths:
            try:
                with cyconv.forced_paths(**{pass_name: path}):
                    start = time.perf_counter()
                    call()
                    times[path].append(time.perf_counter() - start)
            except ValueError:
                return None
    a, b = (np.array(times[p]) for p in paths)
    return np.median(a / b), np.median(a) * 1e3, np.median(b) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--rounds", type=int, default=11)
    args = ap.parse_args()
    print(f"| shape | auto grad_input, grad_weight | grad_input phases / col2im (ms) "
          f"| grad_weight phases / lowered (ms) |  ({args.dtype})")
    print("|---|---|---|---|")
    for name, xs, ws, stride, padding in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(args.dtype)
        w = rng.standard_normal(ws).astype(args.dtype)
        ndim = len(xs) - 2
        kw = dict(stride=stride, padding=padding)
        backward = getattr(cyconv, f"conv{ndim}d_backward")
        gy = rng.standard_normal(getattr(cyconv, f"conv{ndim}d")(x, w, **kw).shape)
        gy = gy.astype(args.dtype)
        plan = cyconv.plan_conv(x, w, **kw).backward
        cells = []
        for pass_name, paths, need in (("grad_input", (GI.PHASES, GI.IM2COL), ("input",)),
                                       ("grad_weight", (GW.PHASES, GW.IM2COL), ("weight",))):
            r = _ratio(lambda: backward(gy, x, w, need=need, **kw), pass_name, paths,
                       args.rounds)
            cells.append("-" if r is None else f"{r[0]:.2f} ({r[1]:.2f} / {r[2]:.2f})")
        print(f"| {name} | {plan.grad_input.value}, {plan.grad_weight.value} | "
              f"{cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
