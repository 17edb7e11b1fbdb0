"""The hand-off between the classify loop's thread and the web server's thread.

The loop calls ``Feed.publish`` once per frame: it stores references under a lock
and returns (a few microseconds; no copy, no encoding, no wake-up of the server).
The server's handlers poll the feed at their own pace, so a slow viewer only
misses frames and rows; nothing queues up behind it.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from runtime.streaming.reader import FrameResult
from runtime.streaming.sinks import reading

ROWS_KEPT = 512  # rows an event-stream client may fall behind before it misses some
HISTORY_SIZE = 12  # readings listed on the page (a new one each time the reading changes)


class Latest(NamedTuple):
    """The newest frame: its number in the feed, pixels (None: unreadable file), result, row."""

    seq: int
    image: np.ndarray | None
    result: FrameResult
    row: dict


@dataclass(frozen=True)
class Status:
    state: str
    detail: str
    since: float  # Unix time


class Feed:
    """Latest frame, recent rows, the readings' history and the loop's status, across threads."""

    def __init__(self, rows_kept: int = ROWS_KEPT, history_size: int = HISTORY_SIZE):
        self._lock = threading.Lock()
        self._rows: collections.deque[tuple[int, dict]] = collections.deque(maxlen=rows_kept)
        self._history: collections.deque[dict] = collections.deque(maxlen=history_size)
        self.latest: Latest | None = None
        self.seq = 0  # frames published so far
        self.version = 0  # bumped when the status or the history changes
        self._status = Status("starting", "", time.time())
        self.viewers = collections.Counter()  # open streams by kind, for /api/status

    def publish(self, image: np.ndarray | None, result: FrameResult, row: dict) -> None:
        """Store one frame (called by the loop's thread; returns at once)."""
        with self._lock:
            self.seq += 1
            self.latest = Latest(self.seq, image, result, row)
            self._rows.append((self.seq, row))
            if "error" not in row:
                self._note_reading(row)

    def _note_reading(self, row: dict) -> None:
        now = reading(row)
        if self._history and self._history[-1]["reading"] == now:
            return
        self._history.append(
            {
                "reading": now,
                "score": row.get("score"),
                "frame": row["frame"],
                "time": round(time.time(), 3),
            }
        )
        self.version += 1

    def set_status(self, state: str, detail: str = "") -> None:
        with self._lock:
            self._status = Status(state, detail, time.time())
            self.version += 1

    def rows_after(self, seq: int) -> tuple[list[dict], int]:
        """Rows published after ``seq`` (those still kept), and the newest seq."""
        with self._lock:
            newest = self.seq
            if newest == seq:
                return [], seq
            return [row for s, row in self._rows if s > seq], newest

    def state(self) -> tuple[int, dict, list[dict]]:
        """(version, status, history) as JSON-ready values, read together."""
        with self._lock:
            return self.version, asdict(self._status), list(self._history)

    def summary(self) -> dict:
        """``/api/status``: the status, frames so far, open streams, the readings' history."""
        _, status, history = self.state()
        return {**status, "frames": self.seq, "viewers": dict(self.viewers), "history": history}
