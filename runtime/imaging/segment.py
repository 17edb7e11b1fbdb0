"""Find digits in a binary ink mask: connected components, the main digit, a row of digits.

Connected components are labelled over horizontal runs of ink (the classic run-length
method: runs touching a run of the row above are joined), so the work grows with the
number of runs, a few hundred for a frame with a digit in it, not with the pixels; each
step is a whole-array numpy operation, without a Python loop over runs.
Everything is numpy in, plain data out; no OpenCV or SciPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_AREA_FRACTION = 0.1  # a digit has at least this share of the largest blob's ink
PIECE_AREA_FRACTION = 0.02  # smaller blobs are specks; larger ones may be a piece of a digit (a 5's bar)
MIN_HEIGHT_FRACTION = 0.03  # ... and so is one shorter than this share of the image height
MERGE_MARGIN = 0.15  # pieces within this share of the digit's height of its box belong to it
ROW_HEIGHT_FRACTION = 0.5  # in a number, digits are 0.5 to 2 times as tall as the main one
TOUCHING_ASPECT = 1.8  # a blob wider than this times its height is taken as touching digits (a wide 5 reaches 1.7)
DIGIT_ASPECT = 0.7  # typical width / height of one handwritten digit, to count touching digits


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: rows top..bottom and columns left..right, ends exclusive."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(min(self.top, other.top), max(self.bottom, other.bottom),
                   min(self.left, other.left), max(self.right, other.right))

    def grown(self, margin: int) -> Box:
        """This box with ``margin`` pixels added on every side."""
        return Box(self.top - margin, self.bottom + margin, self.left - margin, self.right + margin)

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes share at least one pixel."""
        return (self.top < other.bottom and other.top < self.bottom
                and self.left < other.right and other.left < self.right)


@dataclass(frozen=True)
class Component:
    """One 8-connected blob of ink: its id in the component map, bounding box and pixel count."""

    component_id: int  # its value in the component map (1..K)
    box: Box
    area: int


@dataclass(frozen=True)
class Glyph:
    """The ink of one digit: the ids of its components, its box, and whether it was split off a wider blob."""

    component_ids: tuple[int, ...]
    box: Box
    touching: bool = False
    area: int = 0  # ink pixels


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, list[Component]]:
    """Label the 8-connected components of a boolean mask.

    Args:
        mask: HxW boolean (or 0/1) array.

    Returns:
        (component_map, components): an HxW int32 map of component ids (0 = background, 1..K) and
        the K components, largest first.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    rows, starts, ends = _runs(mask)
    above, below = _touching_runs(rows, starts, ends, w)
    unique_roots, run_label = np.unique(_label_runs(len(rows), above, below), return_inverse=True)
    component_map = np.zeros((h, w), dtype=np.int32)
    component_map[mask] = np.repeat(run_label.astype(np.int32) + 1, ends - starts)  # row-major, like the runs
    components = _describe(rows, starts, ends, run_label, len(unique_roots))
    return component_map, sorted(components, key=lambda c: c.area, reverse=True)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each horizontal run of ink, row-major: its row, first column and end column (exclusive)."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=bool)  # blank columns at both ends: no run crosses a row
    padded[:, 1:-1] = mask
    flat = padded.ravel()
    rows, cols = np.divmod(np.flatnonzero(flat[1:] != flat[:-1]), w + 2)  # a run's start, then its end
    return rows[0::2], cols[0::2], cols[1::2]


def _touching_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int):
    """The pairs of runs that touch (8-connectivity): (upper, lower) run indices, adjacent rows.

    The runs of one row are sorted and disjoint, so the runs of the row above touching run k
    are one index range: from the first ending at or after k's start to the last starting at
    or before k's end (ends are exclusive, so equality is a diagonal touch).
    """
    stride = width + 2  # row-major keys: every key of a row is below every key of the next
    above = (rows - 1) * stride
    first = np.searchsorted(rows * stride + ends, above + starts, side="left")
    last = np.searchsorted(rows * stride + starts, above + ends, side="right")
    counts = np.maximum(last - first, 0)
    lower = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(len(lower)) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(first, counts) + offsets, lower


def _label_runs(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest run index of each run's component, given the touching pairs (a[i], b[i]).

    Label propagation with pointer jumping: every pair hooks the larger of its two labels
    onto the smaller, then every label follows its chain to the end; a few rounds settle it.
    """
    labels = np.arange(count)
    while True:
        label_a, label_b = labels[a], labels[b]
        if np.array_equal(label_a, label_b):
            return labels
        low = np.minimum(label_a, label_b)
        np.minimum.at(labels, label_a, low)
        np.minimum.at(labels, label_b, low)
        jumped = labels[labels]
        while not np.array_equal(jumped, labels):
            labels, jumped = jumped, jumped[jumped]


def _describe(rows, starts, ends, run_label, count: int) -> list[Component]:
    lengths = ends - starts
    area = np.bincount(run_label, weights=lengths, minlength=count).astype(int)
    top = np.full(count, np.iinfo(np.int64).max)
    bottom = np.zeros(count, dtype=np.int64)
    left = np.full(count, np.iinfo(np.int64).max)
    right = np.zeros(count, dtype=np.int64)
    np.minimum.at(top, run_label, rows)
    np.maximum.at(bottom, run_label, rows + 1)
    np.minimum.at(left, run_label, starts)
    np.maximum.at(right, run_label, ends)
    return [Component(k + 1, Box(int(top[k]), int(bottom[k]), int(left[k]), int(right[k])), int(area[k]))
            for k in range(count)]


def plausible(items: list, image_height: int) -> list:
    """Drop specks: components (or glyphs) much smaller than the largest one, or very short; order kept."""
    if not items:
        return []
    min_area = max(c.area for c in items) * MIN_AREA_FRACTION
    min_height = max(2, image_height * MIN_HEIGHT_FRACTION)
    return [c for c in items if c.area >= min_area and c.box.height >= min_height]


def main_digit(components: list[Component], image_height: int) -> Glyph | None:
    """The largest blob of ink plus the pieces near it (a broken stroke), or None when there is no ink."""
    candidates = plausible(components, image_height)
    if not candidates:
        return None
    box, ids = candidates[0].box, [candidates[0].component_id]
    near = box.grown(round(MERGE_MARGIN * box.height))
    for c in _pieces(components)[1:]:
        if c.box.overlaps(near):
            box, ids = box.union(c.box), ids + [c.component_id]
    return Glyph(tuple(ids), box)


def digit_row(components: list[Component], image_height: int) -> list[Glyph]:
    """The digits of a written number, left to right.

    Pieces that share most of their columns and lie close above one another are
    one digit (a 5 whose bar is detached). The glyph with the most ink sets the row:
    glyphs much smaller than it, under half or over twice its height (a ruled line
    across the page), or not level with it, are dropped.
    """
    glyphs = plausible(_merge_columns(_pieces(components)), image_height)
    if not glyphs:
        return []
    main = max(glyphs, key=lambda g: g.area).box
    low, high = ROW_HEIGHT_FRACTION * main.height, main.height / ROW_HEIGHT_FRACTION
    row = [g for g in glyphs if low <= g.box.height <= high
           and g.box.top < main.bottom and main.top < g.box.bottom]
    return sorted(row, key=lambda g: g.box.left)


def _pieces(components: list[Component]) -> list[Component]:
    """Every blob but specks, largest first."""
    return [c for c in components if c.area >= PIECE_AREA_FRACTION * components[0].area] if components else []


def _merge_columns(components: list[Component]) -> list[Glyph]:
    glyphs: list[Glyph] = []
    for c in sorted(components, key=lambda c: c.box.left):
        host = next((k for k in range(len(glyphs) - 1, -1, -1) if _same_digit(glyphs[k].box, c.box)), None)
        if host is None:
            glyphs.append(Glyph((c.component_id,), c.box, area=c.area))
        else:
            g = glyphs[host]
            glyphs[host] = Glyph(g.component_ids + (c.component_id,), g.box.union(c.box), area=g.area + c.area)
    return glyphs


def _same_digit(a: Box, b: Box) -> bool:
    """Share half the narrower one's columns (any, for a piece under half the other's height), and lie
    less than half the taller one's height apart vertically."""
    columns = max(0, min(a.right, b.right) - max(a.left, b.left))
    gap = max(a.top, b.top) - min(a.bottom, b.bottom)
    small = min(a.height, b.height) < 0.5 * max(a.height, b.height)
    shared = columns > 0 if small else columns >= 0.5 * min(a.width, b.width)
    return shared and gap <= 0.5 * max(a.height, b.height)


def touching_count(box: Box) -> int:
    """How many touching digits a blob of this shape most likely holds (1 for a normal digit)."""
    if box.width <= TOUCHING_ASPECT * box.height:
        return 1
    return max(2, round(box.width / (DIGIT_ASPECT * box.height)))

