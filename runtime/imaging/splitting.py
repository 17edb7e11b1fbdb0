"""Split a blob of touching digits where its outline dips and where the model reads the pieces best.

Two digits written into each other overlap by a stroke's width or more, so the column of
least ink is a poor guide: between two zeros it lies inside a zero. The outline is a better
one: where two digits meet, the blob's upper outline dips and its lower outline rises. Each
column's cut cost is the depth of those dips (``contour_dips``, a reward) and its distance from
evenly spaced cuts (a penalty). With a model, the cheapest few columns per cut are candidates,
every piece between two candidates is cropped as a single digit is, all are read in one
batch, and the cuts whose pieces the model reads most surely, plus their cut costs, win
(dynamic programming over the candidates: segmentation by recognition). Without a model, the
cut costs alone decide among the same candidates. Each cut draws its candidates from its own
stretch of the blob. When the count is known (``--digits``) and no chain of plausibly sized
pieces exists (a digit much shorter than its neighbour), any pieces that hold ink are allowed:
the count is met. A count guessed from the blob's shape is not forced: such a blob, most
often one wide digit (a 2 with a long tail), is left whole.

Everything here is numpy in, plain data out; the crop and the model are callables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from runtime.imaging.segment import Box

MIN_PIECE = 0.12  # a piece is at least this share of the blob's height wide (a "1")
MAX_PIECE = 1.3  # ... and at most this share (a wide "0" or "2")
MIN_PIECE_HEIGHT = 0.7  # ... and its ink spans at least this share of the blob's height
DIP_WINDOW = 0.3  # share of the blob's height looked at on each side of a column for outline dips
DIP_WEIGHT = 2.0  # reward of a cut per blob height of outline dip (upper plus lower)
EVEN_WEIGHT = 1.0  # penalty of a cut per squared distance to even spacing, in digit pitches
CANDIDATES_PER_CUT = 3  # with a model: columns tried per cut, the cheapest first
MIN_SEPARATION = 2  # pixels between two candidate columns

Scorer = Callable[[np.ndarray], np.ndarray]  # [N, 28, 28] -> [N, classes] probabilities
Piece = Box  # one digit's part of a blob: its box in the blob's own pixels


def split_blob(ink: np.ndarray, parts: int, crop: Callable[[Piece], np.ndarray] | None = None,
               scorer: Scorer | None = None, exact: bool = False) -> list[Piece]:
    """Cut a blob into ``parts`` pieces by vertical cuts, left to right.

    Args:
        ink: HxW, the blob's own ink in its box (other blobs' ink zeroed).
        parts: how many digits it holds.
        crop: a piece's 28x28 MNIST-form crop; with ``scorer``, the cuts are chosen by recognition.
        scorer: the model's class probabilities for a batch of crops.
        exact: ``parts`` is known (a meter's digit count), not guessed from the blob's shape: when
            no chain of plausibly sized pieces exists, any pieces that hold ink are allowed.

    Returns:
        The pieces that hold ink, left to right: ``parts`` of them unless the blob is too
        narrow to cut, or (not ``exact``) no chain of plausible pieces exists: then the whole blob.
    """
    width = ink.shape[1]
    if parts <= 1 or width < 2 * parts:
        piece = _piece(ink, 0, width)
        return [piece] if piece else []
    costs = cut_costs(ink, parts)
    columns = _candidates(costs, parts)
    # With a known count and no chain of plausible pieces (a digit much shorter than its
    # neighbour), any pieces that hold ink are tried next.
    for plausible in (True, False) if exact else (True,):
        spans = _spans(ink, columns, plausible)
        edges = _cheapest_path(_readings(spans, crop, scorer), costs, width, parts)
        if edges is not None:
            break
    edges = edges or [0, width]
    pieces = [spans.get((lo, hi)) or _piece(ink, lo, hi) for lo, hi in zip(edges, edges[1:])]
    return [p for p in pieces if p is not None]


def _readings(spans: dict[tuple[int, int], Piece], crop: Callable[[Piece], np.ndarray] | None,
              scorer: Scorer | None) -> dict[tuple[int, int], float]:
    """Each span's reading cost: minus the log of the model's top probability (0 without a model)."""
    if scorer is None or crop is None or not spans:
        return dict.fromkeys(spans, 0.0)
    best = scorer(np.stack([crop(p) for p in spans.values()])).max(axis=1)
    return {span: -float(np.log(max(float(b), 1e-6))) for span, b in zip(spans, best)}


def cut_costs(ink: np.ndarray, parts: int) -> np.ndarray:
    """The cost of cutting before each column 0..W: outline dips lower it, distance from even
    spacing raises it (0 at the blob's two ends)."""
    height, width = ink.shape
    pitch = width / max(parts, 1)
    column = np.arange(width + 1)
    even = np.arange(1, max(parts, 2)) * pitch
    distance = np.abs(column[:, None] - even[None, :]).min(axis=1) / pitch
    costs = EVEN_WEIGHT * distance**2 - DIP_WEIGHT * np.r_[contour_dips(ink), 0.0]
    costs[0] = costs[-1] = 0.0
    return costs


def contour_dips(ink: np.ndarray) -> np.ndarray:
    """Per column, how far the upper outline dips below, plus the lower outline rises above, its
    extremes on both sides within ``DIP_WINDOW``; in blob heights (0 where it does not)."""
    height, width = ink.shape
    mask = ink > 0
    filled = mask.any(axis=0)
    top = np.where(filled, mask.argmax(axis=0), height).astype(np.float64)
    bottom = np.where(filled, height - 1 - mask[::-1].argmax(axis=0), -1).astype(np.float64)
    reach = max(2, round(DIP_WINDOW * height))
    highest_left, highest_right = _side_extremes(top, reach, np.min, fill=np.inf)
    lowest_left, lowest_right = _side_extremes(bottom, reach, np.max, fill=-np.inf)
    upper = top - np.maximum(highest_left, highest_right)
    lower = np.minimum(lowest_left, lowest_right) - bottom
    dips = np.clip(np.nan_to_num(upper, posinf=0, neginf=0), 0, None)
    dips += np.clip(np.nan_to_num(lower, posinf=0, neginf=0), 0, None)
    dips[0] = 0.0
    return dips / height


def _side_extremes(values: np.ndarray, reach: int, reduce,
                   fill: float) -> tuple[np.ndarray, np.ndarray]:
    """For each index, ``reduce`` of the ``reach`` values left of it, and of those right of it."""
    padded = np.r_[np.full(reach, fill), values, np.full(reach, fill)]
    windows = sliding_window_view(padded, reach)  # windows[k] = padded[k : k + reach]
    n = len(values)
    return reduce(windows[:n], axis=1), reduce(windows[reach + 1 : reach + 1 + n], axis=1)


def _candidates(costs: np.ndarray, parts: int) -> list[int]:
    """The cheapest columns near each cut, ``CANDIDATES_PER_CUT`` per cut, at least ``MIN_SEPARATION``
    apart. Each cut looks within half a digit pitch of its evenly spaced place, so one cut's deep
    dips cannot take every candidate and leave another cut none."""
    width = len(costs) - 1
    pitch = width / max(parts, 1)
    chosen: list[int] = []
    for k in range(1, parts):
        lo, hi = max(1, round((k - 0.5) * pitch)), min(width - 1, round((k + 0.5) * pitch))
        taken = 0
        for c in np.argsort(costs[lo : hi + 1], kind="stable") + lo:
            if taken == CANDIDATES_PER_CUT:
                break
            if all(abs(int(c) - d) >= MIN_SEPARATION for d in chosen):
                chosen.append(int(c))
                taken += 1
    return sorted(chosen)


def _spans(ink: np.ndarray, columns: list[int], plausible: bool = True) -> dict[tuple[int, int], Piece]:
    """Every piece between two of the columns (or the blob's ends) of plausible width and height
    (with ``plausible`` False: every piece that holds ink)."""
    height, width = ink.shape
    edges = [0, *columns, width]
    out = {}
    for i, lo in enumerate(edges):
        for hi in edges[i + 1 :]:
            if not plausible or MIN_PIECE * height <= hi - lo <= MAX_PIECE * height:
                piece = _piece(ink, lo, hi)
                if piece is not None and (not plausible or piece.height >= MIN_PIECE_HEIGHT * height):
                    out[(lo, hi)] = piece
    return out


def _piece(ink: np.ndarray, left: int, right: int) -> Piece | None:
    """The box of the blob's ink in columns left..right, or None when there is none."""
    block = ink[:, left:right] > 0
    rows, cols = np.nonzero(block.any(axis=1))[0], np.nonzero(block.any(axis=0))[0]
    if not len(rows):
        return None
    return Box(int(rows[0]), int(rows[-1]) + 1, left + int(cols[0]), left + int(cols[-1]) + 1)


def _cheapest_path(spans: dict[tuple[int, int], float], costs: np.ndarray, width: int,
                   parts: int) -> list[int] | None:
    """The edges 0 < c1 < ... < width of ``parts`` spans with the least total cost, or None."""
    best: dict[tuple[int, int], tuple[float, int]] = {(0, 0): (0.0, -1)}
    for step in range(1, parts + 1):
        for (lo, hi), cost in spans.items():
            if (step - 1, lo) in best:
                total = best[(step - 1, lo)][0] + cost + costs[hi]
                if (step, hi) not in best or total < best[(step, hi)][0]:
                    best[(step, hi)] = (total, lo)
    if (parts, width) not in best:
        return None
    edges = [width]
    for step in range(parts, 0, -1):
        edges.append(best[(step, edges[-1])][1])
    return edges[::-1]
