"""Pure-NumPy reference implementations of every public op (the oracle for tests).

Same signatures as the ``cyconv`` ops, minus ``algorithm``, ``num_threads`` and ``out``.
Clarity over speed, but vectorized over the batch, channels and pixels (loops run over
kernel offsets only), so realistic shapes take seconds.
"""
from .._validate import ConvGrads
from ._conv import (conv1d, conv1d_backward, conv2d, conv2d_backward, conv3d, conv3d_backward)
from ._conv_transpose import (conv_transpose1d, conv_transpose1d_backward, conv_transpose2d,
                              conv_transpose2d_backward, conv_transpose3d,
                              conv_transpose3d_backward)
from ._pool import (avg_pool1d, avg_pool1d_backward, avg_pool2d, avg_pool2d_backward, avg_pool3d,
                    avg_pool3d_backward, max_pool1d, max_pool1d_backward, max_pool2d,
                    max_pool2d_backward, max_pool3d, max_pool3d_backward, min_pool1d,
                    min_pool1d_backward, min_pool2d, min_pool2d_backward, min_pool3d,
                    min_pool3d_backward)

__all__ = [
    "ConvGrads",
    "avg_pool1d", "avg_pool1d_backward", "avg_pool2d", "avg_pool2d_backward",
    "avg_pool3d", "avg_pool3d_backward",
    "conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv3d", "conv3d_backward",
    "max_pool1d", "max_pool1d_backward", "max_pool2d", "max_pool2d_backward",
    "max_pool3d", "max_pool3d_backward",
    "min_pool1d", "min_pool1d_backward", "min_pool2d", "min_pool2d_backward",
    "min_pool3d", "min_pool3d_backward",
    "conv_transpose1d", "conv_transpose1d_backward", "conv_transpose2d",
    "conv_transpose2d_backward", "conv_transpose3d", "conv_transpose3d_backward",
]

# adaptive and global pooling
from ._adaptive_pool import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward,  # noqa: E402
                             adaptive_avg_pool2d, adaptive_avg_pool2d_backward,
                             adaptive_avg_pool3d, adaptive_avg_pool3d_backward,
                             adaptive_max_pool1d, adaptive_max_pool1d_backward,
                             adaptive_max_pool2d, adaptive_max_pool2d_backward,
                             adaptive_max_pool3d, adaptive_max_pool3d_backward, global_avg_pool,
                             global_avg_pool_backward, global_max_pool, global_max_pool_backward)

__all__ += [
    "adaptive_avg_pool1d", "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool3d", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool1d_backward", "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward", "adaptive_max_pool3d", "adaptive_max_pool3d_backward",
    "global_avg_pool", "global_avg_pool_backward", "global_max_pool", "global_max_pool_backward",
]

# unfold / fold: rank from kernel_size/output_size, unbatched handled in the module
from ._fold import fold, fold_backward, unfold, unfold_backward  # noqa: E402

__all__ += ["fold", "fold_backward", "unfold", "unfold_backward"]


def _accept_unbatched() -> None:
    """Every 1-D/2-D/3-D reference op takes unbatched ``(C, *spatial)`` inputs too."""
    from ._unbatched import accepting_unbatched
    for name in __all__:
        ndim = next((int(d) for d in "123" if f"{d}d" in name), None)
        if ndim is not None:
            globals()[name] = accepting_unbatched(globals()[name], ndim)


_accept_unbatched()

# the recurrent ops (one layer, one direction, time-major), as ``cyconv.recurrent``
from . import recurrent  # noqa: E402, F401
