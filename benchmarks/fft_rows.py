"""The FFT rows: a 512x512 float64 image with a 31x31 kernel ('same', flip=True) against
SciPy's fftconvolve/oaconvolve and torch, and 8x16->16x128x128 k15 float32 against the
float32 matmul rate and torch; interleaved rounds, medians, one process, 2 threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/fft_rows.py
"""
import statistics
import timeit

import numpy as np
import scipy.signal as signal
try:
    import torch
except ImportError:  # the SciPy and matmul comparisons run without it
    torch = None

import cyconv


def medians(fns: dict, rounds: int = 11, number: int = 3) -> dict:
    """Median over interleaved rounds of each function's best-of-2 time (seconds), each
    timed right after an untimed call of its own (as ``make bench`` does: the thread pool
    of whatever ran before - torch's spins for a while after its call - is not charged to
    the next row)."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            times[name].append(min(timeit.repeat(fn, number=number, repeat=2)) / number)
    return {name: statistics.median(v) for name, v in times.items()}


def image_row(rng):
    image, kernel = rng.standard_normal((512, 512)), rng.standard_normal((31, 31))
    x, w = image[None, None], kernel[None, None]
    pad = ((15, 15), (15, 15))
    fns = {"cyconv auto": lambda: cyconv.conv2d(x, w, padding=pad, flip=True),
           "scipy fftconvolve": lambda: signal.fftconvolve(image, kernel, mode="same"),
           "scipy oaconvolve": lambda: signal.oaconvolve(image, kernel, mode="same")}
    if torch is not None:
        tx = torch.from_numpy(x)
        tw = torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1])[None, None])
        fns["torch conv2d"] = lambda: torch.nn.functional.conv2d(tx, tw, padding=15)
    m = medians(fns)
    faster = min(m["scipy fftconvolve"], m["scipy oaconvolve"])
    print("512x512 float64 * 31x31 ('same', flip):",
          ", ".join(f"{name} {t * 1e3:.2f} ms" for name, t in m.items()),
          f"; cyconv / the faster SciPy: {m['cyconv auto'] / faster:.2f}")


def channels_row(rng):
    a = rng.standard_normal((2048, 2048)).astype(np.float32)
    matmul = statistics.median(min(timeit.repeat(lambda: a @ a, number=3, repeat=2)) / 3
                               for _ in range(5))
    ceiling = 2 * 2048**3 / matmul / 1e9
    x = rng.standard_normal((8, 16, 128, 128)).astype(np.float32)
    w = rng.standard_normal((16, 16, 15, 15)).astype(np.float32)
    gy = np.ones((8, 16, 128, 128), np.float32)
    flops = 2 * 8 * 16 * 16 * 128 * 128 * 225

    def training(algorithm):
        cyconv.conv2d(x, w, padding=7, algorithm=algorithm)
        cyconv.conv2d_backward(gy, x, w, padding=7, algorithm=algorithm,
                               need=("input", "weight"))

    fns = {"auto fwd": lambda: cyconv.conv2d(x, w, padding=7),
           "fft fwd": lambda: cyconv.conv2d(x, w, padding=7, algorithm="fft"),
           "auto fwd+bwd": lambda: training("auto"),
           "fft fwd+bwd": lambda: training("fft")}
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        fns["torch fwd"] = lambda: torch.nn.functional.conv2d(tx, tw, padding=7)
    m = medians(fns, rounds=5, number=1)
    print(f"float32 matmul: {ceiling:.0f} GFLOP/s")
    for name, t in m.items():
        rate = flops * (3 if "bwd" in name else 1) / t / 1e9
        print(f"8x16->16x128x128 k15 float32 {name}: {t * 1e3:.1f} ms, {rate:.0f} GFLOP/s "
              f"(direct count) = {rate / ceiling:.2f}x matmul")


def main():
    cyconv.set_num_threads(2)
    if torch is not None:
        torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    image_row(rng)
    channels_row(rng)


if __name__ == "__main__":
    main()
