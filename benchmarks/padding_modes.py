"""padding_mode cost: vgg3x3 (8x64x56x56, 64->64, 3x3, padding 1) with each mode, cyconv
forward and forward + backward, torch nn.Conv2d(padding_mode=...) forward; interleaved
rounds, medians, 2 threads.

    .venv/bin/python benchmarks/padding_modes.py
"""
import statistics
import timeit

import numpy as np
import torch

import cyconv

MODES = ("zeros", "reflect", "circular")


def main(rounds: int = 9):
    torch.set_num_threads(2)
    cyconv.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 56, 56)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    gy = np.ones((8, 64, 56, 56), np.float32)
    tx = torch.from_numpy(x)
    layers = {}
    for mode in MODES:
        layers[mode] = torch.nn.Conv2d(64, 64, 3, padding=1, padding_mode=mode, bias=False)
        with torch.no_grad():
            layers[mode].weight.copy_(torch.from_numpy(w))

    def training(mode):
        cyconv.conv2d(x, w, padding=1, padding_mode=mode)
        cyconv.conv2d_backward(gy, x, w, padding=1, padding_mode=mode, need=("input", "weight"))

    fns = {}
    for mode in MODES:
        fns[f"cyconv {mode} forward"] = lambda m=mode: cyconv.conv2d(x, w, padding=1,
                                                                     padding_mode=m)
        fns[f"torch {mode} forward"] = lambda m=mode: layers[m](tx)
        fns[f"cyconv {mode} forward + backward"] = lambda m=mode: training(m)
    times = {name: [] for name in fns}
    with torch.no_grad():
        for _ in range(rounds):
            for name, fn in fns.items():
                times[name].append(min(timeit.repeat(fn, number=1, repeat=3)))
    for name, values in times.items():
        print(f"{name}: {statistics.median(values) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
