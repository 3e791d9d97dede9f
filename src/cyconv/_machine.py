"""The machine cyconv runs on: its CPU model (for `python -m cyconv info` and the bench
headers) and its cache sizes (which the plans' blocking scales to, ``_conv_tuning``)."""
from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_bytes(level: int, default: int) -> int:
    """Bytes of CPU 0's data (or unified) cache at ``level`` (Linux sysfs), else ``default``
    (and ``default`` for a size sysfs reports oddly)."""
    import glob
    for path in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(f"{path}/level") as fh:
                if int(fh.read()) != level:
                    continue
            with open(f"{path}/type") as fh:
                if fh.read().strip() not in ("Data", "Unified"):
                    continue
            with open(f"{path}/size") as fh:
                text = fh.read().strip()
        except (OSError, ValueError):
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        try:
            size = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
        except (ValueError, IndexError):
            return default
        return size if size >= 4096 else default
    return default
