"""Command line: ``python -m cyconv info``, ``python -m cyconv bench [--quick]`` and
``python -m cyconv demo [--task sequence] [--plots DIR]``."""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys

from cyconv import _conv_tuning as tuning
from cyconv._machine import cpu_model


def build_record() -> dict | None:
    """What setup.py's build_ext recorded beside the kernels (its OpenMP probe), if it did."""
    path = pathlib.Path(__file__).parent / "_kernels" / "_build_info.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:  # built by something other than setup.py's build_ext
        return None


def openmp_line(enabled: bool, record: dict | None = None) -> str:
    """The ``OpenMP compiled in`` line; for a serial build, why (setup.py's probe record)."""
    if enabled:
        return "OpenMP compiled in: yes"
    record = record or build_record()
    if record is None:
        return "OpenMP compiled in: no (serial build; no record of the build's OpenMP probe)"
    tried = "; ".join(f"{flags} -> {outcome}" if flags else outcome
                      for flags, outcome in record["openmp_probe"])
    return (f"OpenMP compiled in: no (serial build; probe: {tried}). The kernels are correct "
            "but use one core: see the README's install section to build with OpenMP.")


def info() -> str:
    import numpy as np

    import cyconv
    from cyconv._kernels import _info, _isa
    lines = [
        f"cyconv {cyconv.__version__} (Python {platform.python_version()}, NumPy {np.__version__})",
        f"CPU: {cpu_model()}; L1D {tuning.L1_BYTES // 2**10} KiB, L2 "
        f"{tuning.L2_CACHE_BYTES // 2**10} KiB (the plans' blocking scales to them)",
        openmp_line(_info.openmp_enabled()),
        f"threads in use: {cyconv.get_num_threads()} (OpenMP default {_info.openmp_max_threads()})",
        f"GEMM micro-kernel ISA: {_isa.ISA_NAMES[_isa.current_isa()]} "
        f"(CPU supports {_isa.ISA_NAMES[_isa.cpu_isa()]}); "
        f"float32 tile {_isa.tile_shape(True)}, float64 tile {_isa.tile_shape(False)}",
        f"compile flags: {_info.compile_flags()}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cyconv")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, OpenMP, threads, micro-kernel ISA, compile flags")
    bench = sub.add_parser("bench", help="time the benchmark rows against the competitors")
    bench.add_argument("--quick", action="store_true", help="fewer repeats")
    bench.add_argument("--threads", type=int, default=None, help="threads for cyconv and torch")
    bench.add_argument("--compare", action="store_true",
                       help="also time torch (when installed), the best NumPy approach and the reference")
    bench.add_argument("--output", default=None, help="also write the markdown table here")
    bench.add_argument("--plot", default=None, metavar="FILE.png",
                       help="draw GFLOP/s per row and implementation (needs matplotlib)")
    bench.add_argument("--cases", default=None, metavar="NAME,NAME",
                       help="time only these rows (case names, comma-separated)")
    bench.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                       help="the rows' dtype (and the matmul ceiling's)")
    bench.add_argument("--dask", action="store_true",
                       help="instead: the cyconv.dask overhead table (needs the bench extra)")
    from cyconv import _demo
    demo = sub.add_parser("demo", help="train a CNN on scikit-learn's digits (--task sequence: "
                          "an LSTM and a causal TCN on the digits row by row; needs the demo "
                          "extra) and time it against cyconv.reference")
    _demo.add_arguments(demo)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo.main(args)
    if args.command == "info":
        print(info())
        return 0
    print(info())
    print()
    if args.dask:
        from cyconv.dask import _bench as dask_bench
        table = dask_bench.run(quick=args.quick)
        print(table)
        if args.output:
            with open(args.output, "w") as fh:
                fh.write(table + "\n")
        return 0
    from cyconv import _bench
    try:
        table, records, ceiling = _bench.run(quick=args.quick, num_threads=args.threads,
                                             compare=args.compare,
                                             only=args.cases.split(",") if args.cases else None,
                                             dtype=args.dtype)
    except ValueError as err:  # an unknown --cases name
        parser.error(str(err))
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(table + "\n")
    if args.plot:
        try:
            _bench.plot(records, ceiling, args.plot, args.dtype)
            print(f"plot written to {args.plot}")
        except ImportError:
            print("no plot: matplotlib is not installed (pip install 'cyconv[plot]')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
