"""Per-call cost of small calls: cyconv against torch.nn.functional in one process (timeit,
interleaved rounds, medians of the per-round ratios). Small calls are where argument
checking, planning and thread start-up show.

    .venv/bin/python benchmarks/per_call.py [--rounds 15] [--threads N]
"""
import argparse
import statistics
import timeit

import numpy as np

import cyconv

CASES = [
    # name, cyconv call, torch call (on the same arrays)
    ("conv2d 1x1x8x8 k3", lambda c, t, a: c.conv2d(a["x8"], a["w1"]),
     lambda F, a: F.conv2d(a["tx8"], a["tw1"])),
    ("conv2d 1x3x32x32 -> 3 k3", lambda c, t, a: c.conv2d(a["x32"], a["w3"], padding=1),
     lambda F, a: F.conv2d(a["tx32"], a["tw3"], padding=1)),
    ("max_pool2d 1x1x8x8 k2", lambda c, t, a: c.max_pool2d(a["x8"], 2),
     lambda F, a: F.max_pool2d(a["tx8"], 2)),
    ("avg_pool2d 1x1x8x8 k2", lambda c, t, a: c.avg_pool2d(a["x8"], 2),
     lambda F, a: F.avg_pool2d(a["tx8"], 2)),
    ("conv2d_backward 1x1x8x8 k3", lambda c, t, a: c.conv2d_backward(a["gy6"], a["x8"], a["w1"]),
     None),
]


def main():
    import torch
    import torch.nn.functional as F
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None,
                        help="cyconv and torch threads (default: cyconv's default)")
    args = parser.parse_args()
    threads = args.threads or cyconv.get_num_threads()
    cyconv.set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    a = {"x8": rng.standard_normal((1, 1, 8, 8)).astype(np.float32),
         "w1": rng.standard_normal((1, 1, 3, 3)).astype(np.float32),
         "x32": rng.standard_normal((1, 3, 32, 32)).astype(np.float32),
         "w3": rng.standard_normal((3, 3, 3, 3)).astype(np.float32),
         "gy6": rng.standard_normal((1, 1, 6, 6)).astype(np.float32)}
    for k in ("x8", "w1", "x32", "w3"):
        a["t" + k] = torch.from_numpy(a[k])
    print(f"threads: {threads}; us per call, median of {args.rounds} rounds "
          f"(each the best of 5 timeit repeats)")
    print("| call | cyconv us | torch us | cyconv / torch |")
    print("|---|---|---|---|")
    for name, ours, theirs in CASES:
        def per_call(fn):
            number = 200
            return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
        ours_t, theirs_t, ratios = [], [], []
        for _ in range(args.rounds):
            ours_t.append(per_call(lambda: ours(cyconv, torch, a)))
            if theirs is not None:
                theirs_t.append(per_call(lambda: theirs(F, a)))
                ratios.append(ours_t[-1] / theirs_t[-1])
        med = statistics.median
        print(f"| {name} | {med(ours_t):.1f} | {med(theirs_t):.1f} | {med(ratios):.2f} |"
              if theirs else f"| {name} | {med(ours_t):.1f} | | |")


if __name__ == "__main__":
    main()
