"""Winograd F(4x4, 3x3): vgg3x3 and res3x3 (and a 128-channel layer) forward and forward +
backward with each algorithm against torch (CPU, its default path), interleaved rounds,
medians, 2 threads; and the max error against the float64 reference beside the implicit
path's.

    .venv/bin/python benchmarks/winograd.py [--dtype float64] [--rounds 7]
"""
import argparse
import statistics
import timeit

import numpy as np

import cyconv
from cyconv._bench_cases import CONV2D_CASES, ConvCase

try:
    import torch
except ImportError:
    torch = None

CASES = [c for c in CONV2D_CASES if c.name in ("vgg3x3", "res3x3")] + [
    ConvCase("wide3x3", 8, 128, (28, 28), 128, 3, 1, 1, 1, 1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    cyconv.set_num_threads(2)
    if torch is not None:
        torch.set_num_threads(2)
    print("| row | pass | auto ms | winograd ms | implicit ms | torch ms | auto / torch "
          "| winograd / torch | implicit / torch | max err winograd / implicit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in CASES:
        x, w = case.arrays(dtype)
        kw = case.kwargs
        gy = np.random.default_rng(1).standard_normal(
            (case.batch, case.out_channels) + case.output_shape()).astype(dtype)
        exact = cyconv.reference.conv2d(x.astype(np.float64), w.astype(np.float64), **kw)
        errors = {a: np.abs(cyconv.conv2d(x, w, algorithm=a, **kw) - exact).max()
                  for a in ("winograd", "implicit")}
        for training in (False, True):
            fns = {}
            for algorithm in ("auto", "winograd", "implicit"):
                def run(a=algorithm):
                    cyconv.conv2d(x, w, algorithm=a, **kw)
                    if training:
                        cyconv.conv2d_backward(gy, x, w, algorithm=a, **kw)
                fns[algorithm] = run
            if torch is not None:
                tx = torch.from_numpy(x).requires_grad_(training)
                tw = torch.from_numpy(w).requires_grad_(training)
                tgy = torch.from_numpy(gy)

                def run_torch():
                    y = torch.nn.functional.conv2d(tx, tw, **kw)
                    if training:
                        y.backward(tgy)
                fns["torch"] = run_torch
            times = {name: [] for name in fns}
            for fn in fns.values():
                fn()
            for _ in range(args.rounds):
                for name, fn in fns.items():
                    times[name].append(min(timeit.repeat(fn, number=1, repeat=3)))
            t = {name: statistics.median(v) * 1e3 for name, v in times.items()}
            base = t.get("torch", float("nan"))
            print(f"| {case.name} | {'fwd+bwd' if training else 'fwd'} | {t['auto']:.2f} "
                  f"| {t['winograd']:.2f} | {t['implicit']:.2f} | {base:.2f} "
                  f"| {t['auto'] / base:.2f} | {t['winograd'] / base:.2f} "
                  f"| {t['implicit'] / base:.2f} "
                  f"| {errors['winograd'] / errors['implicit']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
