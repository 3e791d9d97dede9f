"""Per-axis block geometry: which outputs a block owns and which inputs it reads.

One rule covers batch and spatial chunking, stride, dilation, even kernels and pooling's
``ceil_mode``. Along one spatial axis with input size ``L``, kernel ``k``, stride ``s``,
dilation ``d``, padding ``(lo, hi)`` and ``out`` outputs (``_shapes`` computes ``out``),
output ``o`` reads the padded-grid window ``[o*s - lo, o*s - lo + d*(k-1) + 1)``. So

* an output block ``[o0, o1)`` reads the inputs ``[o0*s - lo, (o1-1)*s - lo + d*(k-1) + 1)``,
  clipped to ``[0, L)``; what lies outside becomes that block's own padding;
* an input chunk ``[a, b)`` *owns* the outputs ``[ceil(a/s), ceil(b/s))`` (the last chunk also
  takes the tail that padding adds), so a block reads at most ``lo`` inputs before its chunk
  and ``d*(k-1) - lo`` after it: the halo, asymmetric, never computed twice;
* an input block ``[a, b)`` receives gradient from the outputs
  ``[ceil((a + lo - d*(k-1))/s), floor((b - 1 + lo)/s) + 1)`` (for grad-input).

Every block calls the single-array op on exactly its range, with per-side padding pairs, so
the halo costs one copy of a strip and no arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """The sliding window of one spatial axis (all values normalized, padding resolved)."""

    size: int        # input length L
    kernel: int
    stride: int
    dilation: int
    pad: tuple       # (lo, hi)
    out: int         # output length

    @property
    def reach(self) -> int:
        """d*(k-1): how far a window extends past its first tap."""
        return self.dilation * (self.kernel - 1)

    @property
    def halo(self) -> tuple:
        """(before, after): the most inputs a block reads outside the chunk that owns it."""
        lo = self.pad[0]
        return lo, max(self.reach - lo, 0)


@dataclass(frozen=True)
class Span:
    """One block of an axis: outputs ``[o0, o1)`` computed from inputs ``[r0, r1)`` with
    ``pad = (lo, hi)`` padding around them (``r1 <= r0``: the block reads only padding)."""

    o0: int
    o1: int
    r0: int
    r1: int
    pad: tuple

    @property
    def reads_input(self) -> bool:
        return self.r1 > self.r0


def owned_outputs(w: Window, chunks) -> list:
    """Output ranges ``[(o0, o1), ...]`` owned by the input chunks (empty ones dropped)."""
    bounds, start = [], 0
    for size in chunks:
        bounds.append(start)
        start += size
    ranges = []
    for i, a in enumerate(bounds):
        o0 = min(-(-a // w.stride), w.out)
        o1 = w.out if i == len(bounds) - 1 else min(-(-(a + chunks[i]) // w.stride), w.out)
        if o1 > o0:
            ranges.append((o0, o1))
    return ranges


def span(w: Window, o0: int, o1: int) -> Span:
    """The inputs and padding that outputs ``[o0, o1)`` of ``w`` need.

    The block that holds the last output keeps the array's own trailing padding, so with
    ``ceil_mode`` its last window is clipped (and, for average pooling, divided) as in the
    single call; every other block's windows fit its range exactly.
    """
    lo, hi = w.pad
    start = o0 * w.stride - lo
    stop = (o1 - 1) * w.stride - lo + w.reach + 1
    r0 = min(max(start, 0), w.size)
    if o1 == w.out and stop > w.size:
        r1, pad_hi = w.size, hi
    else:
        r1 = min(max(stop, 0), w.size)
        pad_hi = max(stop - w.size, 0)
    return Span(o0, o1, r0, max(r1, r0), (r0 - start, pad_hi))


def contributing_outputs(w: Window, a: int, b: int) -> tuple:
    """``(p0, p1)``: the outputs whose windows touch inputs ``[a, b)`` (``p1 <= p0``: none)."""
    lo = w.pad[0]
    p0 = max(-(-(a + lo - w.reach) // w.stride), 0)
    p1 = min((b - 1 + lo) // w.stride + 1, w.out)
    return p0, p1


def chunk_bounds(chunks) -> list:
    """``[(a, b), ...]`` of a tuple of chunk sizes."""
    bounds, start = [], 0
    for size in chunks:
        bounds.append((start, start + size))
        start += size
    return bounds


def scaled_bounds(chunks, stride: int, shift: int, total: int) -> list:
    """Output chunk boundaries of an upsampling op (transposed convolution): input chunk
    ``[a, b)`` maps to ``[a*stride - shift, b*stride - shift)``, clipped to ``[0, total)``;
    the last block runs to ``total``. Empty blocks are dropped."""
    cuts = [min(max(a * stride - shift, 0), total) for a, _ in chunk_bounds(chunks)][1:]
    edges = [0] + cuts + [total]
    return [(s, e) for s, e in zip(edges[:-1], edges[1:]) if e > s]
