"""Bring any grayscale picture of one digit into the MNIST input convention.

The model's input is raw pixel intensity 0..255, bright ink on a dark background,
28x28 (see GUIDE.md). MNIST itself was made by fitting each digit into a 20x20 box
(aspect ratio kept, anti-aliased) and centring its centre of mass in a 28x28 field;
``to_mnist`` follows that recipe, so a digit photographed or drawn at any size
reaches the model in the form it was trained on. Every function is numpy in,
numpy out, and has no side effects.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from runtime.errors import ImageError

MNIST_SIDE = 28  # pixels, the model's input height and width
DIGIT_BOX = 20  # pixels, the box MNIST fits each digit into
INK_FRACTION = 0.25  # a pixel is ink when brighter than this share of the brightest one
BORDER = 2  # pixels, the frame whose median decides the background's polarity


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Reduce an HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) array to HxW uint8.

    Args:
        image: pixel array, integer 0..255 or float 0..255.

    Returns:
        HxW uint8, luminance by ITU-R 601-2 (Pillow's "L").

    Raises:
        ImageError: the array has another shape.
    """
    image = np.asarray(image)
    if image.dtype.kind not in "buif":
        raise ImageError(f"expected numeric pixel values, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[:, :, :3].astype(np.float32)
        image = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if image.ndim != 2 or min(image.shape) < 1:
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageError("pixel values must be finite numbers (found NaN or infinity)")
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def background_level(gray: np.ndarray) -> float:
    """Estimate the background as the median of the border pixels (a digit rarely touches all edges)."""
    border = np.concatenate(
        [gray[:BORDER].ravel(), gray[-BORDER:].ravel(), gray[:, :BORDER].ravel(), gray[:, -BORDER:].ravel()]
    )
    return float(np.median(border))


def is_dark_on_light(gray: np.ndarray) -> bool:
    """True when the background is brighter than mid-grey (dark ink on paper)."""
    return background_level(gray) > 127


def ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Subtract the background level and stretch the ink to a peak of 255 (uint8 in, uint8 out)."""
    ink = np.clip(gray.astype(np.float32) - background_level(gray), 0, None)
    peak = float(ink.max())
    if peak > 0:
        ink *= 255.0 / peak
    return np.rint(ink).astype(np.uint8)


def ink_bounding_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """Return (top, bottom, left, right), exclusive ends, of the pixels above the ink threshold.

    Args:
        ink: HxW uint8, bright ink on dark.

    Returns:
        The box, or None when the image holds no ink (blank, or uniform).
    """
    peak = int(ink.max())
    if peak == 0 or peak == int(ink.min()):
        return None
    rows, cols = np.nonzero(ink > peak * INK_FRACTION)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def fit_and_center(crop: np.ndarray) -> np.ndarray:
    """Fit a cropped digit into a 20x20 box (aspect kept, anti-aliased) and centre its mass in 28x28."""
    h, w = crop.shape
    scale = DIGIT_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    canvas = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.float32)
    top, left = (MNIST_SIDE - digit.shape[0]) // 2, (MNIST_SIDE - digit.shape[1]) // 2
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    shift = _center_of_mass_shift(canvas)
    canvas = np.roll(canvas, shift, axis=(0, 1))
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _center_of_mass_shift(canvas: np.ndarray) -> tuple[int, int]:
    total = canvas.sum()
    rows, cols = np.indices(canvas.shape)
    cy, cx = (rows * canvas).sum() / total, (cols * canvas).sum() / total
    centre = MNIST_SIDE / 2  # MNIST's own digits have their centre of mass at pixel (14.0, 14.0)
    # Never roll ink across the edge: a 20x20 digit has 4 px of margin each side.
    limit = (MNIST_SIDE - DIGIT_BOX) // 2
    return int(np.clip(round(centre - cy), -limit, limit)), int(np.clip(round(centre - cx), -limit, limit))


def to_mnist(image: np.ndarray) -> np.ndarray:
    """Turn a picture of one digit into the model's 28x28 input form.

    A 28x28 image is taken as already in MNIST form (only inverted when it is dark
    on light). Any other size is made grayscale, inverted when dark on light, has
    its background subtracted and its ink stretched to 255, is cropped to its ink,
    fitted into 20x20 and centred by centre of mass.

    Args:
        image: HxW, HxWx3 or HxWx4 array, values 0..255.

    Returns:
        28x28 uint8, bright ink on black.

    Raises:
        ImageError: the image has no ink (blank or uniform) or an unusable shape.
    """
    gray = to_grayscale(image)
    if is_dark_on_light(gray):
        gray = 255 - gray
    if gray.shape == (MNIST_SIDE, MNIST_SIDE):
        return gray
    ink = ink_on_black(gray)
    box = ink_bounding_box(ink)
    if box is None:
        raise ImageError("no digit found: the image is blank")
    top, bottom, left, right = box
    return fit_and_center(ink[top:bottom, left:right])
