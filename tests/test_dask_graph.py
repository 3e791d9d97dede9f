"""cyconv.dask graphs: halo depth, no needless rechunk, laziness, argument errors, the thread
rule, and every op on the threaded scheduler against the single call."""
import numpy as np
import pytest

import dask
import dask.array as da

import cyconv
import cyconv.dask as cd
from cyconv.dask import _threads as dask_threads


def _layer(arr):
    """The tasks of the array's own (last) layer."""
    return dict(arr.dask.layers[arr.name])


def _halo_strips(arr):
    """{(source block index): [slices]} of the halo strips the array's graph cuts (a layer
    of their own, scheduled first)."""
    strips = {}
    for name, layer in arr.dask.layers.items():
        if name.endswith("-halo"):
            assert layer.annotations == {"priority": 1}
            for key, task in dict(layer).items():
                strips.setdefault(tuple(task[1][1:]), []).append(task[2])
    return strips


def _task_keywords(arr):
    return [task[0].keywords["keywords"] for key, task in _layer(arr).items()
            if key[0] == arr.name]


@pytest.mark.parametrize("padding, dilation, kernel, lows", [
    (1, 1, 3, (1, 1)), (((2, 0), (0, 2)), 1, 3, (2, 0)), (((0, 3), (1, 0)), 2, 3, (0, 1)),
    (2, 1, 4, (2, 2))])
def test_halo_strips_are_the_asymmetric_halo_and_no_wider(padding, dilation, kernel, lows):
    x = da.zeros((2, 3, 64, 64), dtype=np.float32, chunks=(1, 3, 16, 16))
    w = np.zeros((4, 3, kernel, kernel), np.float32)
    y = cd.conv2d(x, w, padding=padding, dilation=dilation)
    reach = dilation * (kernel - 1)
    expected = {lo for lo in lows} | {reach - lo for lo in lows}
    widths = set()
    for slices_list in _halo_strips(y).values():
        for slices in slices_list:
            widths.update(s.stop - s.start for s in slices[2:] if s.stop - s.start < 16)
    # every strip cut from a neighbour is exactly the halo on that side (no wider, no rechunk)
    assert widths == expected - {0}
    assert not any("rechunk" in name for name in y.dask.layers)
    # each output block reads its own block whole plus at most 8 strips
    for key, task in _layer(y).items():
        if key[0] == y.name:
            x_keys = task[1]
            assert len([k for row in x_keys for k in row]) <= 9


def test_no_halo_and_no_rechunk_when_windows_fit_their_chunks():
    x = da.ones((8, 5, 32, 48), dtype=np.float32, chunks=(2, 5, 16, 16))
    w = np.ones((3, 5, 1, 1), np.float32)
    for y in (cd.conv2d(x, w), cd.max_pool2d(x, 2), cd.avg_pool2d(x, 4, 4)):
        assert not _halo_strips(y)
        assert not any("rechunk" in name for name in y.dask.layers)
        assert len(_layer(y)) == x.npartitions  # one task per block, nothing else
    # batch-only chunks and any kernel: no halo either
    xb = da.ones((8, 5, 20, 20), dtype=np.float32, chunks=(3, 5, 20, 20))
    assert not _halo_strips(cd.conv2d(xb, np.ones((2, 5, 5, 5), np.float32), padding=2))


def test_channel_chunks_are_read_whole_and_chunks_smaller_than_the_kernel_work():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 20, 9)).astype(np.float32)
    w = rng.standard_normal((4, 6, 7, 3)).astype(np.float32)
    xd = da.from_array(x, chunks=(1, 2, (1, 2, 1, 9, 7), 2))  # C split, chunks < reach
    with dask.config.set(scheduler="sync"):
        got = cd.conv2d(xd, w, padding=3).compute()
    np.testing.assert_allclose(got, cyconv.conv2d(x, w, padding=3), rtol=1e-5, atol=1e-5)


def test_nothing_computes_until_asked():
    def explode(block):
        raise AssertionError("computed")
    x = da.ones((2, 3, 16, 16), dtype=np.float32, chunks=(1, 3, 8, 8)).map_blocks(explode, dtype=np.float32)
    w = np.ones((2, 3, 3, 3), np.float32)
    y = cd.conv2d(x, w, padding=1)
    cd.conv2d_backward(y, x, w, padding=1)
    cd.max_pool2d(x, 2, return_indices=True)
    cd.conv_transpose2d(x, np.ones((3, 2, 3, 3), np.float32), stride=2)
    with pytest.raises(AssertionError, match="computed"), dask.config.set(scheduler="sync"):
        y.compute()


def test_bad_arguments_name_the_argument_and_shapes():
    x = da.ones((2, 3, 16, 16), dtype=np.float32, chunks=(1, 3, 8, 8))
    w = np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"x must be a 4-D dask array .*\(3, 16, 16\)"):
        cd.conv2d(x[0], w)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        cd.conv2d(x.astype(np.int32), w)
    with pytest.raises(TypeError, match="x and weight must share a dtype"):
        cd.conv2d(x, w.astype(np.float64))
    with pytest.raises(ValueError, match=r"weight shape \(2, 4, 3, 3\) expects 4 input channels"):
        cd.conv2d(x, np.ones((2, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(2, 2, 14, 14\)"):
        cd.conv2d_backward(da.ones((2, 2, 16, 16), dtype=np.float32), x, w)
    with pytest.raises(TypeError, match="out= is not supported"):
        cd.conv2d(x, w, out=np.empty((2, 2, 14, 14), np.float32))
    with pytest.raises(ValueError, match="split_every must be an int >= 2"):
        cd.conv2d_backward(da.ones((2, 2, 14, 14), dtype=np.float32), x, w, split_every=1)
    with pytest.raises(ValueError, match=r"unknown chunk sizes"):
        cd.max_pool2d(x[x[:, 0, 0, 0] > 0], 2)
    with pytest.raises(ValueError, match=r"padding .* must be at most half of kernel_size"):
        cd.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d needs each spatial dim of x in "
                                         r"one chunk.*x.rechunk\(\{2: -1, 3: -1\}\)"):
        cd.adaptive_avg_pool2d(x, 3)
    with pytest.raises(TypeError, match="indices must be the int64 array"):
        cd.max_pool2d_backward(da.ones((2, 3, 8, 8), dtype=np.float32), x, 2,
                               indices=da.ones((2, 3, 8, 8), dtype=np.int32))


def test_thread_rule_per_scheduler():
    x = da.ones((4, 3, 16, 16), dtype=np.float32, chunks=(1, 3, 8, 8))
    w = np.ones((2, 3, 3, 3), np.float32)
    own = cyconv.get_num_threads()
    with dask.config.set(scheduler="sync"):
        assert {k["num_threads"] for k in _task_keywords(cd.conv2d(x, w))} == {own}
    with dask.config.set(scheduler="threads", num_workers=2):
        assert {k["num_threads"] for k in _task_keywords(cd.conv2d(x, w))} == {max(1, own // 2)}
    with dask.config.set(scheduler="threads", num_workers=own * 4):
        assert dask_threads.task_threads(None) == 1
    assert {k["num_threads"] for k in _task_keywords(cd.conv2d(x, w, num_threads=3))} == {3}
    with pytest.raises(ValueError, match="num_threads must be a positive int"):
        cd.conv2d(x, w, num_threads=0)


def _all_ops(rng):
    """(name, single-call result, dask result) for every op family on one small chunked case."""
    x = rng.standard_normal((3, 4, 13, 11))
    xd = da.from_array(x, chunks=(2, 4, (5, 1, 7), (3, 8)))
    w = rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding="same", dilation=(1, 2), groups=2, flip=True)
    y = cyconv.conv2d(x, w, b, **kw)
    gy = rng.standard_normal(y.shape)
    gyd = da.from_array(gy, chunks=(1, 6, 3, 4))
    cases = [("conv2d", y, cd.conv2d(xd, w, b, **kw))]
    for part, want, got in zip(("input", "weight", "bias"), cyconv.conv2d_backward(gy, x, w, **kw),
                               cd.conv2d_backward(gyd, xd, w, **kw, split_every=2)):
        cases.append((f"conv2d grad_{part}", want, got))
    tw = rng.standard_normal((4, 3, 3, 3))
    tkw = dict(stride=2, padding=1, output_padding=1, groups=2)
    ty = cyconv.conv_transpose2d(x, tw, None, **tkw)
    cases.append(("conv_transpose2d", ty, cd.conv_transpose2d(xd, tw, None, **tkw)))
    tgy = rng.standard_normal(ty.shape)
    for part, want, got in zip(("input", "weight", "bias"),
                               cyconv.conv_transpose2d_backward(tgy, x, tw, **tkw),
                               cd.conv_transpose2d_backward(da.from_array(tgy, chunks=7), xd, tw,
                                                            **tkw)):
        cases.append((f"conv_transpose2d grad_{part}", want, got))
    pkw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    py, pi = cyconv.max_pool2d(x, **pkw, return_indices=True)
    dy, di = cd.max_pool2d(xd, **pkw, return_indices=True)
    pgy = rng.standard_normal(py.shape)
    cases += [("max_pool2d", py, dy), ("max_pool2d indices", pi, di),
              ("max_pool2d_backward", cyconv.max_pool2d_backward(pgy, x, **pkw),
               cd.max_pool2d_backward(pgy, xd, **pkw, indices=di)),
              ("avg_pool2d", cyconv.avg_pool2d(x, **pkw), cd.avg_pool2d(xd, **pkw)),
              ("global_max_pool", cyconv.global_max_pool(x), cd.global_max_pool(xd.rechunk({2: -1, 3: -1})))]
    return cases


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_every_op_family_on_the_local_schedulers(scheduler):
    cases = _all_ops(np.random.default_rng(3))
    with dask.config.set(scheduler=scheduler):
        results = dask.compute(*[got for _, _, got in cases])
    for (name, want, _), got in zip(cases, results):
        if name.startswith(("conv", "global_avg")):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=name)
        else:
            assert np.array_equal(got, want), name


def test_grad_weight_is_a_tree_of_partials():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 2, 32, 32))
    gy = rng.standard_normal((8, 3, 32, 32))
    w = np.ones((3, 2, 3, 3))
    gw = cd.conv2d_backward(da.from_array(gy, chunks=(1, 3, 8, 8)),
                            da.from_array(x, chunks=(1, 2, 8, 8)), w, padding=1,
                            need=("weight",), split_every=4).grad_weight
    tasks = _layer(gw)
    partials = [k for k in tasks if k[0] == gw.name + "-partial"]
    assert len(partials) == 128  # one per grad_output block
    levels = sorted(sum(1 for k in tasks if k[0] == f"{gw.name}-sum{level}") for level in range(3))
    assert levels == [2, 8, 32]  # 128 -> 32 -> 8 -> 2 -> 1: fan-in 4, not one 128-way sum
    final = tasks[(gw.name, 0, 0, 0, 0)]
    assert len(final) == 3 and all(k[0] == f"{gw.name}-sum2" for k in final[1:])
    assert not any(name.startswith(("sum", "getitem", "reshape")) for name in gw.dask.layers)
    with dask.config.set(scheduler="sync"):
        got = gw.compute()
    np.testing.assert_allclose(got, cyconv.conv2d_backward(gy, x, w, padding=1).grad_weight,
                               rtol=0, atol=1e-12 * 8 * 32 * 32 * 10)  # contract: vs sum |terms|


def test_dask_weights_and_a_cyconv_nn_layer_with_ops_cyconv_dask():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 12, 12))
    xd = da.from_array(x, chunks=(2, 4, 12, 12))
    w = rng.standard_normal((5, 4, 3, 3))
    wd = da.from_array(w, chunks=(2, 3, 2, 3))  # read as one block
    with dask.config.set(scheduler="sync"):
        np.testing.assert_allclose(cd.conv2d(xd, wd, padding=1).compute(),
                                   cyconv.conv2d(x, w, padding=1), rtol=1e-12, atol=1e-12)
        layer = cyconv.nn.Conv2d(4, 5, 3, padding=1, ops=cd, dtype=np.float64,
                                 rng=np.random.default_rng(0))
        y = layer.forward(xd)
        gy = rng.standard_normal(y.shape)
        gx = layer.backward(da.from_array(gy, chunks=(3, 5, 6, 6)))
        assert isinstance(y, da.Array) and isinstance(gx, da.Array)
        got = dask.compute(y, gx, layer.grads()["weight"], layer.grads()["bias"])
    layer.set_ops(cyconv)
    want = [layer.forward(x), layer.backward(gy), layer.grads()["weight"], layer.grads()["bias"]]
    for g, wnt in zip(got, want):
        np.testing.assert_allclose(g, wnt, rtol=1e-11, atol=1e-11)


def test_bias_gradient_rides_in_the_weight_partials_including_padding_only_blocks():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 5))
    w = rng.standard_normal((4, 3, 2))
    y = cyconv.conv1d(x, w, padding=((9, 7),))  # outputs 0-7 and 13-18 read only padding
    gy = rng.standard_normal(y.shape)
    grads = cd.conv1d_backward(da.from_array(gy, chunks=(1, 4, 3)),
                               da.from_array(x, chunks=(2, 3, 2)), w, padding=((9, 7),))
    assert any("grad-weight" in name for name in grads.grad_bias.dask.layers)  # one tree
    with dask.config.set(scheduler="sync"):
        got = dask.compute(*grads)
    for g, want in zip(got, cyconv.conv1d_backward(gy, x, w, padding=((9, 7),))):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


def test_an_unknown_algorithm_is_refused_before_any_task_runs():
    x = da.ones((1, 2, 8, 8), dtype=np.float32, chunks=(1, 2, 4, 4))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        cd.conv2d(x, np.ones((2, 2, 3, 3), np.float32), algorithm="toom-cook")


def test_small_numpy_weights_ride_inline_and_large_ones_by_key():
    from cyconv.dask import _graph
    c_in = _graph.INLINE_BYTES // (4 * 8 * 9) + 1  # weight (8, c_in, 3, 3) just too large
    x = da.ones((4, c_in, 6, 6), dtype=np.float32, chunks=(2, c_in, 6, 6))
    small = np.ones((8, 8, 3, 3), np.float32)
    large = np.full((8, c_in, 3, 3), 0.5, np.float32)
    for w, inline in ((small, True), (large, False)):
        xw = x[:, :w.shape[1]]
        y = cd.conv2d(xw, w, np.zeros(8, np.float32), padding=1)
        for key, task in _layer(y).items():
            weight_arg, bias_arg = task[2], task[3]
            assert isinstance(weight_arg, np.ndarray) is inline, key
            assert isinstance(bias_arg, np.ndarray), key  # 32 bytes: always inline
        with dask.config.set(scheduler="sync"):
            got = y.compute()
        np.testing.assert_array_equal(got, cyconv.conv2d(np.ones(xw.shape, np.float32), w,
                                                         np.zeros(8, np.float32), padding=1))
