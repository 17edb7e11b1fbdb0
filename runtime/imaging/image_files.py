"""Read image files into grayscale arrays (Pillow, no OpenCV), in bounded memory.

A small file can declare a huge image: a 450 KB PNG of 7000x7000 16-bit pixels
decodes to 98 MB, and converting it naively to floats costs more than a gigabyte.
So the header is read first and the decode is bounded before it happens:

- more than ``MAX_IMAGE_PIXELS`` pixels: refused (a decompression bomb);
- a JPEG larger than ``MAX_OUTPUT_PIXELS``: decoded straight to grayscale at 1/2,
  1/4 or 1/8 scale by libjpeg (``Image.draft``), so the full image never exists;
- any other format whose decoded pixels would need more than ``MAX_DECODED_BYTES``:
  refused, since its decoder cannot scale;
- the decoded image is turned into 8-bit grayscale a strip of rows at a time and,
  when it is larger than ``MAX_OUTPUT_PIXELS``, shrunk by a whole factor (box filter)
  strip by strip, so no full-size copy is ever made in another mode.

``MAX_OUTPUT_PIXELS`` is far more than the digit reader uses (it works on a copy at
most 160 pixels across, ``preprocess.WORK_SIDE``), so the scaling costs no accuracy;
``read_image`` says by how much an image was scaled, so boxes can be mapped back.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from runtime.common.chatter import quiet_warnings
from runtime.common.errors import ImageError
from runtime.common.files import open_regular
from runtime.imaging.preprocess import to_mnist

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")  # what Pillow may open (PPM: .pgm)
JPEG_FORMATS = ("JPEG", "MPO")  # the JPEG opener gives MPO for a camera JPEG with extra pictures
MAX_IMAGE_PIXELS = 50_000_000  # refuse larger images before decoding (decompression bombs)
MAX_DECODED_BYTES = 96 << 20  # Pillow's storage for the decoded image (one to four bytes a pixel)
MAX_OUTPUT_PIXELS = 4_000_000  # larger images are scaled down while decoding
STRIP_PIXELS = 1 << 18  # pixels converted to grayscale at a time
# Decoders that hold copies of the decoded pixels besides the image (measured: libwebp's
# canvas and output buffers make a WebP cost about four times its pixels).
DECODER_COPIES = {"WEBP": 4}
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # over 8 bits a pixel: rescaled
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
ORIENTATION_TAG = 0x0112  # EXIF: how the camera was held
# EXIF orientation -> the transposition that shows the image upright (as ImageOps.exif_transpose).
_T = Image.Transpose
ORIENTATIONS = {2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE,
                6: _T.ROTATE_270, 7: _T.TRANSVERSE, 8: _T.ROTATE_90}


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an HxW uint8 grayscale array.

    EXIF orientation is honoured, the first frame of an animation is used, and
    transparent pixels are composited onto white (a transparent PNG of a drawn
    digit means dark ink on an empty page). An image of more than
    ``MAX_OUTPUT_PIXELS`` comes back scaled down (``read_image`` gives the factor).

    Args:
        path: a PNG, JPEG, BMP, GIF, TIFF or WebP file, any mode.

    Returns:
        HxW uint8 array.

    Raises:
        ImageError: the file is missing, not a regular file, unreadable, not an image,
            truncated or too large.
    """
    return read_image(path)[0]


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """``load_image``, and the scale: original pixels per returned pixel (1.0 unless scaled down).

    Raises:
        ImageError: as ``load_image``.
    """
    path = Path(path)
    with open_regular(path, ImageError, "an image file") as f:
        try:
            with quiet_warnings(), warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f, formats=FORMATS) as img:
                    return _decode(img, path)
        # UnidentifiedImageError is an OSError; a damaged TIFF tag can make Pillow's decoder raise
        # TypeError (a rational where an integer belongs), IndexError, KeyError or struct.error.
        except (Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, SyntaxError,
                ValueError, EOFError, MemoryError, TypeError, IndexError, KeyError, struct.error) as exc:
            raise ImageError(f"{path}: {_why(exc)}") from None


def _why(exc: Exception) -> str:
    """What Pillow's exception on a damaged or hostile file means, in a few words."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "image too large to decode safely (a decompression bomb?)"
    if isinstance(exc, UnidentifiedImageError):
        return f"not a readable image (no {', '.join(FORMATS)} header)"
    return f"not a readable image ({type(exc).__name__}: {exc})"


def load_digit(path: str | os.PathLike) -> np.ndarray:
    """Read an image file of one digit and bring it into the model's 28x28 form (``to_mnist``).

    Raises:
        ImageError: the file is unreadable or holds no digit; the message names the file.
    """
    gray = load_image(path)
    try:
        return to_mnist(gray)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None


def _decode(img: Image.Image, path: Path) -> tuple[np.ndarray, float]:
    """Decode an opened image within the limits above: (HxW uint8, scale)."""
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(f"{path}: image of {width}x{height} pixels is too large")
    if width < 1 or height < 1:
        raise ImageError(f"{path}: image of {width}x{height} pixels is empty")
    img.seek(0)
    orientation = _orientation(img)
    if img.format in JPEG_FORMATS and width * height > MAX_OUTPUT_PIXELS:
        factor = next((k for k in (2, 4, 8) if width * height <= MAX_OUTPUT_PIXELS * k * k), 8)
        # libjpeg scales while it decodes: the full-size image never exists
        img.draft("L", (math.ceil(width / factor), math.ceil(height / factor)))
    need = img.width * img.height * _bytes_per_pixel(img.mode) * DECODER_COPIES.get(img.format, 1)
    if need > MAX_DECODED_BYTES:
        raise ImageError(f"{path}: a {width}x{height} {img.mode} image needs {need / 2**20:.0f} "
                         f"MiB to decode, more than the {MAX_DECODED_BYTES / 2**20:.0f} MiB this "
                         "reader allows; scale it down (or save it as JPEG, decoded smaller)")
    factor = math.ceil(math.sqrt(img.width * img.height / MAX_OUTPUT_PIXELS))
    gray = _gray_strips(img, factor)
    method = ORIENTATIONS.get(orientation)
    if method is not None:
        gray = np.asarray(Image.fromarray(gray).transpose(method))
    return gray, max(width, height) / max(gray.shape)


def _gray_strips(img: Image.Image, factor: int) -> np.ndarray:
    """The image as 8-bit grayscale shrunk by ``factor`` (box filter), a strip of rows at a time."""
    img.load()
    level = _full_scale(img.getextrema()) if img.mode in WIDE_MODES else 1.0
    rows = max(factor, STRIP_PIXELS // img.width // factor * factor)  # whole factor x factor blocks
    parts = []
    for top in range(0, img.height, rows):
        gray = _to_gray(img.crop((0, top, img.width, min(img.height, top + rows))), level)
        parts.append(np.asarray(gray.reduce(factor) if factor > 1 else gray, dtype=np.uint8))
    return np.concatenate(parts)


def _to_gray(img: Image.Image, level: float) -> Image.Image:
    if img.mode in WIDE_MODES:  # in place, in float32: a strip costs four bytes a pixel, once
        scaled = np.array(img, dtype=np.float32)
        scaled *= np.float32(255.0 / level)
        np.nan_to_num(scaled, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(np.rint(scaled, out=scaled), 0, 255, out=scaled)
        return Image.fromarray(scaled.astype(np.uint8))
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("LA")
    if img.mode in ALPHA_MODES:
        gray, alpha = img.convert("LA").split()
        return Image.composite(gray, Image.new("L", img.size, 255), alpha)
    return img.convert("L")


def _bytes_per_pixel(mode: str) -> int:
    """Pillow's storage per pixel: one byte for 1, L and P, two for 16-bit, four for the rest."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


def _full_scale(extrema) -> float:
    """The white level of a wide image: 1.0 (float images), 255, 65535, or its own peak."""
    peak = float(extrema[1])
    if not math.isfinite(peak):
        return 1.0
    for level in (1.0, 255.0, 65535.0):
        if peak <= level:
            return level
    return peak


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1: upright); a damaged EXIF block is ignored (metadata, not pixels)."""
    try:
        return int(img.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises many kinds of error on hostile bytes
        return 1
