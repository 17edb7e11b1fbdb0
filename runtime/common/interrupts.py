"""Ctrl-C held back during a section that must finish or undo itself, and raised at a safe point.

Python delivers Ctrl-C as a KeyboardInterrupt wherever the main thread happens to be,
including inside a destructor, where it is printed and dropped: an export could then
go on, replace the models and exit 0. ``HeldInterrupt`` records the signal instead
and raises ``Interrupted`` only at the checkpoints its owner chooses.
"""

from __future__ import annotations

import signal
import threading

from runtime.common.errors import Interrupted


class HeldInterrupt:
    """A context manager that turns SIGINT into a flag; ``check`` raises once it is set.

    Outside the main thread (where signal handlers cannot be set) it does nothing,
    and Ctrl-C keeps Python's default behaviour.
    """

    def __init__(self, message: str):
        """Args:
            message: what ``Interrupted`` says when raised at a checkpoint.
        """
        self.message, self.requested, self._previous = message, False, None

    def __enter__(self) -> HeldInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum, frame) -> None:
        self.requested = True

    def check(self, message: str | None = None) -> None:
        """Raise ``Interrupted`` (with ``message``, else the default one) if Ctrl-C arrived."""
        if self.requested:
            raise Interrupted(message or self.message)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
