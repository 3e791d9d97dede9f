"""Channels-last input: each bench row's forward convolution on an NCHW view of NHWC memory
(``x.transpose(0, 2, 3, 1)`` of an NHWC array; read in place) against the same layer on
C-contiguous NCHW input, and against copying the view to NCHW first (what a caller had to do
before); torch's channels_last forward beside them when torch is installed. Interleaved
rounds, medians, 2 threads.

    .venv/bin/python benchmarks/channels_last.py [--dtype float64] [--rounds 9]
"""
import argparse
import statistics
import timeit

import numpy as np

import cyconv
from cyconv._bench_cases import CONV2D_CASES, CONV_ND_CASES

try:
    import torch
except ImportError:  # the comparison runs without it
    torch = None


def channels_last(a):
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    cyconv.set_num_threads(2)
    if torch is not None:
        torch.set_num_threads(2)
    print("| row | path on channels-last | NCHW ms | channels-last ms | copy + NCHW ms "
          "| channels-last / NCHW | channels-last / copy |"
          + (" torch channels_last / NCHW |" if torch is not None else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if torch is not None else ""))
    for case in CONV2D_CASES + CONV_ND_CASES:
        x, w = case.arrays(dtype)
        op = getattr(cyconv, f"conv{len(case.spatial)}d")
        xl = channels_last(x)
        kw = case.kwargs
        fns = {"nchw": lambda: op(x, w, **kw),
               "cl": lambda: op(xl, w, **kw),
               "copy": lambda: op(np.ascontiguousarray(xl), w, **kw)}
        if torch is not None and x.ndim == 4:
            tw = torch.from_numpy(w)
            tx = torch.from_numpy(x)
            txl = tx.contiguous(memory_format=torch.channels_last)
            fns["torch"] = lambda: torch.nn.functional.conv2d(tx, tw, **kw)
            fns["torch-cl"] = lambda: torch.nn.functional.conv2d(txl, tw, **kw)
        times = {name: [] for name in fns}
        for fn in fns.values():
            fn()
        for _ in range(args.rounds):
            for name, fn in fns.items():
                times[name].append(min(timeit.repeat(fn, number=1, repeat=3)))
        t = {name: statistics.median(v) for name, v in times.items()}
        path = cyconv.plan_conv(xl, w, **kw).forward
        row = (f"| {case.name} | {path} | {t['nchw'] * 1e3:.2f} | {t['cl'] * 1e3:.2f} "
               f"| {t['copy'] * 1e3:.2f} | {t['cl'] / t['nchw']:.2f} | {t['cl'] / t['copy']:.2f} |")
        if torch is not None:
            row += f" {t['torch-cl'] / t['torch']:.2f} |" if "torch" in t else " - |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
