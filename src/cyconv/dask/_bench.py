"""The Dask overhead table (``python -m cyconv bench --dask``).

Three workloads, each timed against the single cyconv call in the same run, repeats
interleaved (single, then each dask variant, round after round), medians and ranges:

* image: 1x16x4096^2 float32, 3x3 16->16 'same', forward; data created on the workers and the
  result kept there (``persist``), LocalCluster 2 workers x 1 thread, chunks 2048^2 and 1024^2;
* batch: 64x64x56^2 float32, 3x3 64->64 'same', forward + backward (all three gradients),
  chunks of 8 images; threaded scheduler (results gathered into NumPy arrays, and kept as
  blocks) and LocalCluster 2 x 1 (data on the workers, each grad_output block on its input
  block's worker, the results kept there);
* dask-image's own job: 1-channel 5x5 convolution of 4096^2 float32 at 1024^2 chunks, zero
  padding, ``dask_image.ndfilters.convolve`` against ``cyconv.dask.conv2d`` (threaded).

LocalCluster workers start without the nanny's ``MALLOC_TRIM_THRESHOLD_`` (a fixed trim
threshold turns off glibc's dynamic mmap threshold, so every large buffer is mapped and
page-faulted again); the table says so.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import cyconv


def _median_range(times):
    return statistics.median(times), min(times), max(times)


def _interleaved(fns: dict, repeats: int) -> dict:
    """{name: [seconds, ...]}: one call of each function per round, after one warm-up round."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _cluster(n_workers=2, threads_per_worker=1):
    import dask
    from distributed import Client, LocalCluster
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                               processes=True, dashboard_address=None)
    return cluster, Client(cluster)


def _persist_wait(arrays):
    """The arrays persisted on the cluster in one submission (``dask.persist``), waited for."""
    import dask
    from distributed import wait
    kept = dask.persist(*arrays)
    wait(list(kept))
    return list(kept)


def image_fns(size=4096, channels=16):
    import dask.array as da
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((channels, channels, 3, 3)) / 12).astype(np.float32)
    x = rng.random((1, channels, size, size), dtype=np.float32)
    on_workers = {}
    for chunk in (2048, 1024):
        xd = da.random.RandomState(0).random((1, channels, size, size),
                                            chunks=(1, channels, chunk, chunk)).astype(np.float32)
        on_workers[chunk] = _persist_wait([xd])[0]
    fns = {"single call": lambda: cyconv.conv2d(x, w, padding=1)}
    for chunk, xd in on_workers.items():
        fns[f"LocalCluster 2x1, {chunk}^2 chunks"] = (
            lambda xd=xd: _persist_wait([cyconv_dask().conv2d(xd, w, padding=1)]))
    return fns


def cyconv_dask():
    import cyconv.dask
    return cyconv.dask


def batch_fns(client, n=64, c=64, hw=56, chunk=8):
    import dask
    import dask.array as da
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) / 24).astype(np.float32)
    b = np.zeros(c, np.float32)
    gy = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    cd = cyconv_dask()

    def single():
        cyconv.conv2d(x, w, b, padding=1)
        cyconv.conv2d_backward(gy, x, w, padding=1)

    def graph(xd, gyd):
        return [cd.conv2d(xd, w, b, padding=1), *cd.conv2d_backward(gyd, xd, w, padding=1)]

    local = tuple(da.from_array(a, chunks=(chunk, c, hw, hw)) for a in (x, gy))

    def threaded():  # results gathered into NumPy arrays (dask concatenates the blocks)
        dask.compute(*graph(*local), scheduler="threads")

    def threaded_kept():  # results kept as blocks, as a next layer on dask would take them
        dask.persist(*graph(*local), scheduler="threads")

    fns = {"single call": single,
           f"threaded scheduler, chunks of {chunk}, results as NumPy (compute)": threaded,
           f"threaded scheduler, chunks of {chunk}, results kept as blocks (persist)":
               threaded_kept}
    if client is not None:  # same shapes, created on the workers (no 50 MB graph); each
        # grad_output block made from its input block, so on its worker, where a backward pass
        # finds it (it is computed where the forward ran)
        xr = da.random.RandomState(1).standard_normal((n, c, hw, hw), chunks=(chunk, c, hw, hw))
        xr = xr.astype(np.float32)
        remote = _persist_wait([xr, xr * np.float32(-0.5) + np.float32(0.25)])
        fns[f"LocalCluster 2x1, chunks of {chunk}"] = lambda: _persist_wait(graph(*remote))
    return fns


def dask_image_fns(size=4096, chunk=1024, k=5):
    import dask
    import dask.array as da
    rng = np.random.default_rng(2)
    img = rng.random((size, size), dtype=np.float32)
    w = rng.random((k, k), dtype=np.float32)
    cd = cyconv_dask()
    xd = da.from_array(img, chunks=chunk)
    x4 = da.from_array(img[None, None], chunks=(1, 1, chunk, chunk))
    w4 = w[::-1, ::-1][None, None].copy()  # ndimage.convolve flips: the same job
    fns = {"single cyconv call": lambda: cyconv.conv2d(img[None, None], w4, padding="same")}
    fns["cyconv.dask (threaded)"] = lambda: cd.conv2d(x4, w4, padding="same").compute(
        scheduler="threads")
    try:
        from dask_image import ndfilters
    except ImportError:
        return fns, None
    fns["dask-image convolve (threaded)"] = lambda: ndfilters.convolve(
        xd, w, mode="constant", cval=0.0).compute(scheduler="threads")
    with dask.config.set(scheduler="threads"):
        a = cd.conv2d(x4, w4, padding="same").compute()[0, 0]
        b = ndfilters.convolve(xd, w, mode="constant", cval=0.0).compute()
    return fns, float(np.abs(a - b).max())


def _table(title, times, base):
    ref = statistics.median(times[base])
    lines = [f"\n{title}", "", "| implementation | median s | range s | / single call |",
             "|---|---|---|---|"]
    for name, ts in times.items():
        med, lo, hi = _median_range(ts)
        lines.append(f"| {name} | {med:.3f} | {lo:.3f}-{hi:.3f} | {med / ref:.2f}x |")
    return "\n".join(lines)


def run(repeats: int = 5, quick: bool = False) -> str:
    """All three tables as markdown (``quick``: 3 repeats)."""
    import os
    import platform
    repeats = 3 if quick else repeats
    out = [f"Dask overhead, {platform.processor() or platform.machine()}, "
           f"{len(os.sched_getaffinity(0))} cores, cyconv threads {cyconv.get_num_threads()}, "
           f"{repeats} interleaved rounds after a warm-up; load average "
           f"{' '.join(f'{v:.1f}' for v in os.getloadavg())} at start"]
    fns, d_err = dask_image_fns()
    out.append(_table("1-channel 5x5 on 4096^2 float32, 1024^2 chunks (dask-image's job)",
                      _interleaved(fns, repeats), "single cyconv call"))
    if d_err is not None:
        out.append(f"\n(max |cyconv.dask - dask-image| = {d_err:.2g})")
    cluster, client = _cluster()
    try:
        fns = image_fns()
        out.append(_table("1x16x4096^2 3x3 16->16 forward, data and result on the workers "
                          "(LocalCluster 2 workers x 1 thread, no MALLOC_TRIM_THRESHOLD_)",
                          _interleaved(fns, repeats), "single call"))
        out.append(_table("batch 64x64x56^2 3x3 64->64 forward + backward",
                          _interleaved(batch_fns(client), repeats), "single call"))
    finally:
        client.close()
        cluster.close()
    out.append(f"\nload average at end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return "\n".join(out)
