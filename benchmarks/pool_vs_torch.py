"""Pooling rows of the DESIGN shape set against PyTorch, and the memory-bandwidth floor.

    python benchmarks/pool_vs_torch.py [--threads 2] [--repeats 15] [--dtype float64]

cyconv and torch (torch.nn.functional.max_pool2d / avg_pool2d; forward under no_grad,
forward+backward through autograd on a requires_grad tensor) are timed round-robin in one
process (cyconv._bench.interleaved_medians); medians in ms and torch/cyconv ratios. The floor
is each pass's compulsory traffic (read the input once, write the output once; write-allocate
reads counted separately) over the copy bandwidth measured in the same run: a NumPy copy
(one thread) and an average pooling with a 1x1 window, which is a copy
through our own kernels on all threads; both on arrays of the benchmark's input size
(25.7 MB, the outputs reuse freed memory as in the timed calls).
"""
import argparse

import numpy as np

import cyconv
from cyconv import _bench


def bandwidth(shape, threads: int, repeats: int, dtype) -> dict:
    """Copy GB/s (bytes read + written) on arrays of the benchmark's input size."""
    a = np.ones(shape, dtype)
    b = np.empty_like(a)
    t = _bench.interleaved_medians({
        "numpy copy (1 thread)": lambda: np.copyto(b, a),
        f"cyconv 1x1 avg pool ({threads} threads)":
            lambda: cyconv.avg_pool2d(a, 1, num_threads=threads),
    }, repeats=repeats)
    return {name: 2 * a.nbytes / s / 1e9 for name, s in t.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    nt = args.threads
    rng = np.random.default_rng(0)
    gbs = bandwidth(_bench.POOL2D_CASES[0].shape, nt, args.repeats, dtype)
    for name, v in gbs.items():
        print(f"copy bandwidth, {name}: {v:.1f} GB/s (read + write bytes)")
    copy_gbs = max(gbs.values())
    print(f"torch {torch.__version__}, {nt} threads, {dtype.name}, median of {args.repeats}")
    print("| case | pass | cyconv ms | torch ms | torch/cyconv | cyconv ms, out= | "
          "floor ms (no RFO / with RFO) |")
    print("|---|---|---|---|---|---|---|")
    for case in _bench.POOL2D_CASES[:2]:
        x = rng.standard_normal(case.shape).astype(dtype)
        fwd = {"max": cyconv.max_pool2d, "avg": cyconv.avg_pool2d}[case.op]
        bwd = {"max": cyconv.max_pool2d_backward, "avg": cyconv.avg_pool2d_backward}[case.op]
        tf = {"max": F.max_pool2d, "avg": F.avg_pool2d}[case.op]
        kw = case.kwargs
        y = fwd(x, **kw)
        gy = rng.standard_normal(y.shape).astype(dtype)
        xt, gyt = torch.from_numpy(x), torch.from_numpy(gy)
        xr = xt.clone().requires_grad_()

        def cy_f():
            fwd(x, num_threads=nt, **kw)

        def cy_fb():
            fwd(x, num_threads=nt, **kw)
            bwd(gy, x, num_threads=nt, **kw)

        # the same into preallocated outputs: the kernels without the allocation (a new
        # output larger than glibc's 32 MiB mmap threshold is faulted in page by page)
        y_out, gx_out = np.empty_like(y), np.empty_like(x)

        def cy_f_out():
            fwd(x, num_threads=nt, out=y_out, **kw)

        def cy_fb_out():
            fwd(x, num_threads=nt, out=y_out, **kw)
            bwd(gy, x, num_threads=nt, out=gx_out, **kw)

        def torch_f():
            with torch.no_grad():
                tf(xt, **kw)

        def torch_fb():
            xr.grad = None
            tf(xr, **kw).backward(gyt)

        t = _bench.interleaved_medians({"cy_f": cy_f, "torch_f": torch_f, "cy_fb": cy_fb,
                                        "torch_fb": torch_fb, "cy_f_out": cy_f_out,
                                        "cy_fb_out": cy_fb_out}, repeats=args.repeats)
        # compulsory bytes: forward reads x, writes y; the backward reads gy (and x for max,
        # which re-selects), writes gx
        fwd_bytes = x.nbytes + y.nbytes
        bwd_bytes = gy.nbytes + x.nbytes + (x.nbytes if case.op == "max" else 0)
        for label, cy, th, cy_out, nbytes, written in (
                ("fwd", t["cy_f"], t["torch_f"], t["cy_f_out"], fwd_bytes, y.nbytes),
                ("fwd+bwd", t["cy_fb"], t["torch_fb"], t["cy_fb_out"], fwd_bytes + bwd_bytes,
                 y.nbytes + x.nbytes)):
            lo = nbytes / copy_gbs / 1e6
            hi = (nbytes + written) / copy_gbs / 1e6
            print(f"| {case.name} | {label} | {cy * 1e3:.2f} | {th * 1e3:.2f} | {th / cy:.1f} | "
                  f"{cy_out * 1e3:.2f} | {lo:.2f} / {hi:.2f} |", flush=True)


if __name__ == "__main__":
    main()
