"""LSTM and GRU layers against torch.nn.LSTM / GRU, timed round-robin in one process.

    python benchmarks/rnn_vs_torch.py [--threads 2] [--repeats 11] [--dtype float32]
                                      [--output FILE.md]

cyconv.nn.LSTM / GRU (compiled kernels, batch_first) against torch.nn.LSTM / GRU on the CPU
with the same weights: forward (inference: torch under no_grad, cyconv with
need_grad=False) and forward+backward (every parameter gradient and the input gradient;
torch's x requires grad) on (64, 100, 128) -> 256, and the forward of a batch of one
(inference, T = 100). Medians in ms of interleaved rounds
(cyconv._bench.interleaved_medians: a burst of machine noise hits both alike) and the
cyconv/torch time ratio (below 1: cyconv is faster).
"""
import argparse

import numpy as np

from cyconv import _bench, nn
from cyconv._machine import cpu_model

# (name, cell, batch, steps, input_size, hidden_size, passes)
CASES = [("LSTM 64x100x128 -> 256", "LSTM", 64, 100, 128, 256, ("forward", "forward+backward")),
         ("GRU 64x100x128 -> 256", "GRU", 64, 100, 128, 256, ("forward", "forward+backward")),
         ("LSTM 1x100x128 -> 256", "LSTM", 1, 100, 128, 256, ("forward",)),
         ("GRU 1x100x128 -> 256", "GRU", 1, 100, 128, 256, ("forward",))]


def implementations(case, num_threads: int, dtype) -> dict:
    """pass -> {'cyconv': callable, 'torch': callable} on arrays made once."""
    import torch
    from cyconv import threads
    _, cell, batch, steps, in_size, hidden, passes = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, in_size)).astype(dtype)
    grad = rng.standard_normal((batch, steps, hidden)).astype(dtype)
    layer = getattr(nn, cell)(in_size, hidden, dtype=dtype, rng=1)
    torch.set_num_threads(num_threads)
    tlayer = getattr(torch.nn, cell)(in_size, hidden, batch_first=True,
                                     dtype=getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, value in layer.params().items():
            getattr(tlayer, name).copy_(torch.from_numpy(value))
    xt, gt = torch.from_numpy(x), torch.from_numpy(grad)
    xr = xt.clone().requires_grad_()

    def cy_forward():
        with threads(num_threads):
            layer.forward(x, need_grad=False)

    def cy_both():
        with threads(num_threads):
            layer.forward(x)
            layer.backward(grad)

    def torch_forward():
        with torch.no_grad():
            tlayer(xt)

    def torch_both():
        tlayer.zero_grad(set_to_none=True)
        xr.grad = None
        tlayer(xr)[0].backward(gt)

    impls = {"forward": {"cyconv": cy_forward, "torch": torch_forward},
             "forward+backward": {"cyconv": cy_both, "torch": torch_both}}
    return {p: impls[p] for p in passes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--output", default=None, help="also write the markdown table here")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("rnn_vs_torch: torch is not installed, nothing to compare with")
        return
    lines = [f"{cpu_model()}, torch {torch.__version__}, {args.threads} threads, {args.dtype}, "
             f"median of {args.repeats} interleaved rounds", "",
             "| case | pass | cyconv ms | torch ms | cyconv/torch |", "|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for case in CASES:
        for name, fns in implementations(case, args.threads, np.dtype(args.dtype)).items():
            t = _bench.interleaved_medians(fns, repeats=args.repeats)
            lines.append(f"| {case[0]} | {name} | {t['cyconv'] * 1e3:.2f} | "
                         f"{t['torch'] * 1e3:.2f} | {t['cyconv'] / t['torch']:.2f} |")
            print(lines[-1], flush=True)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
