"""The OpenMP thread count of every task: threads per worker x OpenMP threads <= cores.

A dask scheduler runs several tasks at once (one per worker thread); each task's cyconv call
starts its own OpenMP team. Left to cyconv's default, every task would start one thread per
core, and ``workers x threads`` teams would fight over the same cores. So ``num_threads=None``
is decided when the graph is built, from the scheduler that is active then:

* a distributed ``Client``: per host, the cores the workers may run on (measured on the
  workers, once per client and worker set) divided by the worker threads on that host; the
  smallest such share over the hosts;
* the threaded (dask's default for arrays) or processes scheduler: cyconv's own default
  (:func:`cyconv.get_num_threads` in this process) divided by the pool size
  (``dask.config`` ``num_workers``, else the CPU count);
* the synchronous scheduler: cyconv's own default (one task at a time).

At least 1. An explicit ``num_threads=`` is passed to every task unchanged. A graph built
under one scheduler and computed under another keeps the first one's count: pass
``num_threads=`` when that matters.
"""
from __future__ import annotations

import os

from .. import _threads

_host_cores_cache: dict = {}


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _distributed_client(scheduler):
    owner = getattr(scheduler, "__self__", None)
    if owner is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        return None
    return owner if isinstance(owner, Client) else None


def _client_share(client) -> int:
    """Smallest cores // worker-threads over the cluster's hosts."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        return 1
    key = (client.id, tuple(sorted(workers)))
    if key not in _host_cores_cache:
        # the workers' own affinity masks: OMP_NUM_THREADS there is the nanny's 1, not a core count
        _host_cores_cache[key] = client.run(_affinity_cores)
    cores = _host_cores_cache[key]
    per_host_threads: dict = {}
    per_host_cores: dict = {}
    for address, info in workers.items():
        host = info.get("host", address)
        per_host_threads[host] = per_host_threads.get(host, 0) + int(info.get("nthreads", 1))
        per_host_cores[host] = max(per_host_cores.get(host, 1), int(cores.get(address, 1)))
    return max(1, min(per_host_cores[h] // per_host_threads[h] for h in per_host_threads))


def task_threads(num_threads, collections=()) -> int:
    """The thread count passed to every task of a graph built now (see the module doc)."""
    if num_threads is not None:
        return _threads.resolve(num_threads)
    import dask
    import dask.base
    import dask.local
    from dask.system import CPU_COUNT

    scheduler = dask.base.get_scheduler(collections=list(collections) or None)
    client = _distributed_client(scheduler)
    if client is not None:
        return _client_share(client)
    own = _threads.resolve(None)
    if scheduler is dask.local.get_sync:
        return own
    pool = dask.config.get("num_workers", None) or CPU_COUNT
    return max(1, own // int(pool))
