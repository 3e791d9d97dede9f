"""The benchmark rows and the competitors, shared by `python -m cyconv bench` and
the pytest-benchmark suite in benchmarks/.

Every implementation is timed in the same process, so the ratios are meaningful even when
the machine's absolute speed drifts.
"""
from __future__ import annotations

import functools
import math
import statistics
import time

import numpy as np

# the rows and the NumPy competitors live in their own modules; the harness re-exports them
from ._bench_cases import (CONV2D_CASES, CONV_ND_CASES,  # noqa: F401
                           CONV_TRANSPOSE_CASES, POOL2D_CASES, POOL_ND_CASES, POOL_OPS,
                           TORCH_POOL_OPS, ConvCase, ConvTransposeCase, PoolCase)
from ._bench_numpy import (numpy_adaptive_avg_pool, numpy_avg_pool2d,  # noqa: F401
                           numpy_conv, numpy_conv_backward, numpy_global_avg_pool,
                           numpy_max_pool2d, numpy_pool_nd)


# OpenBLAS's workers spin for 2**28 cycles (~0.1 s) after a matmul before they sleep; until
# then they take the cores from whatever is timed next (lenet1, timed right after the
# matmul ceiling, measured 0.50 ms instead of 0.37).
SETTLE_SECONDS = 0.25


def median_time(fn, *, repeats: int = 7, budget: float = 3.0) -> float:
    """Median wall time of ``fn()`` after one warm-up call, stopping early past ``budget`` s.

    It first sleeps briefly: the thread pools of the previous implementation (OpenBLAS,
    PyTorch's OpenMP) spin-wait after their last call and would steal the cores from this one.
    """
    time.sleep(SETTLE_SECONDS)
    fn()
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget and len(times) >= 1:
            break
    return statistics.median(times)


def interleaved_medians(fns: dict, *, repeats: int = 7, pause: float = 0.005) -> dict:
    """Median wall time of each callable, timed round-robin (a, b, a, b, ...).

    Interleaving makes a burst of machine noise hit every implementation alike, so the
    ratios stay meaningful on a shared machine. It starts after a settling pause (see
    SETTLE_SECONDS), and each turn first pauses, so the previous
    implementation's thread pool stops spinning (cyconv and torch bring separate OpenMP
    runtimes), then makes one untimed call and times the next: inside a model the ops run
    back to back on awake threads, whereas the first call after a pause also pays for waking
    the sleeping pool (on the 2-core Zen 5 host that cost alone put lenet1 at 0.66 ms
    against 0.40 ms back to back, and torch likewise 0.60 against 0.35 ms).
    """
    times = interleaved_times(fns, repeats=repeats, pause=pause)
    return {name: statistics.median(v) for name, v in times.items()}


def interleaved_times(fns: dict, *, repeats: int = 7, pause: float = 0.005) -> dict:
    """Every round's wall time of each callable, timed as ``interleaved_medians`` does:
    name -> list of ``repeats`` seconds, entry r of every list from the same round."""
    time.sleep(SETTLE_SECONDS)
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(pause)
            fn()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def relative_rates(work: dict, base: str, *, repeats: int = 21, times: dict = None) -> dict:
    """Each callable's FLOP rate relative to ``base``'s, from the same interleaved rounds
    (``interleaved_times``, or ``times`` already taken so): ``work`` maps name -> (callable,
    FLOPs); returns name -> (median seconds, median of the per-round rate ratios, lower and
    upper quartile). A burst that slows one round then slows both sides of that round's
    ratio."""
    if times is None:
        times = interleaved_times({name: fn for name, (fn, _) in work.items()},
                                  repeats=repeats)
    base_rates = [work[base][1] / t for t in times[base]]
    out = {}
    for name, seconds in times.items():
        ratios = sorted(work[name][1] / t / b for t, b in zip(seconds, base_rates))
        out[name] = (statistics.median(seconds), statistics.median(ratios),
                     ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4])
    return out


def conv_nd_against_vgg(num_threads: int, *, repeats: int = 21, backward: bool = False):
    """conv1d's and conv3d's GFLOP/s (the benchmark rows) relative to vgg3x3's, forward (and
    forward+backward with ``backward``), from ``relative_rates``: (against vgg3x3 as 'auto'
    runs it - Winograd, its rate in direct-convolution FLOPs -, against vgg3x3 on the
    implicit kernels that conv1d and conv3d run on), both from the same rounds."""
    import cyconv
    cases = {c.name: c for c in CONV2D_CASES + CONV_ND_CASES}
    work = {}
    for name, algorithm in (("vgg3x3", "auto"), ("vgg3x3 implicit", "implicit"),
                            ("conv1d", "auto"), ("conv3d", "auto")):
        case = cases[name.split()[0]]
        x, w = case.arrays()
        ndim = len(case.spatial)
        fwd = getattr(cyconv, f"conv{ndim}d")
        bwd = getattr(cyconv, f"conv{ndim}d_backward")
        kw = dict(case.kwargs, num_threads=num_threads, algorithm=algorithm)
        work[name] = (lambda fwd=fwd, x=x, w=w, kw=kw: fwd(x, w, **kw), case.flops)
        if backward:
            gy = np.ones_like(fwd(x, w, **kw))
            work[name + " fwd+bwd"] = (
                lambda fwd=fwd, bwd=bwd, x=x, w=w, kw=kw, gy=gy: (fwd(x, w, **kw),
                                                                   bwd(gy, x, w, **kw)),
                3 * case.flops)
    times = interleaved_times({name: fn for name, (fn, _) in work.items()}, repeats=repeats)
    return (relative_rates(work, "vgg3x3", times=times),
            relative_rates(work, "vgg3x3 implicit", times=times))


CEILING_N = 2048


def _ceiling_matrix(n: int | None = None, dtype=np.float32) -> np.ndarray:
    n = CEILING_N if n is None else n
    return np.random.default_rng(0).standard_normal((n, n)).astype(dtype)


def matmul_gflops(n: int | None = None, repeats: int = 5, dtype=np.float32) -> float:
    """NumPy's matmul GFLOP/s in ``dtype``: the machine's practical ceiling."""
    n = CEILING_N if n is None else n
    a = _ceiling_matrix(n, dtype)
    return 2 * n ** 3 / median_time(lambda: a @ a, repeats=repeats) / 1e9


def _torch():
    try:
        import torch
        import torch.nn.functional as F
        return torch, F
    except ImportError:
        return None, None


def conv_implementations(case: ConvCase, num_threads: int, *, include_slow: bool = True,
                         dtype=np.float32):
    """{impl name: (forward callable, forward+backward callable)} for one case (1-3 dims)."""
    import cyconv
    from cyconv import reference
    ndim = len(case.spatial)
    fwd, bwd = getattr(cyconv, f"conv{ndim}d"), getattr(cyconv, f"conv{ndim}d_backward")
    x, w = case.arrays(dtype)
    y = fwd(x, w, **case.kwargs)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    kw = case.kwargs

    def cy_fb():
        fwd(x, w, num_threads=num_threads, **kw)
        bwd(gy, x, w, num_threads=num_threads, **kw)

    impls = {"cyconv": (lambda: fwd(x, w, num_threads=num_threads, **kw), cy_fb)}
    torch, F = _torch()
    if torch is not None:
        impls["torch"] = _torch_pair(torch, getattr(F, f"conv{ndim}d"), x, w, gy, kw,
                                     num_threads)
    if include_slow:
        ref_fwd = getattr(reference, f"conv{ndim}d")
        ref_bwd = getattr(reference, f"conv{ndim}d_backward")

        def np_fb():
            numpy_conv(x, w, **kw)
            numpy_conv_backward(gy, x, w, **kw)

        def ref_fb():
            ref_fwd(x, w, **kw)
            ref_bwd(gy, x, w, **kw)

        impls["numpy"] = (lambda: numpy_conv(x, w, **kw), np_fb)
        impls["reference"] = (lambda: ref_fwd(x, w, **kw), ref_fb)
    return impls


def _torch_pair(torch, op, x, w, gy, kw, num_threads):
    """(forward without autograd, forward+backward) of a torch op on the same arrays."""
    torch.set_num_threads(num_threads)
    xt, wt, gyt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(gy)
    xr, wr = xt.clone().requires_grad_(), wt.clone().requires_grad_()

    def torch_fb():
        xr.grad = wr.grad = None
        op(xr, wr, **kw).backward(gyt)

    def torch_f():
        with torch.no_grad():
            op(xt, wt, **kw)

    return torch_f, torch_fb


def conv_transpose_implementations(case: ConvTransposeCase, num_threads: int, *,
                                   include_slow: bool = True, dtype=np.float32):
    """As :func:`conv_implementations` for a transposed convolution (the reference, a
    per-tap einsum scatter, is also the NumPy approach)."""
    import cyconv
    from cyconv import reference
    ndim = len(case.spatial)
    name = f"conv_transpose{ndim}d"
    fwd, bwd = getattr(cyconv, name), getattr(cyconv, name + "_backward")
    x, w = case.arrays(dtype)
    kw = case.kwargs
    gy = np.random.default_rng(1).standard_normal(fwd(x, w, **kw).shape).astype(dtype)

    def cy_fb():
        fwd(x, w, num_threads=num_threads, **kw)
        bwd(gy, x, w, num_threads=num_threads, **kw)

    impls = {"cyconv": (lambda: fwd(x, w, num_threads=num_threads, **kw), cy_fb)}
    torch, F = _torch()
    if torch is not None:
        impls["torch"] = _torch_pair(torch, getattr(F, name), x, w, gy, kw, num_threads)
    if include_slow:
        ref_fwd, ref_bwd = getattr(reference, name), getattr(reference, name + "_backward")

        def ref_fb():
            ref_fwd(x, w, **kw)
            ref_bwd(gy, x, w, **kw)

        impls["reference"] = (lambda: ref_fwd(x, w, **kw), ref_fb)
    return impls


def pool_implementations(case: PoolCase, num_threads: int, *, include_slow: bool = True,
                         dtype=np.float32):
    import cyconv
    from cyconv import reference
    x = case.arrays(dtype)
    name = POOL_OPS[case.op]
    fwd, bwd = getattr(cyconv, name), getattr(cyconv, name + "_backward")
    y = fwd(x, **case.kwargs)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)

    def cy_fb():
        fwd(x, num_threads=num_threads, **case.kwargs)
        bwd(gy, x, num_threads=num_threads, **case.kwargs)

    impls = {"cyconv": (lambda: fwd(x, num_threads=num_threads, **case.kwargs), cy_fb)}
    torch, F = _torch()
    if torch is not None:
        torch.set_num_threads(num_threads)
        tf = getattr(F, TORCH_POOL_OPS.get(case.op, name))
        tkw = case.torch_kwargs if case.torch_kwargs is not None else case.kwargs
        xt, gyt = torch.from_numpy(x), torch.from_numpy(gy)
        xr = xt.clone().requires_grad_()

        def torch_f():
            with torch.no_grad():
                tf(xt, **tkw)

        def torch_fb():
            xr.grad = None
            tf(xr, **tkw).backward(gyt)

        impls["torch"] = (torch_f, torch_fb)
    if include_slow:
        rf, rb = getattr(reference, name), getattr(reference, name + "_backward")
        nf = {"max": numpy_max_pool2d, "avg": numpy_avg_pool2d,
              "global_avg": numpy_global_avg_pool, "adaptive_avg": numpy_adaptive_avg_pool,
              "max1d": functools.partial(numpy_pool_nd, reduce=np.max),
              "avg3d": functools.partial(numpy_pool_nd, reduce=np.mean)}.get(case.op)

        def ref_fb():
            rf(x, **case.kwargs)
            rb(gy, x, **case.kwargs)

        if nf is not None:
            impls["numpy"] = (lambda: nf(x, **case.kwargs), None)
        impls["reference"] = (lambda: rf(x, **case.kwargs), ref_fb)
    return impls


def run(quick: bool = True, num_threads: int | None = None, compare: bool = True,
        print_fn=print, only=None, dtype=np.float32):
    """Time every case; print a markdown table as rows complete.

    ``dtype``: float32 (default) or float64 for every array of every row.
    Returns ``(table_text, records)`` where each record is a dict with the case, the pass,
    the FLOP count (None for pooling) and the median seconds of every implementation timed.
    ``only``: the names of the cases to time (default: all).
    """
    import cyconv
    known = [c.name for c in CONV2D_CASES + CONV_ND_CASES + CONV_TRANSPOSE_CASES + POOL2D_CASES
             + POOL_ND_CASES]
    if only is not None and set(only) - set(known):
        raise ValueError(f"unknown benchmark cases {sorted(set(only) - set(known))}; "
                         f"known: {known}")
    n = num_threads or cyconv.get_num_threads()
    repeats = 11 if quick else 25
    dtype = np.dtype(dtype)
    ceiling = matmul_gflops(dtype=dtype)
    from cyconv._machine import cpu_model
    header = [f"{cpu_model()}; {dtype.name}, {n} threads; cyconv and torch: median of {repeats} "
              f"interleaved runs "
              f"(each timed right after an untimed call), "
              f"numpy and reference: median of 3; NumPy {dtype.name} matmul (2048^3) ceiling: "
              f"{ceiling:.0f} GFLOP/s at the start; '% of matmul' divides by the matmul timed "
              f"right before the row", ""]
    if compare:
        header += ["| case | pass | cyconv ms | cyconv GFLOP/s | % of matmul | torch ms "
                   "| cyconv/torch time | numpy ms | reference ms | speed-up vs reference |",
                   "|---|---|---|---|---|---|---|---|---|---|"]
    else:
        header += ["| case | pass | cyconv ms | cyconv GFLOP/s | % of matmul |",
                   "|---|---|---|---|---|"]
    lines = list(header)
    for line in header:
        print_fn(line)

    def fmt(v, spec=".2f"):
        return "-" if v is None else format(v, spec)

    cases = [(c, conv_implementations, c.flops) for c in CONV2D_CASES + CONV_ND_CASES]
    cases += [(c, conv_transpose_implementations, c.flops) for c in CONV_TRANSPOSE_CASES]
    cases += [(c, pool_implementations, None) for c in POOL2D_CASES + POOL_ND_CASES]
    if only is not None:
        cases = [entry for entry in cases if entry[0].name in only]
    records = []
    matrix = _ceiling_matrix(dtype=dtype)
    for case, make, flops in cases:
        impls = make(case, n, include_slow=compare, dtype=dtype)
        if not compare:
            impls = {"cyconv": impls["cyconv"]}
        row_ceiling = ceiling
        for idx, label in ((0, "fwd"), (1, "fwd+bwd")):
            fast = {name: fns[idx] for name, fns in impls.items() if name in ("cyconv", "torch")}
            if flops and idx == 0:
                # the ceiling again, right before the row: the shared host's speed drifts
                # over a run (ceilings of 430-475 GFLOP/s in one afternoon). Timed in the
                # same rounds instead, OpenBLAS's matmul slowed the sub-millisecond rows
                # after it by 8-15% (lenet2 0.82 against 0.69-0.76 ms) but not torch.
                row_ceiling = 2 * CEILING_N ** 3 / median_time(lambda: matrix @ matrix,
                                                              repeats=3) / 1e9
            paired = flops and idx == 1
            if paired:
                # cyconv's forward again in the same rounds: each round's backward is that
                # round's fwd+bwd minus its forward (the rows are minutes apart)
                fast[PAIRED_FORWARD] = impls["cyconv"][0]
            rounds = interleaved_times(fast, repeats=repeats)
            t = {name: statistics.median(v) for name, v in rounds.items()}
            t.pop(PAIRED_FORWARD, None)
            t.update({name: median_time(fns[idx], repeats=3) if fns[idx] is not None else None
                      for name, fns in impls.items() if name not in fast})
            work = flops * (1 if idx == 0 else 3) if flops else None
            records.append({"case": case.name, "pass": label, "flops": work, "seconds": t,
                            "ceiling": row_ceiling if flops else None})
            if paired:
                records[-1]["paired"] = list(zip(rounds[PAIRED_FORWARD], rounds["cyconv"]))
            cy = t["cyconv"]
            gf = work / cy / 1e9 if work else None
            line = (f"| {case.name} | {label} | {fmt(cy * 1e3)} | {fmt(gf, '.1f')} | "
                    f"{fmt(gf / row_ceiling * 100 if gf else None, '.0f')} |")
            if compare:
                line += (f" {fmt(t['torch'] * 1e3 if t.get('torch') else None)} | "
                         f"{fmt(cy / t['torch'] if t.get('torch') else None)} | "
                         f"{fmt(t['numpy'] * 1e3 if t.get('numpy') else None)} | "
                         f"{fmt(t['reference'] * 1e3 if t.get('reference') else None)} | "
                         f"{fmt(t['reference'] / cy if t.get('reference') else None, '.1f')} |")
            lines.append(line)
            print_fn(line)
    summary = training_summary(records)
    lines += summary
    for line in summary:
        print_fn(line)
    if only is None or {"vgg3x3", "conv1d", "conv3d"} <= set(only):
        # the rows above are timed minutes apart on a host whose speed drifts; the bar
        # compares them within the same rounds
        auto, implicit = conv_nd_against_vgg(n, repeats=2 * repeats - 1)

        def ratios(rates):
            return "; ".join(f"{name} {rates[name][1]:.2f}x ({rates[name][2]:.2f}-"
                             f"{rates[name][3]:.2f})" for name in ("conv1d", "conv3d"))
        tail = ["", f"conv1d and conv3d forward GFLOP/s relative to vgg3x3's, timed in the "
                    f"same {2 * repeats - 1} interleaved rounds (median of the per-round "
                    f"ratios, quartiles): against vgg3x3 on Winograd ('auto'; its rate in "
                    f"direct-convolution FLOPs) {ratios(auto)}; against vgg3x3 on the "
                    f"implicit kernels that conv1d and conv3d run on {ratios(implicit)}"]
        lines += tail
        for line in tail:
            print_fn(line)
    return "\n".join(lines), records, ceiling


#: the dense rows of issue 17's targets (with conv1d and conv3d)
DENSE_ROWS = ("vgg3x3", "res3x3", "res1x1", "stem7x7", "strided", "dilated", "lenet2",
              "conv1d", "conv3d")


# the fwd+bwd rows also time cyconv's forward, under this name, in the same rounds
PAIRED_FORWARD = "cyconv fwd"


def _backward_rates(fwd: dict, both: dict) -> tuple:
    """(forward GFLOP/s, backward GFLOP/s, backward / forward rate) of a convolution row: from
    the fwd+bwd row's rounds where it timed the forward too (``paired``: the medians of each
    round's forward and of its fwd+bwd minus that forward, the rate the median of the
    per-round ratios), else the fwd+bwd median minus the fwd row's median. None where the
    backward took no time."""
    flops = fwd["flops"]
    rounds = [(f, b) for f, b in both.get("paired", ()) if b > f]
    if rounds:
        fwd_rate = flops / statistics.median(f for f, _ in rounds) / 1e9
        bwd_rate = 2 * flops / statistics.median(b - f for f, b in rounds) / 1e9
        return fwd_rate, bwd_rate, statistics.median(2 * f / (b - f) for f, b in rounds)
    t_fwd, t_both = fwd["seconds"]["cyconv"], both["seconds"]["cyconv"]
    fwd_rate = flops / t_fwd / 1e9
    if t_both <= t_fwd:
        return fwd_rate, None, None
    bwd_rate = 2 * flops / (t_both - t_fwd) / 1e9
    return fwd_rate, bwd_rate, bwd_rate / fwd_rate


def training_summary(records) -> list:
    """Lines after the table: each convolution row's backward pass alone (each fwd+bwd round
    minus the forward timed in the same round, twice the forward's FLOPs:
    :func:`_backward_rates`) in GFLOP/s beside the forward's, and the geometric means of
    cyconv/torch time over the dense rows."""
    by_row = {}
    for r in records:
        if r["flops"]:
            by_row.setdefault(r["case"], {})[r["pass"]] = r
    lines = ["", "Backward pass alone (each fwd+bwd round minus a forward timed in the same "
             "round; 2x the forward's FLOPs; rate: median of the per-round ratios):", "",
             "| case | fwd GFLOP/s | bwd GFLOP/s | bwd / fwd rate |", "|---|---|---|---|"]
    ratios = {"fwd": [], "fwd+bwd": []}
    for name, passes in by_row.items():
        if {"fwd", "fwd+bwd"} - set(passes):
            continue
        fwd, both = passes["fwd"], passes["fwd+bwd"]
        fwd_rate, bwd_rate, rate = _backward_rates(fwd, both)
        lines.append(f"| {name} | {fwd_rate:.1f} | "
                     f"{'-' if bwd_rate is None else format(bwd_rate, '.1f')} | "
                     f"{'-' if rate is None else format(rate, '.2f')} |")
        if name in DENSE_ROWS:
            for label, rec in (("fwd", fwd), ("fwd+bwd", both)):
                if rec["seconds"].get("torch"):
                    ratios[label].append(rec["seconds"]["cyconv"] / rec["seconds"]["torch"])
    for label, values in ratios.items():
        if values:
            geo = math.exp(sum(math.log(v) for v in values) / len(values))
            lines.append("")
            lines.append(f"Geometric mean cyconv/torch time, {label}, over the "
                         f"{len(values)} dense rows present: {geo:.2f} (max {max(values):.2f})")
    return lines


def plot(records, ceiling: float, path: str, dtype: str = "float32") -> None:
    """Bar chart of GFLOP/s per convolution row and implementation (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    conv = [r for r in records if r["flops"]]
    names = sorted({impl for r in conv for impl, t in r["seconds"].items() if t},
                   key=["cyconv", "torch", "numpy", "reference"].index)
    labels = [f"{r['case']}\n{r['pass']}" for r in conv]
    fig, ax = plt.subplots(figsize=(max(8, len(conv) * 0.7), 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [r["flops"] / r["seconds"][name] / 1e9 if r["seconds"].get(name) else 0
                  for r in conv]
        ax.bar([j + i * width for j in range(len(conv))], values, width, label=name)
    ax.axhline(ceiling, color="k", linestyle="--", linewidth=1, label="NumPy matmul ceiling")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(conv))], labels, fontsize=7)
    ax.set_ylabel(f"GFLOP/s ({dtype})")
    ax.set_title("cyconv convolution benchmark rows")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
