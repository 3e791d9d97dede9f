"""Shape arithmetic: padding forms, output sizes, FLOP counts."""

import pytest

from cyconv import _shapes


@pytest.mark.parametrize("padding, kernel, dilation, stride, size, expected", [
    (1, (3, 3), (1, 1), (1, 1), None, ((1, 1), (1, 1))),
    ((1, 2), (3, 5), (1, 1), (1, 1), None, ((1, 1), (2, 2))),
    (((0, 1), (2, 3)), (3, 3), (1, 1), (1, 1), None, ((0, 1), (2, 3))),
    ("valid", (3, 3), (1, 1), (1, 1), None, ((0, 0), (0, 0))),
    ("full", (3, 2), (2, 1), (1, 1), None, ((4, 4), (1, 1))),
    ("same", (4, 3), (1, 1), (1, 1), None, ((1, 2), (1, 1))),     # extra element at the end
    ("same", (3, 3), (2, 2), (1, 1), None, ((2, 2), (2, 2))),
    ("same", (3, 3), (1, 1), (2, 2), (9, 10), ((1, 1), (0, 1))),  # TF rule: ceil(L/stride) outputs
    ("causal", (3,), (2,), (1,), None, ((4, 0),)),
])
def test_resolve_padding(padding, kernel, dilation, stride, size, expected):
    assert _shapes.resolve_padding(padding, kernel, dilation, stride, size) == expected


def test_same_padding_keeps_the_size():
    for k in range(1, 6):
        for s in (1, 2, 3):
            for size in (5, 8, 13):
                pads = _shapes.resolve_padding("same", (k,), (1,), (s,), (size,))
                assert _shapes.conv_output_size(size, k, s, pads[0], 1) == -(-size // s)


@pytest.mark.parametrize("size, k, s, pad, d, ceil, expected", [
    (8, 2, 2, (0, 0), 1, False, 4),
    (11, 3, 2, (1, 1), 1, False, 6),
    (10, 3, 2, (0, 0), 1, False, 4),
    (10, 3, 2, (0, 0), 1, True, 5),
    (5, 2, 2, (0, 0), 1, True, 3),
    (6, 3, 3, (1, 1), 1, True, 3),   # last window would start in the right padding: dropped
    (12, 3, 1, (1, 1), 2, False, 10),
    # an input shorter than the (dilated) kernel: one window with ceil_mode, none without
    (1, 2, 2, (0, 0), 1, True, 1),
    (1, 2, 2, (0, 0), 1, False, 0),
    (2, 3, 3, (0, 0), 1, True, 1),
    (3, 2, 4, (0, 0), 4, True, 1),
    (3, 2, 1, (0, 0), 4, True, -1),
    (3, 2, 1, (0, 0), 4, False, -1),
])
def test_pool_output_size(size, k, s, pad, d, ceil, expected):
    assert _shapes.pool_output_size(size, k, s, pad, d, ceil) == expected


def test_flops():
    assert _shapes.conv_flops(8, 64, 64, 1, (56, 56), (3, 3)) == 2 * 8 * 64 * 56 * 56 * 64 * 9
    assert _shapes.conv_flops(8, 128, 128, 128, (56, 56), (3, 3)) == 2 * 8 * 128 * 56 * 56 * 9
