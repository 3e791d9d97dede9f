"""What one task runs: assemble its block's pieces, call the single-array cyconv op.

Module-level functions only (a distributed scheduler pickles them by name). Each gets the
block's own per-side padding pairs, so the op computes exactly the outputs the block owns.
"""
from __future__ import annotations

import numpy as np

import cyconv

from ._graph import assemble, assemble_into, assembled_shape


def _op(name: str, ndim: int):
    return getattr(cyconv, f"{name}{ndim}d")


def _first(pieces):
    return None if pieces is None else assemble(pieces)


def embed(values: np.ndarray, shape: tuple, offsets: tuple) -> np.ndarray:
    """``values`` placed at ``offsets`` (trailing axes) in zeros of ``shape``; ``values``
    itself when it fills the block."""
    if values.shape == tuple(shape):
        return values
    full = np.zeros(shape, values.dtype)
    lead = len(shape) - len(offsets)
    full[(slice(None),) * lead + tuple(slice(o, o + n) for o, n in
                                       zip(offsets, values.shape[lead:]))] = values
    return full


def _padded_input(pieces, keywords):
    """The block's input and the op's keywords. A block read from several pieces is copied
    once anyway: it is copied straight into a zero-padded buffer, so the op needs no padded
    copy of its own (padding=0); a single piece goes to the op as is, with its padding."""
    if not isinstance(pieces, list) or len(_flat(pieces)) == 1:
        return assemble(pieces), keywords
    pad = keywords["padding"]
    return assemble(pieces, pad), dict(keywords, padding=tuple((0, 0) for _ in pad))


def _flat(pieces):
    return [pieces] if not isinstance(pieces, list) else [q for p in pieces for q in _flat(p)]


def conv_forward(x, weight, bias, ndim, keywords):
    """``conv{ndim}d`` on one block (keywords carry the block's padding). A block read from
    several pieces is assembled straight into the kernels' padded copy of it where the plan
    makes one (``cyconv.conv._forward_filled``): one copy of the block, not two."""
    weight, bias = assemble(weight), _first(bias)
    if isinstance(x, list) and len(_flat(x)) > 1 and keywords.get("padding_mode", "zeros") \
            == "zeros":
        shape, dtype = assembled_shape(x, keywords["padding"])
        if dtype in (np.float32, np.float64) and weight.dtype == dtype:
            kw = {k: v for k, v in keywords.items() if k not in ("padding", "padding_mode")}
            return cyconv.conv._forward_filled(
                lambda out: assemble_into(x, keywords["padding"], out), shape, dtype, weight,
                bias, ndim=ndim, **kw)
    x, keywords = _padded_input(x, keywords)
    return _op("conv", ndim)(x, weight, bias, **keywords)


def padding_only(shape, dtype, bias):
    """A block whose windows read only padding: zeros plus the bias, as the single call."""
    y = np.zeros(shape, dtype)
    if bias is not None:
        y += assemble(bias).reshape((1, -1) + (1,) * (len(shape) - 2))
    return y


def conv_weight_grad(grad_output, x, weight, ndim, keywords, with_bias=False):
    """This block's share of grad_weight of ``conv{ndim}d``, flattened (the tree sums flat
    vectors); ``with_bias``: followed by the block's share of grad_bias, so one tree sums
    both."""
    x, keywords = _padded_input(x, keywords)
    need = ("weight", "bias") if with_bias else ("weight",)
    grads = getattr(cyconv, f"conv{ndim}d_backward")(assemble(grad_output), x,
                                                     assemble(weight), need=need, **keywords)
    if with_bias:
        return np.concatenate([grads.grad_weight.ravel(), grads.grad_bias])
    return grads.grad_weight.ravel()


def bias_grad_only(grad_output, weight_size):
    """A block whose windows read only padding: no weight gradient, its share of grad_bias
    (the sum over N and the spatial dims, as the single call's bias gradient)."""
    gy = assemble(grad_output)
    share = np.zeros(weight_size + gy.shape[1], gy.dtype)
    share[weight_size:] = gy.sum(axis=(0,) + tuple(range(2, gy.ndim)))
    return share


def scatter(grad_output, weight, bias, ndim, keywords, shape, offsets):
    """``conv_transpose{ndim}d`` of the contributing outputs, cropped to this block and placed
    in it (grad_input of a convolution, forward of a transposed one); then the bias."""
    values = _op("conv_transpose", ndim)(assemble(grad_output), assemble(weight), None,
                                         **keywords)
    y = embed(values, shape, offsets)
    if bias is not None:
        y += assemble(bias).reshape((1, -1) + (1,) * ndim)
    return y


def zeros(shape, dtype):
    return np.zeros(shape, dtype)


def _to_global(indices, origin, local_shape, global_shape):
    """Flat per-plane indices of a block's input range -> of the whole input (-1 stays)."""
    valid = indices >= 0
    coords = np.unravel_index(np.where(valid, indices, 0), local_shape)
    flat = np.ravel_multi_index(tuple(c + o for c, o in zip(coords, origin)), global_shape)
    return np.where(valid, flat, indices)


def _to_local(indices, origin, local_shape, global_shape):
    """Flat indices of the whole input -> of a block's input range (-1 stays)."""
    valid = indices >= 0
    coords = np.unravel_index(np.where(valid, indices, 0), global_shape)
    local = tuple(c - o for c, o in zip(coords, origin))
    inside = np.logical_and.reduce([(c >= 0) & (c < n) for c, n in zip(local, local_shape)])
    if not inside[valid].all():
        raise ValueError("indices point outside the windows of their outputs: pass the indices "
                         "returned by the forward pass with the same arguments")
    flat = np.ravel_multi_index(tuple(np.where(valid, c, 0) for c in local), local_shape)
    return np.where(valid, flat, indices)


def pool_forward(x, op, ndim, keywords, origin, global_shape):
    """``{op}{ndim}d`` on one block; indices (with ``return_indices``) made global."""
    x = assemble(x)
    result = _op(op, ndim)(x, **keywords)
    if not keywords.get("return_indices"):
        return result
    y, indices = result
    return y, _to_global(indices, origin, x.shape[2:], global_shape)


def extremum_backward(grad_output, x, indices, op, ndim, keywords, origin, global_shape, shape,
                      offsets, window):
    """max/min pooling grad_input over the block's read range, placed in the block."""
    x = assemble(x)
    if indices is not None:
        indices = _to_local(assemble(indices), origin, x.shape[2:], global_shape)
    gx = getattr(cyconv, f"{op}{ndim}d_backward")(assemble(grad_output), x, indices=indices,
                                                  **keywords)
    return embed(gx[window], shape, offsets)


def avg_backward(grad_output, ndim, keywords, read_shape, shape, offsets, window):
    """avg pooling grad_input over the block's read range (x is only a shape there)."""
    gy = assemble(grad_output)
    x = np.broadcast_to(np.zeros((), gy.dtype), read_shape)
    gx = getattr(cyconv, f"avg_pool{ndim}d_backward")(gy, x, **keywords)
    return embed(gx[window], shape, offsets)


def take(pair, i):
    return pair[i]


def global_max_block(x, origin, global_shape):
    """This block's (max, flat index in the whole plane) per (n, c): first max / last NaN in
    row-major order, as the single call."""
    x = assemble(x)
    values, local = cyconv.global_max_pool(x, return_indices=True)
    return values, _to_global(local, origin, x.shape[2:], global_shape)


def combine_global_max(*candidates):
    """The single call's choice among the blocks' candidates: a NaN if any (the last one in
    row-major order, i.e. the largest index), else the largest value (the first, i.e. the
    smallest index, among equals)."""
    values = np.stack([v for v, _ in candidates])
    indices = np.stack([i for _, i in candidates])
    nan = np.isnan(values)
    # rank: NaN above everything, then value; among equals the index order decides
    key_nan = np.where(nan, indices, -1)
    best_nan = np.argmax(key_nan, axis=0)
    filled = np.where(nan, -np.inf, values)
    top = filled.max(axis=0)
    tie_index = np.where(filled == top, indices, np.iinfo(np.int64).max)
    best = np.argmin(tie_index, axis=0)
    choice = np.where(nan.any(axis=0), best_nan, best)
    pick = np.take_along_axis
    return (pick(values, choice[None], 0)[0], pick(indices, choice[None], 0)[0])


def scatter_global_max(grad_output, indices, origin, shape, global_shape):
    """grad_input block of global max pooling: each (n, c) gradient lands on its argmax if
    that lies in this block."""
    gy = assemble(grad_output).reshape(shape[:2])
    indices = assemble(indices).reshape(shape[:2])
    gx = np.zeros(shape, gy.dtype)
    coords = np.unravel_index(indices, global_shape)
    local = [c - o for c, o in zip(coords, origin)]
    inside = np.logical_and.reduce([(c >= 0) & (c < n) for c, n in zip(local, shape[2:])])
    n, c = np.nonzero(inside)
    gx[(n, c) + tuple(axis[inside] for axis in local)] = gy[inside]
    return gx
