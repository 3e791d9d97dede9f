"""Global average pooling on the DESIGN row (8, 512, 7, 7): the adaptive kernel's paths,
the window kernel and PyTorch, timed round-robin in one process.

    python benchmarks/global_pool_paths.py [--threads 1] [--repeats 51]

Rows: the adaptive kernel on the unmerged geometry (per-plane bin loops over 7 rows of 7),
the same kernel on the merged geometry the API uses (one run of 49 per plane, 64 planes per
call of the vector helpers), the public ``global_avg_pool`` (validation and allocation
included), ``avg_pool2d(x, 7)``, torch ``adaptive_avg_pool2d(x, 1)`` and ``x.mean((2, 3))``.
Medians in µs, back to back and with a 5 ms pause before each call (cold caches, as in
``python -m cyconv bench``).
"""
import argparse

import numpy as np

import cyconv
from cyconv import _bench
from cyconv._kernels import _adaptive_pool as kernels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=51)
    args = parser.parse_args()
    n = args.threads or cyconv.get_num_threads()
    x = np.random.default_rng(0).standard_normal((8, 512, 7, 7)).astype(np.float32)
    y5 = np.empty((8, 512, 1, 1, 1), np.float32)
    rows = np.empty((n, 49))
    per_plane = np.array([0, 1, 0, 1, 0, 7], np.intp)  # bins (d0, d1, h0, h1, w0, w1)
    merged = np.array([0, 1, 0, 1, 0, 49], np.intp)
    fns = {
        "kernel, per-plane bin loops": lambda: kernels.avg_forward(
            x.reshape(8, 512, 1, 7, 7), y5, per_plane, rows, n),
        "kernel, chunked whole-plane runs": lambda: kernels.avg_forward(
            x.reshape(8, 512, 1, 1, 49), y5, merged, rows, n),
        "cyconv.global_avg_pool": lambda: cyconv.global_avg_pool(x, num_threads=n),
        "cyconv.avg_pool2d(x, 7)": lambda: cyconv.avg_pool2d(x, 7, num_threads=n),
    }
    torch, F = _bench._torch()
    if torch is not None:
        torch.set_num_threads(n)
        xt = torch.from_numpy(x)
        fns["torch adaptive_avg_pool2d(x, 1)"] = lambda: F.adaptive_avg_pool2d(xt, 1)
        fns["torch x.mean((2, 3))"] = lambda: xt.mean((2, 3))
    np.testing.assert_allclose(cyconv.global_avg_pool(x), x.astype(np.float64).mean(axis=(2, 3)),
                               rtol=1e-6, atol=1e-7)
    print(f"float32 (8, 512, 7, 7), {n} thread(s), median of {args.repeats}, µs")
    print("| | back to back | 5 ms pause before each call |")
    print("|---|---|---|")
    hot = _bench.interleaved_medians(fns, repeats=args.repeats, pause=0.0)
    cold = _bench.interleaved_medians(fns, repeats=args.repeats, pause=0.005)
    for name in fns:
        print(f"| {name} | {hot[name] * 1e6:.0f} | {cold[name] * 1e6:.0f} |")


if __name__ == "__main__":
    main()
