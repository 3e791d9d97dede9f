"""The issue-4 speed bar in one process: conv1d and conv3d GFLOP/s relative to vgg3x3's.

    .venv/bin/python benchmarks/conv_nd_vs_vgg.py [--threads N] [--repeats R]

Times cyconv.conv{1,2,3}d (forward, and forward+backward) on the DESIGN rows round-robin,
as ``make bench`` does (cyconv._bench.interleaved_times: each timed call right after an
untimed one), so machine noise hits every row alike. Prints each row's median time and
GFLOP/s, and its GFLOP/s relative to vgg3x3 forward as the median of the per-round ratios
(>= 1.00 for conv1d/conv3d forward means the bar is met) with the rounds' quartiles: a
burst that slows one round slows both rows of that round's ratio.
"""
import argparse
import statistics

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
    times = _bench.interleaved_times(fns, repeats=args.repeats)
    print(f"{n} threads, {args.repeats} interleaved rounds")
    base = [flops["vgg3x3"] / t for t in times["vgg3x3"]]
    for name, seconds in times.items():
        ratios = sorted(flops[name] / t / b for t, b in zip(seconds, base))
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        median = statistics.median(seconds)
        print(f"{name:16s} {median * 1e3:8.2f} ms {flops[name] / median / 1e9:7.1f} GFLOP/s "
              f"{statistics.median(ratios):5.2f} x vgg3x3 fwd (quartiles {q1:.2f}-{q3:.2f})")


if __name__ == "__main__":
    main()
