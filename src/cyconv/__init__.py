"""cyconv: Cython/OpenMP CPU kernels for convolution and pooling, forward and backward.

All ops take NumPy arrays in NCHW layout (N, C, *spatial) with PyTorch's argument names.
"""
from ._outputs import release_memory
from ._pool_plan import PoolRows
from ._threads import get_num_threads, set_num_threads, threads
from ._validate import ConvGrads
from .conv import (ConvPlans, ForwardPath, GradInputPath, GradWeightPath, InputMode, conv1d,
                   conv1d_backward, conv2d, conv2d_backward, conv3d, conv3d_backward,
                   forced_paths, plan_conv, tune)
from .conv_transpose import (conv_transpose1d, conv_transpose1d_backward, conv_transpose2d,
                             conv_transpose2d_backward, conv_transpose3d,
                             conv_transpose3d_backward)
from .pool import (avg_pool1d, avg_pool1d_backward, avg_pool2d, avg_pool2d_backward, avg_pool3d,
                   avg_pool3d_backward, max_pool1d, max_pool1d_backward, max_pool2d,
                   max_pool2d_backward, max_pool3d, max_pool3d_backward, min_pool1d,
                   min_pool1d_backward, min_pool2d, min_pool2d_backward, min_pool3d,
                   min_pool3d_backward)

from . import filters, nn  # noqa: E402, F401  (layers and image filters built on the ops above)

__version__ = "0.1.0"

__all__ = [
    "ConvGrads",
    "avg_pool1d", "avg_pool1d_backward", "avg_pool2d", "avg_pool2d_backward",
    "avg_pool3d", "avg_pool3d_backward",
    "conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv3d", "conv3d_backward",
    "get_num_threads",
    "max_pool1d", "max_pool1d_backward", "max_pool2d", "max_pool2d_backward",
    "max_pool3d", "max_pool3d_backward",
    "min_pool1d", "min_pool1d_backward", "min_pool2d", "min_pool2d_backward",
    "min_pool3d", "min_pool3d_backward",
    "set_num_threads", "threads", "tune",
    "ConvPlans", "ForwardPath", "GradInputPath", "GradWeightPath", "InputMode", "forced_paths",
    "plan_conv", "PoolRows", "release_memory",
    "conv_transpose1d", "conv_transpose1d_backward", "conv_transpose2d",
    "conv_transpose2d_backward", "conv_transpose3d", "conv_transpose3d_backward",
]

# adaptive and global pooling
from .adaptive_pool import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward,  # noqa: E402
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

# `cyconv.reference.<op>` works after a plain `import cyconv` (as the README's examples use it)
from . import reference  # noqa: E402, F401

# the recurrent ops (one RNN/LSTM/GRU layer, one direction) behind cyconv.nn's RNN/LSTM/GRU
from . import recurrent  # noqa: E402, F401

# unfold / fold (im2col / col2im as functions) and their gradients
from .fold import fold, fold_backward, unfold, unfold_backward  # noqa: E402

__all__ += ["fold", "fold_backward", "unfold", "unfold_backward"]
