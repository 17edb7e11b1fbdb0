"""Library chatter kept off the terminal: native log lines and Python warnings from libraries.

The interpreter prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` on
file descriptor 2 when it loads a model, FFmpeg (inside OpenCV) prints a line per damaged
video frame, and Pillow and numpy raise warnings about odd files. None of it is for the
user: what went wrong reaches them as our own one-line ``error:``. A command's
``--verbose`` shows it again (``show_library_output(True)``).

Only the library calls are wrapped, never our own output, so an ``error:`` line is never
hidden. Redirecting descriptor 2 is process-wide; the command line is single-threaded.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

_shown = False  # --verbose: let library output through


def show_library_output(show: bool) -> None:
    """Let library chatter through (``--verbose``) or keep it off the terminal (the default)."""
    global _shown
    _shown = bool(show)


def library_output_shown() -> bool:
    """Whether library chatter goes to the terminal."""
    return _shown


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send what native code writes to descriptor 2 to /dev/null for the block (unless shown)."""
    if _shown:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Ignore Python warnings raised inside the block (unless shown); errors still raise."""
    with warnings.catch_warnings():
        if not _shown:
            warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def quiet_library() -> Iterator[None]:
    """Both: native stderr and Python warnings, for one call into a chatty library."""
    with quiet_warnings(), quiet_native_stderr():
        yield
