"""Accuracy and agreement of a Classifier on labelled arrays (numpy only)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from runtime.classifier import Classifier


@dataclass(frozen=True)
class Evaluation:
    """A model's result on one labelled set.

    Attributes:
        predicted: [N] predicted class indices.
        accuracy: share of ``predicted`` equal to the true labels (0..1).
        seconds: wall time of the batched inference, preprocessing excluded.
    """

    predicted: np.ndarray
    accuracy: float
    seconds: float

    @property
    def count(self) -> int:
        """Number of images evaluated."""
        return len(self.predicted)

    @property
    def ms_per_image(self) -> float:
        """Mean batched inference time per image, in milliseconds."""
        return 1000.0 * self.seconds / max(1, self.count)


def evaluate(classifier: Classifier, x: np.ndarray, y: np.ndarray) -> Evaluation:
    """Classify ``x`` in batches and score it against ``y``.

    Args:
        classifier: the model to run.
        x: [N,28,28] or [N,28,28,1] images in the input convention (0..255).
        y: [N] true class indices.

    Returns:
        The Evaluation.
    """
    start = time.perf_counter()
    predicted = classifier.scores(x).argmax(axis=1)
    seconds = time.perf_counter() - start
    return Evaluation(predicted, float(np.mean(predicted == np.asarray(y))) if len(y) else 0.0, seconds)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of positions where two prediction arrays name the same class (0..1)."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.mean(a == b)) if len(a) else 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts as a num_classes x num_classes int64 array."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix
