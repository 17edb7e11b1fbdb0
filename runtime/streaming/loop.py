"""The classify loop: frames from a source through a DigitReader, each result handed on, until something stops it.

``run_stream`` owns what every caller of the loop would otherwise repeat: counting
(``StreamStats``), the frame limit, the optional preview window, Ctrl-C and a source
lost mid-stream. It never prints; the caller gets each result through ``on_result``
and the outcome at the end, so the command line, a web page or a test can all drive it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from runtime.common.errors import MnistEdgeError
from runtime.streaming.reader import DigitReader, FrameResult, StreamStats
from runtime.streaming.sources import Frame, FrameSource

ResultHandler = Callable[[Frame, FrameResult, StreamStats], None]


@dataclass(frozen=True)
class StreamRun:
    """How a run ended.

    Attributes:
        stats: the run's counts and latencies.
        stopped: why it ended: "end" (the source ran out), "max_frames", "preview"
            (the user closed the window), "interrupted" (Ctrl-C) or "source_lost".
        error: with "source_lost", the one-line reason.
    """

    stats: StreamStats
    stopped: str
    error: str | None = None


def open_reader(model: str | os.PathLike, threads: int | None = None, delegate: str | None = None,
                **reader_options) -> DigitReader:
    """Load a model the way the command line does (checked in a child process first) and wrap it in a reader.

    Args:
        model: the ``.tflite`` file.
        threads: interpreter threads (None: the back-end's choice).
        delegate: "edgetpu" or a delegate library path.
        reader_options: ``DigitReader``'s options (multi, region, min_score, expected).

    Raises:
        ModelError, BackendError: as ``Classifier`` does.
    """
    from runtime.inference.classifier import Classifier

    return DigitReader(Classifier(model, num_threads=threads, delegate=delegate, guard=True), **reader_options)


def open_preview(notify: Callable[[str], None]):
    """The preview window, or None after telling ``notify`` why there is none (no display, say)."""
    from runtime.streaming.preview import Preview

    preview, reason = Preview.open()
    if reason:
        notify(f"note: --show ignored: {reason}")
    return preview


def run_stream(reader: DigitReader, frames: FrameSource, on_result: ResultHandler,
               max_frames: int | None = None, preview=None) -> StreamRun:
    """Read every frame of ``frames`` with ``reader`` and hand each result to ``on_result``.

    Args:
        reader: frame -> digits.
        frames: the source; it is closed when the run ends, however it ends.
        on_result: called once per frame, after the frame is counted.
        max_frames: stop after this many frames (None: until the source ends).
        preview: an open ``runtime.streaming.preview.Preview`` window, or None; it is
            closed when the run ends.

    Returns:
        The StreamRun. Ctrl-C and a source that stops delivering frames end the run
        normally, with ``stopped`` saying so.
    """
    stats, stopped, error = StreamStats(), "end", None
    try:
        for frame in frames:
            result = reader.read(frame)
            stats.add(result)
            on_result(frame, result, stats)
            if preview is not None and frame.image is not None and not preview.show(frame.image, result):
                stopped = "preview"
                break
            if max_frames is not None and stats.frames >= max_frames:
                stopped = "max_frames"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    except MnistEdgeError as exc:  # a camera unplugged or a video that broke off: say what was done, and why
        stopped, error = "source_lost", str(exc)
    finally:
        frames.close()
        if preview is not None:
            preview.close()
    return StreamRun(stats, stopped, error)
