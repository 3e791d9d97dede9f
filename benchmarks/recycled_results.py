"""Large results recycled (cyconv's default) against fresh NumPy arrays, with torch in the
same interleaved rounds (2 threads): max 2x2/2 and avg 3x3/2 (padding 1) forward+backward on
(8, 64, 112, 112), and the grad_input of a 1x1 256->64 convolution on (8, 256, 56, 56) -
in float64 each grad_input is 51 MB, beyond glibc's 32 MiB of recycled mappings.

    python benchmarks/recycled_results.py [--dtype float64] [--repeats 21]

"fresh" sets the recycler's capacity to 0 for its call (every large result a new NumPy
array); benchmarks/README.md, "Large results: recycled memory".
"""
import argparse

import numpy as np

import cyconv
from cyconv import _bench, _outputs


def main() -> None:
    import torch
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(2)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 112, 112)).astype(dtype)
    gy = np.ones((8, 64, 56, 56), dtype)
    xc = rng.standard_normal((8, 256, 56, 56)).astype(dtype)
    wc = rng.standard_normal((64, 256, 1, 1)).astype(dtype)
    gyc = rng.standard_normal((8, 64, 56, 56)).astype(dtype)
    xt, gyt = torch.from_numpy(x).clone().requires_grad_(), torch.from_numpy(gy)
    capacity = _outputs.capacity()

    def cy(fn, recycle):
        def run():
            _outputs.set_capacity(capacity if recycle else 0)
            fn()  # the result dies here: recycled, or unmapped
        return run

    def max_fb():
        cyconv.max_pool2d(x, 2, 2)
        return cyconv.max_pool2d_backward(gy, x, 2, 2)

    def avg_fb():
        cyconv.avg_pool2d(x, 3, 2, 1)
        return cyconv.avg_pool2d_backward(gy, x, 3, 2, 1)

    def grad_input_1x1():
        return cyconv.conv2d_backward(gyc, xc, wc, need=("input",)).grad_input

    def torch_fb(f, *a):
        def run():
            xt.grad = None
            f(xt, *a).backward(gyt)
        return run

    F = torch.nn.functional
    fns = {"max fwd+bwd, recycled": cy(max_fb, True), "max fwd+bwd, fresh": cy(max_fb, False),
           "max fwd+bwd, torch": torch_fb(F.max_pool2d, 2, 2),
           "avg fwd+bwd, recycled": cy(avg_fb, True), "avg fwd+bwd, fresh": cy(avg_fb, False),
           "avg fwd+bwd, torch": torch_fb(F.avg_pool2d, 3, 2, 1),
           "1x1 grad_input, recycled": cy(grad_input_1x1, True),
           "1x1 grad_input, fresh": cy(grad_input_1x1, False)}
    try:
        t = _bench.interleaved_medians(fns, repeats=args.repeats)
    finally:
        _outputs.set_capacity(capacity)
    print(f"{dtype.name}, 2 threads, median of {args.repeats} interleaved rounds")
    print("| call | recycled ms | fresh ms | fresh / recycled | torch / recycled | torch / fresh |")
    print("|---|---|---|---|---|---|")
    for name in ("max fwd+bwd", "avg fwd+bwd", "1x1 grad_input"):
        r, f = t[f"{name}, recycled"], t[f"{name}, fresh"]
        tt = t.get(f"{name}, torch")
        ratios = f"{tt / r:.2f} | {tt / f:.2f}" if tt else "- | -"
        print(f"| {name} | {r * 1e3:.2f} | {f * 1e3:.2f} | {f / r:.2f} | {ratios} |")


if __name__ == "__main__":
    main()
