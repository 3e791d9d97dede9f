"""cyconv.dask on a distributed LocalCluster (2 worker processes, 1 thread each): tasks and
arguments pickle, results equal the single call, every task gets the thread rule's count,
and starting the cluster does not change cyconv's own default in this (the client) process.

One cluster for the module, small arrays: the cost is the cluster's start-up (~2-4 s).
"""
import os

import numpy as np
import pytest

import dask
import dask.array as da
from distributed import Client, LocalCluster

import cyconv
import cyconv.dask as cd


@pytest.fixture(scope="module")
def cluster_client():
    threads_before = cyconv.get_num_threads()
    environ_before = dict(os.environ)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, worker_dashboard_address=None)
    client = Client(cluster)
    try:
        yield client, threads_before
    finally:
        client.close()
        cluster.close()
        # undo the nanny's writes (OMP/MKL/OPENBLAS_NUM_THREADS, MALLOC_TRIM_THRESHOLD_) for
        # the subprocesses of the rest of the suite
        os.environ.clear()
        os.environ.update(environ_before)


def test_starting_a_local_cluster_keeps_cyconvs_default(cluster_client):
    _, threads_before = cluster_client
    # the trap is real: the nanny wrote its workers' setting into this process's environment
    assert os.environ.get("OMP_NUM_THREADS") == "1"
    assert cyconv.get_num_threads() == threads_before


def _cores():
    return len(os.sched_getaffinity(0))


def _omp_env():
    return os.environ.get("OMP_NUM_THREADS")


def test_ops_on_the_cluster_equal_the_single_call_with_the_thread_rule(cluster_client):
    client, _ = cluster_client
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 3, 30, 26)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 4)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    kw = dict(stride=(1, 2), padding="same", dilation=(2, 1))
    xd = da.from_array(x, chunks=(2, 3, 11, 13))
    y = cd.conv2d(xd, w, b, **kw)
    want = cyconv.conv2d(x, w, b, **kw)
    gy = rng.standard_normal(want.shape).astype(np.float32)
    grads = cd.conv2d_backward(da.from_array(gy, chunks=(1, 5, 8, 7)), xd, w, **kw)
    py, pi = cd.max_pool2d(xd, 3, 2, 1, ceil_mode=True, return_indices=True)
    pgy = rng.standard_normal(py.shape).astype(np.float32)
    pgx = cd.max_pool2d_backward(pgy, xd, 3, 2, 1, ceil_mode=True, indices=pi)

    # the rule: worker threads per host x OpenMP threads <= that host's cores
    cores = client.run(_cores)
    expected = max(1, min(cores.values()) // 2)
    for arr in (y, pgx):
        keywords = [task[0].keywords["keywords"] for key, task in
                    dict(arr.dask.layers[arr.name]).items() if key[0] == arr.name]
        assert {k["num_threads"] for k in keywords} == {expected}
    # the nanny's OMP_NUM_THREADS=1 in the workers does not decide it: the count is explicit
    assert set(client.run(_omp_env).values()) == {"1"}

    got = dask.compute(y, *grads, py, pi, pgx)
    single = [want, *cyconv.conv2d_backward(gy, x, w, **kw)]
    for name, g, s in zip(("y", "grad_input", "grad_weight", "grad_bias"), got[:4], single):
        np.testing.assert_allclose(g, s, rtol=2e-5, atol=2e-5 * np.abs(s).max(), err_msg=name)
    sy, si = cyconv.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
    assert np.array_equal(got[4], sy) and np.array_equal(got[5], si)
    assert np.array_equal(got[6], cyconv.max_pool2d_backward(pgy, x, 3, 2, 1, ceil_mode=True,
                                                             indices=si))
