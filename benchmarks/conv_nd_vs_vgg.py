"""The issue-4 speed bar in one process: conv1d and conv3d GFLOP/s relative to vgg3x3's.

    .venv/bin/python benchmarks/conv_nd_vs_vgg.py [--threads N] [--repeats R]

Times cyconv.conv{1,2,3}d (forward, and forward+backward) on the DESIGN rows round-robin, so
machine noise hits every row alike, and prints each row's GFLOP/s and its ratio to vgg3x3
forward (>= 1.00 for conv1d/conv3d forward means the bar is met), from the median and from
the fastest run (on a machine shared with other jobs the fastest run is the one least
disturbed).
"""
import argparse
import statistics
import time

import numpy as np

import cyconv
from cyconv import _bench


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    n = args.threads or cyconv.get_num_threads()
    cases = {c.name: c for c in _bench.CONV2D_CASES + _bench.CONV_ND_CASES}
    fns, flops = {}, {}
    for name in ("vgg3x3", "conv1d", "conv3d"):
        case = cases[name]
        x, w = case.arrays()
        ndim = len(case.spatial)
        fwd, bwd = getattr(cyconv, f"conv{ndim}d"), getattr(cyconv, f"conv{ndim}d_backward")
        kw = dict(case.kwargs, num_threads=n)
        gy = np.ones_like(fwd(x, w, **kw))
        fns[name] = lambda fwd=fwd, x=x, w=w, kw=kw: fwd(x, w, **kw)
        fns[name + " fwd+bwd"] = lambda fwd=fwd, bwd=bwd, x=x, w=w, kw=kw, gy=gy: (
            fwd(x, w, **kw), bwd(gy, x, w, **kw))
        flops[name], flops[name + " fwd+bwd"] = case.flops, 3 * case.flops
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            time.sleep(0.005)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    print(f"{n} threads, {args.repeats} interleaved runs")
    for stat in (statistics.median, min):
        t = {name: stat(v) for name, v in times.items()}
        base = flops["vgg3x3"] / t["vgg3x3"]
        for name, seconds in t.items():
            rate = flops[name] / seconds
            print(f"{stat.__name__:6s} {name:16s} {seconds * 1e3:8.2f} ms "
                  f"{rate / 1e9:7.1f} GFLOP/s {rate / base:5.2f} x vgg3x3 fwd")

if __name__ == "__main__":
    main()
