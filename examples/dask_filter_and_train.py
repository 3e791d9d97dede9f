"""cyconv.dask: filter a large image held on dask workers, and run a cyconv.nn layer's
forward and backward on a batch-chunked dask array.

    python examples/dask_filter_and_train.py            # small sizes, a LocalCluster of 2 x 1
    python examples/dask_filter_and_train.py --size 8192

Needs the dask extra: pip install 'cyconv[dask]'. No download: the image is ``da.random``
data created on the workers (a zarr store would be read the same way, ``da.from_zarr``).
"""
import argparse

import numpy as np

import cyconv  # import cyconv before starting a cluster (see the README's Dask section)
import cyconv.dask as cd


def filter_large_image(client, size: int, chunk: int):
    """A 3-channel image as a dask array on the workers, a Gaussian blur and a 16-filter
    bank, results kept on the workers; only a small crop comes back."""
    import dask.array as da
    from distributed import wait

    image = da.random.RandomState(0).random((1, 3, size, size), chunks=(1, 3, chunk, chunk))
    image = image.astype(np.float32).persist()  # created and held by the workers
    wait(image)
    g = np.exp(-0.5 * (np.arange(-3, 4) / 1.5) ** 2)
    blur = (np.outer(g, g) / np.outer(g, g).sum()).astype(np.float32)
    blur_weight = np.zeros((3, 1, 7, 7), np.float32)
    blur_weight[:, 0] = blur
    blurred = cd.conv2d(image, blur_weight, padding="same", groups=3)  # depthwise
    bank = np.random.default_rng(0).standard_normal((16, 3, 5, 5)).astype(np.float32)
    features = cd.max_pool2d(cd.conv2d(blurred, bank, padding=2), 2)
    features = features.persist()  # computed on the workers, kept there
    wait(features)
    crop = features[:, :, :4, :4].compute()
    print(f"image {image.shape} in chunks {image.chunksize}: features {features.shape}, "
          f"{features.npartitions} blocks on the workers; crop {crop.shape}")
    # the same numbers as one cyconv call on the same corner (the halo rule at work)
    corner = image[:, :, :32, :32].compute()
    single = cyconv.max_pool2d(cyconv.conv2d(cyconv.conv2d(corner, blur_weight, padding="same",
                                                           groups=3), bank, padding=2), 2)
    inner = features[:, :, :4, :4].compute()
    # away from the crop's own edge, the dask result equals the single call on the corner
    print("max |dask - single call| on the corner:", float(np.abs(inner[..., :2, :2]
                                                              - single[..., :2, :2]).max()))


def train_step_on_chunked_batch(batch: int, chunk: int):
    """One forward/backward of cyconv.nn.Conv2d with ops=cyconv.dask on a batch split in
    chunks of ``chunk`` images; the weight gradient is summed over the chunks."""
    import dask
    import dask.array as da

    rng = np.random.default_rng(1)
    layer = cyconv.nn.Conv2d(8, 16, 3, padding=1, ops=cd, rng=rng)
    x = da.from_array(rng.standard_normal((batch, 8, 28, 28)).astype(np.float32),
                      chunks=(chunk, 8, 28, 28))
    y = layer.forward(x)                      # lazy dask array
    grad_x = layer.backward(da.ones_like(y))  # lazy; the layer keeps lazy weight/bias grads
    grads = layer.grads()
    grad_x, grad_w, grad_b = dask.compute(grad_x, grads["weight"], grads["bias"])
    # the same layer on NumPy arrays: the gradients agree within the accuracy contract
    layer.set_ops(cyconv)
    xs = x.compute()
    layer.forward(xs)
    layer.backward(np.ones((batch, 16, 28, 28), np.float32))
    print(f"batch {x.shape} in chunks of {chunk}: grad_weight {grad_w.shape}, max |dask - "
          f"numpy| = {float(np.abs(grad_w - layer.grads()['weight']).max()):.2g} "
          f"(|grad_weight| up to {float(np.abs(grad_w).max()):.3g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=512)
    args = parser.parse_args()
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        filter_large_image(client, args.size, args.chunk)
        train_step_on_chunked_batch(batch=32, chunk=8)


if __name__ == "__main__":
    main()
