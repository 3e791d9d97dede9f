"""Public unfold / fold (im2col / col2im as functions, as ``torch.nn.functional``), 1-D to 3-D,
and their gradients: validate, normalize, allocate, call one kernel.

``unfold`` lowers each (image, channel) plane to the columns of its sliding blocks; ``fold``
sums columns back into the image (overlapping blocks add up). Each is the other's adjoint, so
``unfold_backward`` is a fold and ``fold_backward`` an unfold, on the same two kernels.
Arguments follow PyTorch's order (``kernel_size, dilation, padding, stride``); the spatial
rank is the length of ``output_size`` or ``kernel_size`` when one is a tuple, else 2.
"""
from __future__ import annotations

import math

import numpy as np

from . import _fold_params, _half, _threads, _validate
from ._kernels import _fold as _k

# validated calls: call key -> (params, kernel geometry, thread count) (see _validate.call_key)
_CALLS = _validate.ValidatedCalls()


def _validated(kind: str, arrays: tuple, args: tuple, num_threads, check):
    """(params, geometry, threads) of a call; ``check()`` validates it when not seen before."""
    n_threads = _threads.resolve(num_threads)
    key = _validate.call_key(arrays, (kind, n_threads) + args)
    entry = _CALLS.get(key)
    if entry is None:
        p = check()
        geometry = np.array(p.geometry, dtype=np.intp)
        geometry.flags.writeable = False
        work = math.prod(p.cols_array_shape)
        entry = (p, geometry, _threads.for_work(n_threads, work, _threads.SMALL_POOL_ELEMENTS))
        _CALLS.put(key, entry)
    return entry


def _result(out, shape: tuple, dtype, inputs: tuple) -> np.ndarray:
    return np.empty(shape, dtype) if out is None else _validate.check_out(out, shape, dtype, inputs)


def _unbatched(op, out, *args, **kwargs):
    """An unbatched call: ``op`` on the batch-of-one ``args``, ``out`` viewed likewise."""
    y = op(*args, out=None if out is None else _validate.unbatched_out(out), **kwargs)
    return y[0] if out is None else out


def _fold_kernel(cols, y, geometry, n_threads: int) -> None:
    """``_k.fold`` with its scratch: the block span of each kernel column (geometry[5] = KW)."""
    _k.fold(cols, y, geometry, np.empty(2 * int(geometry[5]), np.intp), n_threads)


def _run(kernel, src: np.ndarray, dst: np.ndarray, entry) -> np.ndarray:
    p, geometry, n_threads = entry
    if p.batch:
        kernel(_validate.for_kernel(src).reshape(-1), dst.reshape(-1), geometry, n_threads)
    return dst


def unfold(x, kernel_size, dilation=1, padding=0, stride=1, *, num_threads=None, out=None):
    """The sliding blocks of x as columns, as ``torch.nn.functional.unfold`` (im2col).

    Parameters
    ----------
    x : ndarray, shape (N, C, *spatial) or (C, *spatial) unbatched, float32 or float64
        1 to 3 spatial dims: as many as ``kernel_size`` has entries (an int: 2, as PyTorch).
    kernel_size : int or tuple of 1 to 3 ints
    dilation, stride : int or tuple of ints, one per spatial dim
    padding : int, tuple of ints, per-side pairs ``((lo, hi), ...)`` or 'valid'/'same'/'full'
        Implicit zeros.
    num_threads : int, optional
    out : ndarray, shape (N, C*prod(kernel_size), L), optional
        Written and returned (C-contiguous, dtype of x, not overlapping x).

    Returns
    -------
    cols : ndarray, shape (N, C*prod(kernel_size), L) or (C*prod(kernel_size), L)
        Row ``c*prod(kernel_size) + k`` holds channel c at kernel position k (row-major over
        the kernel dims); column ``l`` is block l in row-major order over the blocks, whose
        count per dim is ``(size + pad_lo + pad_hi - dilation*(k-1) - 1) // stride + 1``.
        A kernel that does not fit in the padded input is a ValueError, as in PyTorch.
    """
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, _fold_params.spatial_rank(kernel_size))
    if unbatched:
        return _unbatched(unfold, out, x, kernel_size, dilation, padding, stride,
                          num_threads=num_threads)
    try:  # free on the float32/float64 path
        entry = _validated("unfold", (x,), (kernel_size, dilation, padding, stride),
                           num_threads, lambda: _fold_params.unfold_params(
                               x, kernel_size, dilation, padding, stride))
    except _validate.Float16Input:  # computed in float32, rounded to float16 once
        return _half.rerun(lambda x: unfold(x, kernel_size, dilation, padding, stride,
                                            num_threads=num_threads), dict(x=x), out)
    p = entry[0]
    return _run(_k.unfold, x, _result(out, p.cols_array_shape, p.dtype, (x,)), entry)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1, *, num_threads=None,
         out=None):
    """Sum columns of sliding blocks into an image, as ``torch.nn.functional.fold`` (col2im).

    The adjoint of :func:`unfold`: each column element is added to the image element it was
    taken from (blocks that overlap add up; padding positions are dropped).

    Parameters
    ----------
    x : ndarray, shape (N, C*prod(kernel_size), L) or (C*prod(kernel_size), L) unbatched
        float32 or float64, in :func:`unfold`'s layout; L must be the number of blocks.
    output_size : int or tuple of 1 to 3 ints
        The spatial shape of the image; its length is the spatial rank (an int: 2-D, unless
        ``kernel_size`` is a tuple).
    kernel_size, dilation, padding, stride
        As :func:`unfold`.
    num_threads : int, optional
    out : ndarray, shape (N, C, *output_size), optional

    Returns
    -------
    y : ndarray, shape (N, C, *output_size) or (C, *output_size)
        Each element's contributions are summed in kernel-position order whatever the thread
        count (bitwise reproducible).
    """
    x = _validate.array_like(x, "x")
    x, unbatched = _validate.batched(x, 1)  # (C*K, L) is one image's columns
    if unbatched:
        return _unbatched(fold, out, x, output_size, kernel_size, dilation, padding, stride,
                          num_threads=num_threads)
    try:  # free on the float32/float64 path
        entry = _validated("fold", (x,), (output_size, kernel_size, dilation, padding, stride),
                           num_threads, lambda: _fold_params.fold_params(
                               x, output_size, kernel_size, dilation, padding, stride))
    except _validate.Float16Input:  # computed in float32, rounded to float16 once
        return _half.rerun(lambda x: fold(x, output_size, kernel_size, dilation, padding,
                                          stride, num_threads=num_threads), dict(x=x), out)
    p = entry[0]
    return _run(_fold_kernel, x, _result(out, p.image_array_shape, p.dtype, (x,)), entry)


def _gradient_arrays(grad_output, x, x_rank: int, grad_rank: int):
    """(grad_output, x, unbatched) of a gradient call: array-likes read; an unbatched x (one
    dim short of ``x_rank + 2``) and its grad_output (``grad_rank + 1`` dims) get a batch axis."""
    grad_output = _validate.array_like(grad_output, "grad_output")
    x, unbatched = _validate.batched(_validate.array_like(x, "x"), x_rank)
    if unbatched:
        grad_output = _validate.batched(grad_output, grad_rank)[0]
    return grad_output, x, unbatched


# op -> (its params, its output's shape, its input's shape, the kernel of its gradient)
_GRADIENTS = {"unfold": (_fold_params.unfold_params, "cols_array_shape", "image_array_shape",
                         _fold_kernel),
              "fold": (_fold_params.fold_params, "image_array_shape", "cols_array_shape",
                       _k.unfold)}


def _backward(op: str, grad_output, x, args: tuple, num_threads, out):
    """The gradient of ``op`` at a batched x: grad_output through the other kernel."""
    params, y_shape, x_shape, kernel = _GRADIENTS[op]

    def check():
        p = params(x, *args)
        _fold_params.check_grad_output(grad_output, p, getattr(p, y_shape), op)
        return p
    try:  # free on the float32/float64 path
        entry = _validated(op + "_backward", (grad_output, x), args, num_threads, check)
    except _validate.Float16Input:  # computed in float32, rounded to float16 once
        return _half.rerun(lambda grad_output, x: _backward(op, grad_output, x, args,
                                                            num_threads, None),
                           dict(grad_output=grad_output, x=x), out)
    p = entry[0]
    return _run(kernel, grad_output,
                _result(out, getattr(p, x_shape), p.dtype, (grad_output, x)), entry)


def unfold_backward(grad_output, x, kernel_size, dilation=1, padding=0, stride=1, *,
                    num_threads=None, out=None):
    """Gradient of :func:`unfold` with respect to x: the :func:`fold` of grad_output.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C*prod(kernel_size), L), dtype of x
    x : ndarray, shape (N, C, *spatial) or (C, *spatial) unbatched
        The forward input (only its shape and dtype are used).
    kernel_size, dilation, padding, stride
        As in the forward call.
    num_threads : int, optional
    out : ndarray, shape of x, optional

    Returns
    -------
    grad_input : ndarray, shape of x
    """
    grad_output, x, unbatched = _gradient_arrays(grad_output, x,
                                                 _fold_params.spatial_rank(kernel_size), 1)
    if unbatched:
        return _unbatched(unfold_backward, out, grad_output, x, kernel_size, dilation, padding,
                          stride, num_threads=num_threads)
    return _backward("unfold", grad_output, x, (kernel_size, dilation, padding, stride),
                     num_threads, out)


def fold_backward(grad_output, x, output_size, kernel_size, dilation=1, padding=0, stride=1, *,
                  num_threads=None, out=None):
    """Gradient of :func:`fold` with respect to x: the :func:`unfold` of grad_output.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C, *output_size), dtype of x
    x : ndarray, shape (N, C*prod(kernel_size), L) or (C*prod(kernel_size), L) unbatched
        The forward input (only its shape and dtype are used).
    output_size, kernel_size, dilation, padding, stride
        As in the forward call.
    num_threads : int, optional
    out : ndarray, shape (N, C*prod(kernel_size), L), optional

    Returns
    -------
    grad_input : ndarray, the shape of x: the columns of grad_output's blocks
    """
    grad_output, x, unbatched = _gradient_arrays(
        grad_output, x, 1, _fold_params.spatial_rank(kernel_size, output_size))
    if unbatched:
        return _unbatched(fold_backward, out, grad_output, x, output_size, kernel_size,
                          dilation, padding, stride, num_threads=num_threads)
    return _backward("fold", grad_output, x,
                     (output_size, kernel_size, dilation, padding, stride), num_threads, out)
