"""Frame sources: a camera (OpenCV), the Raspberry Pi camera (picamera2), a video file, or image files.

Every source is a context manager that yields ``Frame`` objects with RGB (or,
for image files, grayscale) uint8 pixels, so the classifier never sees a channel order: BGR from OpenCV and from
picamera2's "RGB888" buffers is converted in ``bgr_to_rgb``, in one place. The
camera is released when the ``with`` block ends, whatever ends it. OpenCV and
picamera2 are optional and imported only when a source needs them.

    with open_source("camera:0") as frames:
        for frame in frames:
            ...
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.common.chatter import library_output_shown, quiet_library
from runtime.common.errors import ImageError, SourceError, first_line
from runtime.common.files import open_regular
from runtime.imaging.image_files import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mjpeg", ".mjpg", ".h264", ".mpg", ".mpeg"}
CAMERA_SIZE = (640, 480)  # (width, height) requested from cameras
MAX_CAMERA_INDEX = 2**31 - 1  # OpenCV takes a C int
READ_RETRIES = 5  # failed reads in a row before a camera is declared lost
RETRY_DELAY_S = 0.2  # seconds between those reads
CAMERA_LOST = "camera lost, retrying"  # the status told to ``on_status`` while a live read fails
# A video file that ends this many frames (or this share of them) before the count in its
# header is reported as truncated; containers that estimate the count from the duration
# (MP4, Matroska) can be off by a frame or two.
VIDEO_COUNT_SLACK_FRAMES, VIDEO_COUNT_SLACK_SHARE = 2, 0.01


@dataclass(frozen=True)
class Frame:
    """One frame: its number in the stream, where it came from, and its pixels (HxWx3 RGB or HxW gray, uint8).

    ``image`` is None and ``error`` says why when a file in a folder could not be read.
    ``scale`` is the source's pixels per pixel of ``image``: above 1 when a very large image
    file was scaled down while it was decoded (``runtime.imaging.image_files``).
    """

    index: int
    origin: str
    image: np.ndarray | None
    error: str | None = None
    scale: float = 1.0


class FrameSource:
    """Base class: iterate for frames, close to release the device. Also a context manager."""

    name = "source"
    # Told (state, detail) when a live camera stops delivering and again when it is back, e.g. a
    # sink's ``status``; None: nobody listens.
    on_status: Callable[[str, str], None] | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file (safe to call twice)."""

    def _live(self, read: Callable[[], np.ndarray | None]) -> Iterator[Frame]:
        """Frames from a camera's BGR ``read``, retried when it fails, until it fails for good."""
        index = 0
        while True:
            image = read_with_retries(read, self.name, index, on_status=self.on_status)
            yield Frame(index, self.name, bgr_to_rgb(image))
            index += 1

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """Swap the channel order of an HxWx3 BGR frame (OpenCV, picamera2 "RGB888") to RGB; HxW passes through."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame[:, :, ::-1]
    if frame.ndim == 3 and frame.shape[2] == 4:  # BGRA / XRGB8888
        return frame[:, :, 2::-1]
    return frame


def read_with_retries(read: Callable[[], np.ndarray | None], what: str, delivered: int,
                      retries: int = READ_RETRIES, delay_s: float = RETRY_DELAY_S,
                      on_status: Callable[[str, str], None] | None = None) -> np.ndarray:
    """Call ``read`` until it returns a frame, at most ``retries`` times, ``delay_s`` apart.

    Args:
        on_status: told ``(CAMERA_LOST, detail)`` at the first failed read, and ``("running", "")``
            when a frame comes after failed reads.

    Raises:
        SourceError: every attempt failed (a camera unplugged or stalled).
    """
    for attempt in range(retries):
        frame = read()
        if frame is not None:
            if attempt and on_status:
                on_status("running", "")
            return frame
        if attempt == 0 and on_status:
            on_status(CAMERA_LOST, f"{what}: no frame after {delivered} frames; "
                                   f"{retries - 1} more tries, {delay_s:g} s apart")
        if attempt + 1 < retries:
            time.sleep(delay_s)
    raise SourceError(f"{what} stopped delivering frames after {delivered} frames ({retries} reads failed)")


def paced(frames: Iterable[Frame], rate: float) -> Iterator[Frame]:
    """Pass frames on at most ``rate`` per second: files or a video replayed at a camera's speed.

    Frames that come late (a slow reader) are not made up for by a burst: the schedule restarts.
    """
    period, due = 1.0 / rate, time.monotonic()
    for frame in frames:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due = max(due + period, time.monotonic())
        yield frame


class ImageFiles(FrameSource):
    """Image files in name order: a folder's images, a glob pattern's matches, or one file.

    An unreadable file becomes a frame with ``error`` set, and the next file is read.
    """

    def __init__(self, paths: list[Path], name: str):
        self.paths, self.name = paths, name

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            try:
                image, scale = read_image(path)
            except ImageError as exc:
                yield Frame(index, str(path), None, str(exc))
                continue
            yield Frame(index, str(path), image, scale=scale)


class OpenCVSource(FrameSource):
    """A camera by index (``camera:0``) or a video file, through OpenCV's ``VideoCapture``."""

    def __init__(self, target: int | str, size: tuple[int, int] = CAMERA_SIZE):
        cv2 = _import_optional("cv2", "camera:N and video files", "pip install opencv-python-headless")
        self._cv2, self.live = cv2, isinstance(target, int)
        self.name = f"camera:{target}" if self.live else str(target)
        try:
            with quiet_library():
                self._capture = cv2.VideoCapture(target)
        except cv2.error as exc:  # e.g. a device index OpenCV cannot take
            said = str(exc).strip().splitlines()[-1]
            raise SourceError(f"{self.name}: cannot open ({said})") from None
        if not self._capture.isOpened():
            self._capture.release()
            hint = " (is a camera connected, and is /dev/video* readable?)" if self.live else ""
            raise SourceError(f"{self.name}: cannot open{hint}")
        if self.live:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])

    def _read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        return frame if ok and frame is not None else None

    def __iter__(self) -> Iterator[Frame]:
        if self.live:
            yield from self._live(self._read)
            return
        expected = self._frame_count()
        index = 0
        while (frame := self._read()) is not None:  # None: the end, or a frame it cannot decode
            yield Frame(index, self.name, bgr_to_rgb(frame))
            index += 1
        slack = max(VIDEO_COUNT_SLACK_FRAMES, VIDEO_COUNT_SLACK_SHARE * (expected or 0))
        if expected and index < expected - slack:
            raise SourceError(f"{self.name}: the video ended after {index} of its {expected} "
                              "frames (a truncated or damaged file?)")

    def _frame_count(self) -> int | None:
        """The frame count the container declares, or None when it does not say."""
        count = self._capture.get(self._cv2.CAP_PROP_FRAME_COUNT)
        return int(count) if np.isfinite(count) and 0 < count < 2**53 else None

    def close(self) -> None:
        self._capture.release()


class PiCameraSource(FrameSource):
    """The Raspberry Pi camera module through picamera2 (libcamera)."""

    name = "picamera"

    def __init__(self, size: tuple[int, int] = CAMERA_SIZE):
        picamera2 = _import_optional("picamera2", "picamera", "sudo apt install python3-picamera2")
        try:
            self._camera = picamera2.Picamera2()
            config = self._camera.create_preview_configuration(main={"format": "RGB888", "size": size})
            self._camera.configure(config)
            self._camera.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"picamera: cannot start the camera ({exc})") from None

    def _read(self) -> np.ndarray | None:
        try:
            return self._camera.capture_array("main")
        except (RuntimeError, OSError):
            return None

    def __iter__(self) -> Iterator[Frame]:
        return self._live(self._read)  # "RGB888" is stored B, G, R, like OpenCV's frames

    def close(self) -> None:
        self._camera.stop()
        self._camera.close()


def open_source(spec: str) -> FrameSource:
    """Open a frame source from its command-line form.

    Args:
        spec: ``camera`` or ``camera:N`` (OpenCV device N), ``picamera``, a video
            file, a folder of images, a glob pattern (``"shots/*.jpg"``) or one image.

    Raises:
        SourceError: the source does not exist or cannot be opened, or its optional
            package is missing (the message names it).
    """
    if spec == "camera" or spec.startswith("camera:"):
        index = spec.partition(":")[2] or "0"
        if not (index.isascii() and index.isdigit() and int(index) <= MAX_CAMERA_INDEX):
            raise SourceError(f"{spec}: expected camera:N with N a device number, e.g. camera:0")
        return OpenCVSource(int(index))
    if spec == "picamera":
        return PiCameraSource()
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise SourceError(f"{spec}: no image files in this folder")
        return ImageFiles(files, spec)
    import glob  # only a source given as a pattern needs it

    if glob.has_magic(spec):
        files = sorted(Path(p) for p in glob.glob(spec) if os.path.isfile(p))
        if not files:
            raise SourceError(f"{spec}: no files match")
        return ImageFiles(files, spec)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder (or use camera:N or picamera)")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        open_regular(path, SourceError, "a video file").close()  # FFmpeg would wait on a FIFO
        return OpenCVSource(str(path))
    return ImageFiles([path], spec)


SYSTEM_PACKAGES = Path("/usr/lib/python3/dist-packages")  # where Debian / Pi OS install python3-* packages


def _import_optional(module: str, needed_for: str, install: str):
    """Import an optional camera back-end, or say in one line why it cannot be used and what to do.

    Raises:
        SourceError: not installed, installed where this venv cannot see it, or built against
            another numpy (picamera2's simplejpeg beside a pip-installed numpy 2.x raises
            ``ValueError: numpy.dtype size changed``).
    """
    if not library_output_shown():  # our own message says what failed: no C++ or FFmpeg lines
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        return __import__(module)
    except ImportError:
        if sys.prefix != sys.base_prefix and (SYSTEM_PACKAGES / module).is_dir():
            raise SourceError(f"{needed_for}: {module} is installed for the system Python, but this virtual "
                              "environment cannot see it: create the venv with --system-site-packages "
                              "(see the README's device section)") from None
        raise SourceError(f"{needed_for} needs the Python module {module}, which is not installed: {install}") \
            from None
    except ValueError as exc:  # a compiled module built against another numpy ABI
        raise SourceError(f"{needed_for}: {module} does not load with this numpy {_numpy_version()} "
                          f"({first_line(exc)}); install the numpy it was built for, e.g. "
                          "pip install 'numpy<2' in a venv that uses Debian's python3-picamera2") from None


def _numpy_version() -> str:
    return np.__version__
