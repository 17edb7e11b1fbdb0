"""The classify loop: frames from a source through a DigitReader, each result handed on, until something stops it.

``run_stream`` owns what every caller of the loop would otherwise repeat: counting
(``StreamStats``), the frame limit and pace, the optional preview window, the sinks (the
live page, MQTT: ``runtime.streaming.sinks``), Ctrl-C, SIGTERM and a source lost
mid-stream. It never prints; the caller gets each result through ``on_result`` and the
outcome at the end, so the command line, a service or a test can all drive it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from runtime.common.errors import MnistEdgeError
from runtime.streaming.reader import DigitReader, FrameResult, StreamStats
from runtime.streaming.sinks import RUNNING, STOPPED, Sinks
from runtime.streaming.sources import Frame, FrameSource, paced

ResultHandler = Callable[[Frame, FrameResult, StreamStats], None]
STOP_NAMES = {"interrupted": "Ctrl-C", "terminated": "SIGTERM"}  # what the sinks' "stopped" status says


@dataclass(frozen=True)
class StreamRun:
    """How a run ended.

    Attributes:
        stats: the run's counts and latencies.
        stopped: why it ended: "end" (the source ran out), "max_frames", "preview"
            (the user closed the window), "interrupted" (Ctrl-C), "terminated" (SIGTERM,
            a service being stopped) or "source_lost".
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


class _Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stopping the service): the same clean stop as Ctrl-C."""


def _terminate(signum, frame) -> None:
    raise _Terminated()


def run_stream(reader: DigitReader, frames: FrameSource, on_result: ResultHandler,
               max_frames: int | None = None, preview=None, sinks: Sinks | None = None,
               rate: float | None = None) -> StreamRun:
    """Read every frame of ``frames`` with ``reader`` and hand each result to ``on_result``.

    Args:
        reader: frame -> digits.
        frames: the source; it is closed when the run ends, however it ends.
        on_result: called once per frame, after the frame is counted.
        max_frames: stop after this many frames (None: until the source ends).
        preview: an open ``runtime.streaming.preview.Preview`` window, or None; it is
            closed when the run ends.
        sinks: where each frame's JSON row (``FrameResult.to_dict``) also goes; opened here
            (a sink that cannot open raises before the first frame), told the source's status,
            and closed when the run ends.
        rate: pass on at most this many frames a second (files or a video at a camera's pace).

    Returns:
        The StreamRun. Ctrl-C, SIGTERM and a source that stops delivering frames end the run
        normally, with ``stopped`` saying so.
    """
    sinks = sinks if sinks is not None else Sinks([])
    with sinks, _sigterm_stops():
        frames.on_status = sinks.status if sinks else None  # a camera lost: the page and MQTT say so
        sinks.status(RUNNING, frames.name)
        run = _loop(reader, paced(frames, rate) if rate else frames, frames, on_result, max_frames, preview, sinks)
        sinks.status(STOPPED, run.error or STOP_NAMES.get(run.stopped, run.stopped))
    return run


@contextlib.contextmanager
def _sigterm_stops():
    """SIGTERM raises ``_Terminated`` while the loop runs (main thread only), as Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _loop(reader: DigitReader, frames, source: FrameSource, on_result: ResultHandler, max_frames: int | None,
          preview, sinks: Sinks) -> StreamRun:
    stats, stopped, error = StreamStats(), "end", None
    try:
        for frame in frames:
            result = reader.read(frame)
            stats.add(result)
            on_result(frame, result, stats)
            if sinks:
                sinks.publish(frame.image, result, result.to_dict(reader.multi, stats.rolling_fps))
            if preview is not None and frame.image is not None and not preview.show(frame.image, result):
                stopped = "preview"
                break
            if max_frames is not None and stats.frames >= max_frames:
                stopped = "max_frames"
                break
    except KeyboardInterrupt as exc:
        stopped = "terminated" if isinstance(exc, _Terminated) else "interrupted"
    except MnistEdgeError as exc:  # a camera unplugged or a video that broke off: say what was done, and why
        stopped, error = "source_lost", str(exc)
    finally:
        source.close()
        if preview is not None:
            preview.close()
    return StreamRun(stats, stopped, error)
