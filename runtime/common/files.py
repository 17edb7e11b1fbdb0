"""Atomic file writes (a reader never sees a half-written artifact); opening inputs without hanging.

Each writer creates a temporary file in the destination folder (so the final
``os.replace`` is a rename on one file system), flushes it to disk, renames it
over the destination, then flushes the folder so the rename itself survives a
power cut. On any error the temporary file is removed and the
previous artifact stays as it was; an OSError (a full disk, a read-only folder)
becomes a one-line MnistEdgeError. ``open_regular`` opens an input file and refuses
anything that is not a regular file (a FIFO or a device would block or never end).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from runtime.common.errors import MnistEdgeError


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` if the block succeeds.

    Args:
        dest: the final path.
        suffix: the temporary file's suffix (defaults to ``dest``'s own, which
            writers such as Keras use to pick a format).

    Yields:
        The temporary path to write to. It does not exist yet.
    """
    import tempfile  # here: a one-shot command that writes nothing does not pay for it (and random)

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=dest.suffix if suffix is None else suffix, dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as Keras refuse to overwrite; hand them a fresh name
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except OSError as exc:  # a full disk, a read-only folder: the old file stays, the user gets one line
        raise MnistEdgeError(f"{dest}: cannot write ({exc.strerror or exc}); any earlier file is unchanged") from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically and return ``dest`` as a Path."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def atomic_write_text(dest: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``dest`` atomically and return ``dest`` as a Path."""
    return atomic_write_bytes(dest, text.encode("utf-8"))


def open_regular(path: str | os.PathLike, error: type[MnistEdgeError] = MnistEdgeError,
                 what: str = "a file") -> BinaryIO:
    """Open a regular file to read; refuse a FIFO, a device, a socket or a folder before it blocks.

    A named pipe opened for reading waits for a writer, and a device such as /dev/zero
    never ends: either would hang a reader. The path is checked before it is opened, the
    open itself does not block, and the opened descriptor is checked again (a file swapped
    in between is refused too).

    Args:
        path: the file.
        error: the MnistEdgeError subclass to raise (DataError, ImageError, ...).
        what: what the file should be, for the message ("an IDX file", "an image file").

    Returns:
        The file, open in binary mode (close it, or use it in a ``with`` block).

    Raises:
        error: the file is missing, unreadable (permissions), or not a regular file.
    """
    path = Path(path)
    try:
        _require_regular(os.stat(path).st_mode, path, error, what)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file (expected {what})") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise error(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        _require_regular(os.fstat(fd).st_mode, path, error, what)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _require_regular(mode: int, path: Path, error: type[MnistEdgeError], what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    raise error(f"{path}: is {kind}, not a regular file (expected {what})")


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb+") as f:
            os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    # The rename is done by now: a folder that cannot be flushed (some file systems
    # refuse fsync on a directory) must not turn a finished write into an error.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def cache_folder() -> Path:
    """The user's cache folder for mnist-edge (``$XDG_CACHE_HOME/mnist-edge``, else ``~/.cache/mnist-edge``):
    the probe's proven models and the command line's error log."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-edge"
