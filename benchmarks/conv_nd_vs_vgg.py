"""The issue-4 speed bar in one process: conv1d and conv3d GFLOP/s relative to vgg3x3's.

    .venv/bin/python benchmarks/conv_nd_vs_vgg.py [--threads N] [--repeats R]

Times cyconv.conv{1,2,3}d (forward, and forward+backward) on the DESIGN rows round-robin,
as ``make bench`` does (cyconv._bench.interleaved_times: each timed call right after an
untimed one), so machine noise hits every row alike. Prints each row's median time and
its GFLOP/s relative to vgg3x3 forward as the median of the per-round ratios (>= 1.00 for
conv1d/conv3d forward means the bar is met) with the rounds' quartiles: a burst that slows
one round slows both rows of that round's ratio. `make bench` ends with the forward part.
"""
import argparse

import cyconv
from cyconv import _bench


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    n = args.threads or cyconv.get_num_threads()
    rates = _bench.conv_nd_against_vgg(n, repeats=args.repeats, backward=True)
    print(f"{n} threads, {args.repeats} interleaved rounds")
    for name, (seconds, ratio, q1, q3) in rates.items():
        print(f"{name:16s} {seconds * 1e3:8.2f} ms {ratio:5.2f} x vgg3x3 fwd GFLOP/s "
              f"(quartiles {q1:.2f}-{q3:.2f})")


if __name__ == "__main__":
    main()
