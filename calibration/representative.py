"""Draw, save and feed the representative set for full-integer quantization.

The set comes from the training split only (the test split must stay unseen to
measure the int8 model honestly), is stratified by class so every class shapes
the activation ranges, is seeded, and is kept in the model's input form: raw
pixels 0..255, [N, 28, 28, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from calibration.defaults import DEFAULT_SAMPLES
from runtime.common.errors import ConfigError, DataError
from runtime.common.files import atomic_path
from training.datasets import stratified_indices


@dataclass(frozen=True)
class CalibrationSet:
    """Representative images, their labels, and where in the training split they came from."""

    x: np.ndarray  # [N, 28, 28] uint8
    y: np.ndarray  # [N]
    indices: np.ndarray  # [N] indices into the training split
    seed: int


def draw_calibration_set(x_train: np.ndarray, y_train: np.ndarray, samples: int = DEFAULT_SAMPLES,
                         seed: int = 0) -> CalibrationSet:
    """Draw a class-stratified representative set from the training split.

    Args:
        x_train: [N, 28, 28] training images.
        y_train: [N] training labels.
        samples: how many images (at most N).
        seed: for the draw.

    Returns:
        The CalibrationSet.

    Raises:
        ConfigError: ``samples`` is below 1.
    """
    if samples < 1:
        raise ConfigError("calibration_samples", f"must be at least 1, got {samples}")
    idx = stratified_indices(y_train, samples, seed)
    return CalibrationSet(x_train[idx], y_train[idx], idx, seed)


def representative_dataset(x: np.ndarray, scale: float = 1.0) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A generator factory for ``TFLiteConverter.representative_dataset``.

    Args:
        x: [N, 28, 28] raw pixels.
        scale: what the graph being converted takes per raw pixel: 1.0 (raw pixels), or
            1/255 for a graph whose ÷255 lives in its input quantization (``export.graph``).

    Yields one [1, 28, 28, 1] float32 sample at a time, the exact form the graph's input takes.
    """

    def generate() -> Iterator[list[np.ndarray]]:
        for image in x:
            yield [image.reshape(1, *image.shape[:2], 1).astype(np.float32) * np.float32(scale)]

    return generate


def save_calibration_set(path: str | os.PathLike, calib: CalibrationSet) -> None:
    """Save the set (atomically) so an export can be reproduced exactly."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, x=calib.x, y=calib.y, indices=calib.indices, seed=calib.seed)


def load_calibration_set(path: str | os.PathLike) -> CalibrationSet:
    """Load a set written by ``save_calibration_set``.

    Raises:
        DataError: unreadable or missing arrays.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return CalibrationSet(data["x"], data["y"], data["indices"], int(data["seed"]))
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not a calibration set ({exc})") from None
