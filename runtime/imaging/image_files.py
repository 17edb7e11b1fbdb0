"""Read image files into grayscale arrays (Pillow, no OpenCV)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.common.errors import ImageError
from runtime.imaging.preprocess import to_mnist

MAX_IMAGE_PIXELS = 50_000_000  # refuse larger images before decoding (decompression bombs)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an HxW uint8 grayscale array.

    EXIF orientation is honoured, the first frame of an animation is used, and
    transparent pixels are composited onto white (a transparent PNG of a drawn
    digit means dark ink on an empty page).

    Args:
        path: a PNG, JPEG, BMP, GIF, TIFF or WebP file, any size and mode.

    Returns:
        HxW uint8 array.

    Raises:
        ImageError: the file is missing, not an image, truncated or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise ImageError(f"{path}: image of {img.width}x{img.height} pixels is too large")
                img.seek(0)
                img = ImageOps.exif_transpose(img)
                return np.asarray(_to_gray(img), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image too large to decode safely (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc.__class__.__name__}: {exc})") from None


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


def _to_gray(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(arr * (255.0 / _full_scale(arr))), 0, 255).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("L")


def _full_scale(arr: np.ndarray) -> float:
    """The white level of a wide image: 1.0 (float images), 255, 65535, or its own peak."""
    peak = float(arr.max(initial=0))
    for level in (1.0, 255.0, 65535.0):
        if peak <= level:
            return level
    return peak
