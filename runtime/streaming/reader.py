"""Classify a stream of frames: find the digit(s), run the model, time both, keep running statistics.

``DigitReader`` is the one path from pixels to an answer, used by ``predict`` on
image files and by ``classify`` on cameras and videos alike. ``StreamStats``
keeps constant memory however long the stream runs (latencies go into a
histogram, not a list), so a camera can run for days.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field

import numpy as np

from runtime.common.errors import ImageError
from runtime.imaging.preprocess import DigitCrop, Region, find_digits
from runtime.imaging.segment import Box
from runtime.inference.classifier import Classifier
from runtime.streaming.sources import Frame

FPS_AVERAGE_FRAME_COUNT = 10  # frames in the rolling FPS average
HISTOGRAM_BINS_PER_DECADE = 230  # latency histogram resolution: 1% steps
HISTOGRAM_RANGE_S = (1e-6, 100.0)  # seconds covered by the latency histogram


@dataclass(frozen=True)
class Digit:
    """One digit read from a frame: class index and name, probability, and where it was (pixels)."""

    class_id: int | None  # None when its score is below the reader's min_score
    name: str | None
    score: float
    box: Box
    touching: bool = False  # split off a blob of several touching digits: treat with care
    soft: bool = False  # blurred edges (out of focus, upscaled): read all the same

    def to_dict(self) -> dict:
        """A JSON-ready dict; ``label`` is the class id (None when unsure), ``box`` is [left, top, width, height]."""
        b = self.box
        return {"label": self.class_id, "name": self.name, "score": round(self.score, 4),
                "box": [b.left, b.top, b.width, b.height], "touching": self.touching, "soft": self.soft}


@dataclass(frozen=True)
class FrameResult:
    """What one frame held: its digits (empty: no digit), and the time spent on it."""

    index: int
    origin: str
    digits: tuple[Digit, ...] = ()
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    error: str | None = None
    crops: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)

    @property
    def text(self) -> str | None:
        """The digits' names read left to right ("407"), "?" for an unsure one; None when no digit."""
        if not self.digits:
            return None
        return "".join(d.name if d.class_id is not None else "?" for d in self.digits)

    @property
    def score(self) -> float | None:
        """How sure the whole reading is: the product of its digits' probabilities.

        A ranking rather than a calibrated probability: a caller that rejects readings below a
        threshold keeps the surer ones (bench/results-camera.md: how exact reads rise with it)."""
        return float(np.prod([d.score for d in self.digits])) if self.digits else None

    @property
    def total_ms(self) -> float:
        """Preprocessing plus inference, in milliseconds (the source's own time excluded)."""
        return self.preprocess_ms + self.inference_ms

    def to_dict(self, multi: bool = False, fps: float | None = None) -> dict:
        """The JSON line ``classify --json`` prints for this frame.

        Args:
            multi: a whole reading (``text``, ``score``, every digit) instead of the main digit's
                ``label``, ``name`` and ``score``.
            fps: the stream's rolling frame rate, when there is a stream.
        """
        row: dict = {"frame": self.index, "origin": self.origin}
        if self.error:
            return {**row, "error": self.error}
        if multi:
            row.update(text=self.text, score=self.score and round(self.score, 4),
                       digits=[d.to_dict() for d in self.digits])
        else:
            main = self.digits[0].to_dict() if self.digits else {"label": None, "name": None, "score": None}
            row.update(label=main["label"], name=main["name"], score=main["score"])
        row.update(ms=round(self.total_ms, 3), preprocess_ms=round(self.preprocess_ms, 3),
                   inference_ms=round(self.inference_ms, 3))
        if fps is not None:
            row["fps"] = round(fps, 1)
        return row


class DigitReader:
    """Frame in, digits out: ``find_digits`` then one batched ``Classifier`` call."""

    def __init__(self, classifier: Classifier, multi: bool = False, region: Region | None = None,
                 min_score: float = 0.0, expected: int | None = None, split_by_model: bool = True):
        """Args:
            classifier: the loaded model.
            multi: read a row of digits (a written number) instead of the largest digit.
            expected: with ``multi``, the number's digit count: touching digits are split, and
                a digit written in two strokes joined, until there are that many.
            region: only look inside (x, y, width, height) of each frame.
            min_score: digits with a lower probability are reported as unsure (class_id None).
            split_by_model: with ``multi``, cut touching digits where the model reads the pieces
                best (one more batched call for a frame with touching digits), else by outline.
        """
        self.classifier, self.multi, self.region, self.min_score = classifier, multi, region, min_score
        self.expected, self.split_by_model = expected, split_by_model

    def read(self, frame: Frame) -> FrameResult:
        """Classify one frame; a frame that cannot be read or processed gives a result with ``error``."""
        if frame.image is None:
            return FrameResult(frame.index, frame.origin, error=frame.error or "no image")
        start = time.perf_counter()
        try:
            scorer = self.classifier.scores if self.multi and self.split_by_model else None
            crops = find_digits(frame.image, multi=self.multi, expected=self.expected,
                                region=_scaled_region(self.region, frame.scale), scorer=scorer)
        except ImageError as exc:
            return FrameResult(frame.index, frame.origin, error=f"{frame.origin}: {exc}")
        found = time.perf_counter()
        probs = self.classifier.scores(np.stack([c.image for c in crops])) if crops else None
        done = time.perf_counter()
        digits = tuple(self._digit(crop, p, frame.scale)
                       for crop, p in zip(crops, probs if probs is not None else []))
        return FrameResult(frame.index, frame.origin, digits, (found - start) * 1e3, (done - found) * 1e3,
                           crops=tuple(c.image for c in crops))

    def _digit(self, crop: DigitCrop, probs: np.ndarray, scale: float) -> Digit:
        k = int(probs.argmax())
        score = float(probs[k])
        b = crop.box
        box = b if scale == 1 else Box(*(round(v * scale)
                                         for v in (b.top, b.bottom, b.left, b.right)))
        if score < self.min_score:
            return Digit(None, None, score, box, crop.touching, crop.soft)
        return Digit(k, self.classifier.class_names[k], score, box, crop.touching, crop.soft)


def _scaled_region(region: Region | None, scale: float) -> Region | None:
    """A region in the source's pixels, in the pixels of a frame scaled down by ``scale``."""
    if region is None or scale == 1:
        return region
    x, y, w, h = region
    return math.floor(x / scale), math.floor(y / scale), math.ceil(w / scale), math.ceil(h / scale)


class LatencyHistogram:
    """Percentiles of many latencies in constant memory (log-spaced bins, 1% resolution)."""

    def __init__(self):
        lo, hi = np.log10(HISTOGRAM_RANGE_S)
        self._edges = np.logspace(lo, hi, int((hi - lo) * HISTOGRAM_BINS_PER_DECADE) + 1)
        self._counts = np.zeros(len(self._edges) + 1, dtype=np.int64)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._counts[int(np.searchsorted(self._edges, seconds))] += 1
        self.count += 1

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) in seconds, to within 1%; NaN when empty."""
        if self.count == 0:
            return float("nan")
        k = int(np.searchsorted(np.cumsum(self._counts), q / 100 * self.count))
        return float(self._edges[min(max(k - 1, 0), len(self._edges) - 1)])


class StreamStats:
    """Counts, rolling FPS and latency percentiles of a stream, in constant memory."""

    def __init__(self):
        self.frames = self.with_digit = self.no_digit = self.errors = 0
        self.total, self.preprocess, self.inference = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
        self._recent = collections.deque(maxlen=FPS_AVERAGE_FRAME_COUNT + 1)
        self._start = time.perf_counter()

    def add(self, result: FrameResult) -> None:
        """Count one result (call as each frame is done, so the FPS is wall-clock)."""
        self.frames += 1
        self._recent.append(time.perf_counter())
        if result.error:
            self.errors += 1
            return
        self.with_digit += bool(result.digits)
        self.no_digit += not result.digits
        self.total.add(result.total_ms / 1e3)
        self.preprocess.add(result.preprocess_ms / 1e3)
        self.inference.add(result.inference_ms / 1e3)

    @property
    def rolling_fps(self) -> float:
        """Frames per second over the last ``FPS_AVERAGE_FRAME_COUNT`` frames (source time included)."""
        if len(self._recent) < 2:
            return 0.0
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else 0.0

    def summary(self) -> dict:
        """Frames, outcomes, overall FPS and latency percentiles (ms) as a plain dict."""
        elapsed = time.perf_counter() - self._start
        ms = lambda h, q: round(h.percentile(q) * 1e3, 3) if h.count else None
        return {"frames": self.frames, "with_digit": self.with_digit, "no_digit": self.no_digit,
                "errors": self.errors, "seconds": round(elapsed, 3),
                "fps": round(self.frames / elapsed, 1) if elapsed > 0 else None,
                "latency_ms": {"p50": ms(self.total, 50), "p99": ms(self.total, 99),
                               "preprocess_p50": ms(self.preprocess, 50), "inference_p50": ms(self.inference, 50)}}
