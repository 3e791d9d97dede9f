"""Do ops called from a ThreadPoolExecutor run in parallel? (The kernels release the GIL.)

Times, interleaved in one process, W calls of each op with one OpenMP thread each: one after
another, then spread over a ThreadPoolExecutor of W workers. Prints the median wall times and
their ratio (W / ratio = the speed-up; ideal ratio 1/W on W free cores).

    .venv/bin/python tools/bench_threads.py [--workers 2] [--repeats 9]
"""
from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cyconv


def cases(rng):
    x = rng.standard_normal((4, 64, 56, 56)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    y = cyconv.conv2d(x, w, padding=1)
    big = rng.standard_normal((8, 64, 112, 112)).astype(np.float32)
    return {
        "conv2d vgg3x3 (N=4) forward": lambda: cyconv.conv2d(x, w, padding=1, num_threads=1),
        "conv2d vgg3x3 (N=4) backward": lambda: cyconv.conv2d_backward(y, x, w, padding=1,
                                                                        num_threads=1),
        "max_pool2d 2x2/2 (8,64,112,112)": lambda: cyconv.max_pool2d(big, 2, num_threads=1),
        "avg_pool2d 3x3/2 pad 1 (8,64,112,112)": lambda: cyconv.avg_pool2d(big, 3, 2, 1,
                                                                           num_threads=1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"| op | serial {args.workers} calls (ms) | {args.workers} workers (ms) | ratio |")
    print("|---|---|---|---|")
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for name, fn in cases(rng).items():
            fn()
            serial, threaded = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for _ in range(args.workers):
                    fn()
                serial.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for future in [pool.submit(fn) for _ in range(args.workers)]:
                    future.result()
                threaded.append(time.perf_counter() - t0)
            s, t = statistics.median(serial), statistics.median(threaded)
            print(f"| {name} | {s * 1e3:.1f} | {t * 1e3:.1f} | {t / s:.2f} |")


if __name__ == "__main__":
    main()
