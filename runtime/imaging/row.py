"""A written number: from the row of glyphs ``segment.digit_row`` finds to one glyph per digit.

A glyph may hold several touching digits: ``part_counts`` says how many (by its shape, and
with a known digit count, such as a meter's, adjusted to that total), ``splitting`` cuts it.
With a known count, glyphs beyond it are joined first: the two nearest neighbours (a 4
or a 9 whose stroke was written apart from the rest), until the count is met.

Everything here is numpy in, plain data out; cropping a glyph and the model are callables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from runtime.imaging.segment import Box, Glyph, touching_count
from runtime.imaging.splitting import Piece, Scorer, split_blob


def digits_of_row(glyphs: list[Glyph], component_map: np.ndarray, ink: np.ndarray,
                  expected: int | None, crop: Callable[[Glyph], np.ndarray],
                  scorer: Scorer | None = None) -> list[Glyph]:
    """One glyph per digit, left to right.

    Args:
        glyphs: the row, left to right (``segment.digit_row``).
        component_map: the ink's component map, whose ids the glyphs name.
        ink: the ink map (bright ink on black) the components were found in.
        expected: the number's digit count when known, else None.
        crop: a glyph's 28x28 MNIST-form crop.
        scorer: the model's class probabilities for a batch of crops: touching digits are then
            cut where the model reads them best.
    """
    if expected is not None:
        glyphs = joined(glyphs, expected)
    return [piece for g, parts in zip(glyphs, part_counts(glyphs, expected))
            for piece in split_glyph(g, parts, component_map, ink, crop, scorer, expected is not None)]


def joined(glyphs: list[Glyph], expected: int) -> list[Glyph]:
    """The row with the two nearest neighbours joined into one glyph until it has ``expected``."""
    glyphs = list(glyphs)
    while len(glyphs) > max(expected, 1):
        gap = lambda k: (glyphs[k + 1].box.left - glyphs[k].box.right) / max(glyphs[k].box.height,
                                                                           glyphs[k + 1].box.height)
        k = min(range(len(glyphs) - 1), key=gap)
        a, b = glyphs[k], glyphs[k + 1]
        glyphs[k : k + 2] = [Glyph(a.component_ids + b.component_ids, a.box.union(b.box),
                                   a.touching or b.touching, a.area + b.area)]
    return glyphs


def part_counts(glyphs: list[Glyph], expected: int | None) -> list[int]:
    """How many digits each glyph holds: by its shape, then, with ``expected``, adjusted one digit
    at a time (to the glyph widest per digit, or from the narrowest) to that total."""
    counts = [touching_count(g.box) for g in glyphs]
    per_digit = lambda k: glyphs[k].box.width / (glyphs[k].box.height * counts[k])
    while expected is not None and glyphs and sum(counts) < expected:
        counts[max(range(len(glyphs)), key=per_digit)] += 1
    while expected is not None and sum(counts) > expected and max(counts) > 1:
        counts[min((k for k in range(len(glyphs)) if counts[k] > 1), key=per_digit)] -= 1
    return counts


def split_glyph(glyph: Glyph, parts: int, component_map: np.ndarray, ink: np.ndarray,
                crop: Callable[[Glyph], np.ndarray], scorer: Scorer | None = None,
                exact: bool = False) -> list[Glyph]:
    """A glyph of ``parts`` touching digits as that many glyphs (``splitting.split_blob``; ``exact``:
    the count is known, not guessed from the glyph's shape)."""
    if parts == 1:
        return [glyph]
    b = glyph.box
    own = np.isin(component_map[b.top : b.bottom, b.left : b.right], glyph.component_ids)
    block = np.where(own, ink[b.top : b.bottom, b.left : b.right], 0)

    def piece_glyph(p: Piece) -> Glyph:
        box = Box(b.top + p.top, b.top + p.bottom, b.left + p.left, b.left + p.right)
        return Glyph(glyph.component_ids, box, touching=True)

    pieces = split_blob(block, parts, lambda p: crop(piece_glyph(p)), scorer, exact)
    return [piece_glyph(p) for p in pieces]
