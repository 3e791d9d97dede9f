"""Fingerprints (SHA-256 of the result bytes) of every conv/pool op on a fixed set of shapes
that reach every kernel path, for refactors that must leave results bitwise unchanged:

    python tools/bitwise_fingerprint.py --write before.json   # on the old tree
    python tools/bitwise_fingerprint.py --check before.json   # on the new tree

Fingerprints hold for one machine and micro-kernel ISA (summation orders differ per ISA).
"""
import argparse
import hashlib
import json
import sys

import numpy as np

import cyconv

# (ndim, x shape, weight shape, keyword arguments): the benchmark rows scaled down, plus the
# shapes that select each implicit kernel, the phase decompositions and the depthwise planes
CONV = [
    (2, (4, 1, 28, 28), (20, 1, 5, 5), {}),                               # lenet1
    (2, (8, 20, 12, 12), (50, 20, 5, 5), {}),                             # lenet2: row pairs
    (2, (2, 64, 20, 56), (64, 64, 3, 3), dict(padding=1)),                # vgg3x3 rows
    (2, (2, 96, 14, 14), (96, 96, 3, 3), dict(padding=1)),                # res3x3
    (2, (2, 64, 28, 28), (32, 64, 1, 1), {}),                             # res1x1 pointwise
    (2, (1, 3, 64, 64), (16, 3, 7, 7), dict(stride=2, padding=3)),        # stem7x7
    (2, (2, 32, 28, 28), (32, 1, 3, 3), dict(padding=1, groups=32)),      # depthwise
    (2, (2, 32, 28, 28), (64, 32, 3, 3), dict(stride=2, padding=1)),      # strided
    (2, (2, 32, 28, 28), (32, 32, 3, 3), dict(padding=2, dilation=2)),    # dilated
    (1, (4, 32, 300), (32, 32, 5), dict(padding=2)),                      # conv1d: pixel rows
    (3, (1, 8, 12, 12, 32), (16, 8, 3, 3, 3), dict(padding=1)),           # conv3d
    (2, (2, 40, 9, 30), (16, 40, 3, 3), dict(padding=1)),                 # uneven rows: GEMM
    (2, (2, 64, 16, 16), (32, 64, 4, 4), dict(stride=2, padding=1)),      # phases
    (2, (2, 6, 7, 9), (4, 3, 2, 3), dict(padding=((1, 0), (2, 1)), groups=2)),
    (1, (3, 5, 17), (4, 5, 3), dict(padding="causal", dilation=2)),
    (3, (1, 2, 1, 5, 5), (4, 1, 1, 3, 3), dict(padding=1, groups=2)),
    (2, (2, 48, 8, 8), (100, 48, 3, 3), dict(padding=1)),
    (2, (1, 128, 7, 7), (256, 128, 1, 1), dict(stride=2)),
]
TRANSPOSE = [
    (2, (2, 64, 14, 14), (64, 32, 4, 4), dict(stride=2, padding=1)),
    (2, (2, 16, 9, 9), (16, 8, 3, 3), dict(stride=1, padding=1)),
    (1, (2, 8, 20), (8, 4, 5), dict(stride=3, output_padding=1)),
    (3, (1, 4, 4, 5, 6), (4, 6, 3, 3, 3), dict(stride=2, padding=1, groups=2)),
]
POOL = [
    ("max", 2, (4, 16, 56, 56), 2, {}),
    ("avg", 2, (4, 16, 56, 56), 3, dict(stride=2, padding=1)),
    ("min", 1, (4, 16, 100), 3, dict(stride=2, padding=1, dilation=2, ceil_mode=True)),
    ("max", 3, (2, 4, 9, 10, 11), (2, 3, 2), dict(stride=(1, 2, 2), ceil_mode=True)),
    ("avg", 3, (2, 4, 9, 10, 11), 3, dict(padding=1, count_include_pad=False)),
]
ALGORITHMS = ("auto", "direct", "im2col", "implicit")


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def fingerprints():
    out = {}
    for i, (ndim, xs, ws, kw) in enumerate(CONV + TRANSPOSE):
        transposed = i >= len(CONV)
        name = f"conv_transpose{ndim}d" if transposed else f"conv{ndim}d"
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(i)
            x = rng.standard_normal(xs).astype(dtype)
            w = rng.standard_normal(ws).astype(dtype)
            b = rng.standard_normal(ws[1] * kw.get("groups", 1) if transposed else ws[0])
            b = b.astype(dtype)
            for algorithm in ALGORITHMS:
                y = getattr(cyconv, name)(x, w, b, algorithm=algorithm, **kw)
                gy = np.random.default_rng(100 + i).standard_normal(y.shape).astype(dtype)
                g = getattr(cyconv, name + "_backward")(gy, x, w, algorithm=algorithm, **kw)
                key = f"{name} {xs} {ws} {kw} {np.dtype(dtype).name} {algorithm}"
                out[key] = [_digest(y), _digest(g.grad_input), _digest(g.grad_weight),
                            _digest(g.grad_bias)]
    for i, (kind, ndim, xs, k, kw) in enumerate(POOL):
        for dtype in (np.float32, np.float64):
            x = np.random.default_rng(i).standard_normal(xs).astype(dtype)
            op = getattr(cyconv, f"{kind}_pool{ndim}d")
            y = op(x, k, **kw)
            gy = np.random.default_rng(100 + i).standard_normal(y.shape).astype(dtype)
            gx = getattr(cyconv, f"{kind}_pool{ndim}d_backward")(gy, x, k, **kw)
            out[f"{kind}_pool{ndim}d {xs} {k} {kw} {np.dtype(dtype).name}"] = [_digest(y),
                                                                               _digest(gx)]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="FILE")
    group.add_argument("--check", metavar="FILE")
    args = parser.parse_args()
    now = fingerprints()
    if args.write:
        with open(args.write, "w") as fh:
            json.dump(now, fh, indent=0, sort_keys=True)
        print(f"{len(now)} fingerprints written to {args.write}")
        return 0
    with open(args.check) as fh:
        before = json.load(fh)
    changed = sorted(k for k in before if before[k] != now.get(k))
    for key in changed:
        print("CHANGED", key, before[key], now.get(key))
    print(f"{len(before) - len(changed)} of {len(before)} fingerprints unchanged")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
