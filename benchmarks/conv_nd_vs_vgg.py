"""The issue-4 speed bar in one process: conv1d and conv3d GFLOP/s relative to vgg3x3's.

    .venv/bin/python benchmarks/conv_nd_vs_vgg.py [--threads N] [--repeats R]

Times cyconv.conv{1,2,3}d (forward, and forward+backward) on the DESIGN rows round-robin,
as ``make bench`` does (cyconv._bench.interleaved_times: each timed call right after an
untimed one), so machine noise hits every row alike. Prints each row's median time and
its GFLOP/s relative to vgg3x3 forward as the median of the per-round ratios, with the
rounds' quartiles (a burst that slows one round slows both rows of that round's ratio):
against vgg3x3 as 'auto' runs it (Winograd: its rate counts direct-convolution FLOPs, 4x
the multiplications it does) and against vgg3x3 on the implicit kernels, the ones conv1d
and conv3d run on (>= 1.00 there: the kernels are as efficient on 1-D and 3-D). `make
bench` ends with the forward part.
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
    auto, implicit = _bench.conv_nd_against_vgg(n, repeats=args.repeats, backward=True)
    print(f"{n} threads, {args.repeats} interleaved rounds")
    for base, rates in (("vgg3x3 (Winograd)", auto), ("vgg3x3 implicit", implicit)):
        for name, (seconds, ratio, q1, q3) in rates.items():
            print(f"{name:24s} {seconds * 1e3:8.2f} ms {ratio:5.2f} x {base} fwd GFLOP/s "
                  f"(quartiles {q1:.2f}-{q3:.2f})")


if __name__ == "__main__":
    main()
