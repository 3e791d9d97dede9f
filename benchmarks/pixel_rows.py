"""The pixel-lane row kernel (``ForwardPath.PIXEL_ROWS``) against the channel-lane row tiles
and the GEMM-shaped implicit kernel, forced through the public plan, in one process,
interleaved rounds, medians (2 threads by default).

    python benchmarks/pixel_rows.py [--repeats 7] [--dtype float32|float64]

``pixel / best other`` below 1 is a row where the pixel-lane kernel is the fastest; the
'implicit' column is the path ``algorithm='implicit'`` picks (the rule
``_conv_tiles.pixel_rows_apply`` with ``PIXEL_ROWS_MIN_SHARE`` of this ISA level).
benchmarks/README.md, "Thresholds of the convolution plans".
"""
import argparse

import numpy as np

import cyconv
from cyconv import ForwardPath, _bench
from cyconv._kernels import _isa

CASES = [  # x shape, weight shape, keyword arguments
    ((64, 1, 28, 28), (20, 1, 5, 5), {}),                         # lenet1
    ((64, 20, 12, 12), (50, 20, 5, 5), {}),                       # lenet2
    ((64, 16, 14, 14), (32, 16, 3, 3), dict(padding=1)),
    ((16, 64, 14, 14), (64, 64, 3, 3), dict(padding=1)),
    ((32, 32, 28, 28), (64, 32, 3, 3), dict(padding=1)),
    ((32, 32, 28, 28), (32, 32, 5, 5), dict(padding=2)),
    ((16, 24, 40, 40), (40, 24, 5, 5), dict(padding=2)),
    ((8, 32, 112, 112), (32, 32, 3, 3), dict(padding=1)),
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=2, dilation=2)),   # dilated
    ((8, 3, 64, 64), (16, 3, 3, 3), dict(padding=1)),
    ((2, 16, 32, 32, 32), (32, 16, 3, 3, 3), dict(padding=1)),     # conv3d
    ((32, 64, 1024), (64, 64, 5), dict(padding=2)),               # conv1d
    ((256, 64, 96), (64, 64, 5), dict(padding=2)),
    ((32, 50, 1000), (50, 50, 5), dict(padding=2)),
    ((64, 16, 4096), (16, 16, 7), dict(padding=3)),
]
PATHS = {"pixel": ForwardPath.PIXEL_ROWS, "row tiles": ForwardPath.ROWS_WIDE,
         "implicit GEMM": ForwardPath.IMPLICIT_GEMM}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    if not _isa.pixel_rows_available():
        raise SystemExit("the pixel-lane row kernel does not run on this CPU (needs AVX2)")
    rng = np.random.default_rng(0)
    print(f"ISA level {_isa.current_isa()}, {dtype.name}, {cyconv.get_num_threads()} threads, "
          f"median of {args.repeats} rounds (ms)")
    print("| x | weight | args | 'implicit' picks | " + " | ".join(PATHS)
          + " | pixel / best other |")
    print("|---|---|---|---|" + "---|" * len(PATHS) + "---|")
    for x_shape, w_shape, kw in CASES:
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        op = {3: cyconv.conv1d, 4: cyconv.conv2d, 5: cyconv.conv3d}[x.ndim]

        def forced(path):
            def call():
                with cyconv.forced_paths(forward=path):
                    op(x, w, algorithm="implicit", **kw)
            return call

        t = _bench.interleaved_medians({name: forced(path) for name, path in PATHS.items()},
                                       repeats=args.repeats)
        picked = cyconv.plan_conv(x, w, algorithm="implicit", **kw).forward.path.value
        others = min(v for name, v in t.items() if name != "pixel")
        print(f"| {x_shape} | {w_shape} | {kw} | {picked} | "
              + " | ".join(f"{t[name] * 1e3:.2f}" for name in PATHS)
              + f" | {t['pixel'] / others:.2f} |")


if __name__ == "__main__":
    main()
