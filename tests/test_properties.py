"""Property-based tests: any array in, a valid 28x28 uint8 digit or a clear ImageError out."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from runtime.common.errors import ImageError
from runtime.imaging.preprocess import find_digits, to_mnist
from runtime.imaging.segment import connected_components
from runtime.imaging.splitting import split_blob

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64, np.bool_])


def _rgba_with_infinite_alpha() -> np.ndarray:
    """Found by the test below in CI: a 4x3 RGBA float picture with two dark pixels, its one
    infinity in the alpha channel, was read instead of refused."""
    image = np.full((3, 4, 4), 107, np.float32)
    image[0, 0, 3], image[1, 1, 0], image[2, 2, 1] = np.inf, 0, 0
    return image


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=40)))
@example(arr=_rgba_with_infinite_alpha())
def test_to_mnist_accepts_or_refuses_cleanly(arr):
    try:
        out = to_mnist(arr)
    except ImageError as exc:
        assert str(exc)
        return
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert not (arr.dtype.kind == "f" and not np.isfinite(arr).all())  # NaN/inf must be refused


@settings(max_examples=100, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_any_size_with_ink_gives_a_centred_digit(h, w, seed):
    rng = np.random.default_rng(seed)
    page = np.full((h, w), 230, np.uint8)
    r0, c0 = rng.integers(0, h), rng.integers(0, w)
    page[r0 : r0 + max(1, h // 3), c0 : c0 + max(1, w // 4)] = 20  # a dark stroke somewhere
    try:
        out = to_mnist(page)
    except ImageError:
        return  # the stroke covered the border and so became the "background"
    assert out.shape == (28, 28) and out.max() > 0
    rows, cols = np.nonzero(out)
    assert rows.min() >= 0 and rows.max() <= 27 and cols.min() >= 0 and cols.max() <= 27


def _flood_fill_components(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """Reference 8-connected labelling by breadth-first search: (area, top, bottom, left, right) per blob."""
    seen = np.zeros_like(mask, dtype=bool)
    blobs = []
    for r0, c0 in zip(*np.nonzero(mask)):
        if seen[r0, c0]:
            continue
        seen[r0, c0] = True
        queue, pixels = [(r0, c0)], []
        while queue:
            r, c = queue.pop()
            pixels.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < mask.shape[0] and 0 <= cc < mask.shape[1] and mask[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        queue.append((rr, cc))
        rows, cols = zip(*pixels)
        blobs.append((len(pixels), min(rows), max(rows) + 1, min(cols), max(cols) + 1))
    return sorted(blobs)


@settings(max_examples=200, deadline=None)
@given(mask=hnp.arrays(np.bool_, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24)))
def test_connected_components_match_flood_fill(mask):
    component_map, components = connected_components(mask)
    got = sorted((c.area, c.box.top, c.box.bottom, c.box.left, c.box.right) for c in components)
    assert got == _flood_fill_components(mask)
    assert ((component_map > 0) == mask).all()
    for c in components:
        assert (component_map == c.component_id).sum() == c.area


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arr=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=64)),
       multi=st.booleans())
@example(arr=np.array([[94, 0], [0, 0]], np.uint8), multi=True)  # once: a row emptied by the size filter
def test_find_digits_gives_valid_crops_or_a_clear_error(arr, multi):
    try:
        found = find_digits(arr, multi=multi)
    except ImageError as exc:
        assert str(exc)
        return
    for crop in found:
        assert crop.image.shape == (28, 28) and crop.image.dtype == np.uint8
        assert crop.box.height > 0 and crop.box.width > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ink=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=48)),
       parts=st.integers(1, 6), scored=st.booleans())
def test_split_blob_gives_ordered_pieces_inside_the_blob(ink, parts, scored):
    scorer = (lambda crops: np.random.default_rng(0).dirichlet(np.ones(10), len(crops))) if scored else None
    pieces = split_blob(ink, parts, lambda p: np.zeros((28, 28), np.uint8), scorer)
    assert len(pieces) <= parts and (pieces or not ink.any())
    for p in pieces:
        assert 0 <= p.top < p.bottom <= ink.shape[0] and 0 <= p.left < p.right <= ink.shape[1]
        assert ink[p.top : p.bottom, p.left : p.right].any()
    assert all(a.right <= b.left for a, b in zip(pieces, pieces[1:]))  # left to right, apart
