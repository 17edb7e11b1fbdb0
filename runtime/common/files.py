"""Atomic file writes: a reader never sees a half-written artifact.

Each writer creates a temporary file in the destination folder (so the final
``os.replace`` is a rename on one file system), flushes it to disk, renames it
over the destination, then flushes the folder so the rename itself survives a
power cut. On any error the temporary file is removed and the
previous artifact stays as it was; an OSError (a full disk, a read-only folder)
becomes a one-line MnistEdgeError.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
