"""unfold / fold 2-D against PyTorch, timed round-robin in one process.

    python benchmarks/fold_vs_torch.py [--threads 2] [--repeats 21]

cyconv.unfold / cyconv.fold against torch.nn.functional.unfold / fold (under no_grad) on
float32 inputs; medians in ms (cyconv._bench.interleaved_medians: a burst of machine noise
hits both alike) and the torch/cyconv ratio. The floor is each op's compulsory traffic (read
the input, write the output) over the bandwidth of a one-thread NumPy copy of an array of the
first unfold's size (57.8 MB), measured in the same run.
(``unfold_backward`` is a fold and ``fold_backward`` an unfold: the same kernels.)
"""
import argparse
import math

import numpy as np

import cyconv
from cyconv._machine import cpu_model
from cyconv import _bench
from cyconv import reference as ref

# (name, image shape (N, C, H, W), keyword arguments)
CASES = [("vgg3x3 8x64x56x56 k3 p1", (8, 64, 56, 56), dict(kernel_size=3, padding=1)),
         ("strided 8x64x56x56 k3 s2 p1", (8, 64, 56, 56), dict(kernel_size=3, padding=1,
                                                               stride=2))]


def implementations(case, num_threads: int) -> dict:
    """op -> implementation -> callable, on arrays made once."""
    _, shape, kw = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    cols = cyconv.unfold(x, **kw)
    size = shape[2:]
    impls = {"unfold": {"cyconv": lambda: cyconv.unfold(x, **kw, num_threads=num_threads),
                        "reference": lambda: ref.unfold(x, **kw)},
             "fold": {"cyconv": lambda: cyconv.fold(cols, size, **kw, num_threads=num_threads),
                      "reference": lambda: ref.fold(cols, size, **kw)}}
    torch, F = _bench._torch()
    if torch is not None:
        torch.set_num_threads(num_threads)
        xt, ct = torch.from_numpy(x), torch.from_numpy(cols)

        def torch_unfold():
            with torch.no_grad():
                return F.unfold(xt, **kw)

        def torch_fold():
            with torch.no_grad():
                return F.fold(ct, size, **kw)
        impls["unfold"]["torch"], impls["fold"]["torch"] = torch_unfold, torch_fold
    return impls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    import torch
    a = np.ones(math.prod(CASES[0][1]) * 9, np.float32)  # the size of the first unfold
    b = np.empty_like(a)
    copy = _bench.interleaved_medians({"copy": lambda: np.copyto(b, a)}, repeats=args.repeats)
    gbs = 2 * a.nbytes / copy["copy"] / 1e9
    print(f"{cpu_model()}, torch {torch.__version__}, "
          f"{args.threads} threads, float32, median of {args.repeats} interleaved rounds; "
          f"NumPy copy {gbs:.1f} GB/s")
    print("| case | op | cyconv ms | torch ms | torch/cyconv | floor ms |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        impls = implementations(case, args.threads)
        for op in ("unfold", "fold"):
            t = _bench.interleaved_medians({k: impls[op][k] for k in ("cyconv", "torch")},
                                           repeats=args.repeats)
            cols = math.prod(cyconv.unfold(np.ones((1,) + case[1][1:], np.float32),
                                           **case[2]).shape) * case[1][0]
            floor = (cols + math.prod(case[1])) * 4 / (gbs * 1e9)
            print(f"| {case[0]} | {op} | {t['cyconv'] * 1e3:.2f} | {t['torch'] * 1e3:.2f} | "
                  f"{t['torch'] / t['cyconv']:.2f} | {floor * 1e3:.2f} |")


if __name__ == "__main__":
    main()
