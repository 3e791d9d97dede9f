"""Every tuning threshold of the convolution plans, in one place.

Each constant carries its rule in one line; the measurements that set it are in
``benchmarks/README.md``, section "Thresholds of the convolution plans", under the
constant's name. Tile sizes are not here: they come from the kernels
(the ISA descriptor table: ``_kernels._isa.tile_shape``, ``direct_tile_shape``,
``pixel_rows_tile``, ``rowpairs_panel``). The byte budgets scale with this CPU's L1, L2 and
L3 (``_machine.cache_bytes``; measured where L1D = 48 KiB and L2 = 1 MiB, the defaults when
the sizes cannot be read, and L3 = 32 MiB).
"""
from . import _machine

L1_BYTES = _machine.cache_bytes(1, 48 * 2**10)
L2_CACHE_BYTES = _machine.cache_bytes(2, 2**20)
L3_CACHE_BYTES = _machine.cache_bytes(3, 32 * 2**20)

# ---- algorithm='auto' -------------------------------------------------------------------
# direct when each group's (C_in/groups) * (C_out/groups) is at most this (GEMM tiles would
# be mostly padding)
DIRECT_MAX_GROUP_PRODUCT = 4
# the forward pass alone stays direct up to this product where the rule above says im2col
# (the im2col lowering of so few channels costs more than it saves)
FORWARD_DIRECT_MAX_GROUP_PRODUCT = 9
# stride 1: FFTs for 2-D/3-D kernels of at least this many taps (both dtypes); in float64
# also 1-D kernels of this many taps ...
FFT_MIN_TAPS = 200
# ... times (C_in/groups) * (C_out/groups) / this, when that is above 1
FFT_CHANNEL_PAIRS_PER_STEP = 4
# implicit needs a reduction depth (C_in/groups * taps) of at least this ...
IMPLICIT_MIN_DEPTH = 32
# ... or kernels of at least this many taps (their lowering copies each input that often)
IMPLICIT_MIN_TAPS_SHALLOW = 25
# the GEMM-shaped implicit kernel when at least this share of its padded grid is outputs
IMPLICIT_MIN_USEFUL = 0.6

# ---- implicit: which kernel -------------------------------------------------------------
# row tiles when at least this share of their pixel tiles is real output pixels
ROW_TILE_MIN_USEFUL = 0.85
# channel tiles (output channels on the lanes) at least this full
CHANNEL_TILE_MIN_USEFUL = 0.5
# stride 1: another kernel replaces the row tiles only when it wastes this much less
TILE_SWITCH_MIN_GAIN = 1.05
# pixel-lane rows when their tiles are at least this share of the row tiles' fill, per ISA
# level and dtype (AVX2's 4-channel tiles only tie the row tiles when both are full; absent:
# never, AVX-512 float64) ...
PIXEL_ROWS_MIN_SHARE = {(1, "float32"): 1.15, (1, "float64"): 1.15, (2, "float32"): 0.9}
# ... and one call's input rows and weight panel fit this much of L1
PIXEL_ROWS_MAX_L1_BYTES = L1_BYTES
# the row tiles read an input padded along the width alone in place when at most this share
# of a row's tiles reach past its ends (those read copies of their columns)
UNPADDED_ROWS_MAX_EDGE = 0.25
# a work item pads its own image's planes when they (plus slack) fit in this many bytes
PAD_PER_ITEM_BYTES = L2_CACHE_BYTES // 2

# winograd (2-D 3x3, stride 1) when C_in/groups and C_out/groups are both within these and
# the output is at least WINOGRAD_MIN_SIZE square (smaller tiles are mostly padding)
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MAX_CHANNELS = 256
WINOGRAD_MIN_SIZE = 14

# its weight gradient sums per-chunk partials of the transformed gradient while one
# (36 x C_in/groups x C_out/groups) fits this many bytes, else runs staged
WINOGRAD_PARTIALS_MAX_BYTES = 2 * L2_CACHE_BYTES

# ---- cache blocking ----------------------------------------------------------------------
# a Winograd work item's transformed input and products (V and M) fit this many bytes
WINOGRAD_SCRATCH_BYTES = 2 * L2_CACHE_BYTES
# the staged Winograd weight gradient's transformed tiles per segment (streamed through L3;
# every further segment reads and writes the whole transformed gradient again)
WINOGRAD_STAGE_BYTES = L3_CACHE_BYTES
# transformed weights (Winograd, FFT spectra) kept for repeated calls with the same weights
# (and copies of those weights to compare with): at most this many bytes
TRANSFORMED_WEIGHT_CACHE_BYTES = 64 * 2**20
L2_TARGET_BYTES = L2_CACHE_BYTES // 4  # a work item's packed column block or gradient tile
L2_BYTES = L2_CACHE_BYTES // 2         # half of L2: what one work item may keep hot
KC = 256                       # reduction depth per micro-kernel call
# the 1x1 GEMM prefetches the input row this many rows after the one it packs
# (benchmarks/README.md, "The pointwise GEMM's packing")
POINTWISE_ROWS_AHEAD = 16

# ---- gradients ---------------------------------------------------------------------------
# the padded weight gradient (and its phases) broadcasts input channels: at least this share
# of its broadcast tile real, per ISA level (AVX2's tiles of 6 lost to im2col at 3 and 4
# input channels); other levels CHANNEL_TILE_MIN_USEFUL
WEIGHT_GRAD_MIN_BROADCAST_USEFUL = {1: 0.75}
# grad_input as a forward convolution of grad_output (stride 1) or by phases (strided) when
# the input channels per group fill the forward kernels' channel tiles ...
GRAD_INPUT_FORWARD_MIN_CHANNELS = 32
# ... or, for kernels of this many taps or more (col2im's scatter dominates), this many
GRAD_INPUT_FORWARD_MANY_TAPS = 27
GRAD_INPUT_FORWARD_MIN_CHANNELS_MANY_TAPS = 4
# ... or, per ISA level, this many where grad_output has at least GRAD_INPUT_FORWARD_SAME_SHARE
# of the input's pixels (AVX2's 16-lane tiles: 16-24 channels 0.46-0.94x im2col's time;
# lenet2's 'full' grad_input, 44%, 1.3-1.8x)
GRAD_INPUT_FORWARD_MIN_CHANNELS_SAME = {1: 16}
GRAD_INPUT_FORWARD_SAME_SHARE = 0.75
# col2im's work items (and the Winograd weight gradient's blocks) are balanced as if for
# this many threads (results must not depend on the thread count)
COL2IM_BALANCE_THREADS = 4
# rows of W^T (input channels x taps) per col2im work item (benchmarks/README.md, "col2im's
# work items: more input channels")
GRAD_INPUT_ROWS = 512
WEIGHT_GRAD_BLOCK = 256  # output pixels per reduction step of the im2col weight gradient
# 'auto' lowers the stride-1 weight gradient (im2col) instead of the padded kernel where the
# outputs are under this share of the padded grid's positions and each group has at least
# this many output channels (benchmarks/README.md, "The lowered weight gradient's panels")
WEIGHT_GRAD_LOWERED_MAX_SHARE = 0.5
WEIGHT_GRAD_LOWERED_MIN_CHANNELS = 32
# 'auto' runs a strided weight gradient by input phases (else lowered) only for images of at
# most this many outputs whose lowered partial gradient (C_out x C_in/groups x taps) takes at
# least this many bytes: each lowered GEMM reduces over one image's outputs and reads and
# writes the whole partial (benchmarks/README.md, "Strided gradients: col2im and the
# lowered weight gradient")
WEIGHT_GRAD_PHASES_MAX_OUTPUTS = 64
WEIGHT_GRAD_PHASES_MIN_PARTIAL_BYTES = 8 * L2_CACHE_BYTES
# the padded weight gradient sums whole images in working precision, as many as fit this
# many grid positions (at least one), and longer images in chunks reaching it, before each
# addition into its double accumulators
WEIGHT_GRAD_PARTIAL_POSITIONS = 4096  # benchmarks/README.md, "images per partial"
# the staged Winograd weight gradient's GEMMs sum at most this many tiles (16 outputs each)
# in float32 before adding them in double (benchmarks/README.md, "Long reductions")
WINOGRAD_PARTIAL_TILES = 512
MAX_WEIGHT_CHUNKS = 16   # partial weight gradients summed in order (fixed by the shapes)
# ... and at most this much memory for them (zero-filled and summed on every call: strided's
# 16 partials of 1.2 MB cost 18%, benchmarks/README.md "partial weight gradients") ...
PARTIAL_BYTES = 8 * L2_CACHE_BYTES
MIN_WEIGHT_CHUNKS = 4    # ... but at least this many (while the pieces allow)
# the padded weight gradient's work item: as many input-channel blocks' tiles (working
# precision + double accumulators) as fit this, each grad_y chunk used by all of them
WEIGHT_GRAD_TILE_BYTES = L2_CACHE_BYTES // 4
# ... and several panels of output channels when the input does not fit L3 and that cuts
# the input + grad_output traffic this many times (benchmarks/README.md, "output-channel
# panels per work item")
WEIGHT_GRAD_PANELS_MIN_CUT = 2.0
