"""Accuracy, agreement, confusion, precision and recall of a Classifier on labelled arrays (numpy only)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from runtime.common.convention import MNIST_SIDE
from runtime.common.errors import DataError
from runtime.inference.classifier import Classifier


@dataclass(frozen=True)
class Evaluation:
    """A model's result on one labelled set.

    Attributes:
        predicted: [N] predicted class ids.
        accuracy: share of ``predicted`` equal to the true class ids (0..1; NaN without them).
        seconds: wall time of the batched inference, preprocessing excluded.
        scores: [N, classes] probabilities.
    """

    predicted: np.ndarray
    accuracy: float
    seconds: float
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def count(self) -> int:
        """Number of images evaluated."""
        return len(self.predicted)

    @property
    def ms_per_image(self) -> float:
        """Mean batched inference time per image, in milliseconds."""
        return 1000.0 * self.seconds / max(1, self.count)


def evaluate(classifier: Classifier, x: np.ndarray, y: np.ndarray | None = None) -> Evaluation:
    """Classify ``x`` in batches and score it against ``y``.

    Args:
        classifier: the model to run.
        x: [N,28,28] or [N,28,28,1] images in the input convention (0..255).
        y: [N] true class ids (None: accuracy is NaN).

    Returns:
        The Evaluation.
    """
    start = time.perf_counter()
    scores = classifier.scores(x)
    seconds = time.perf_counter() - start
    predicted = scores.argmax(axis=1)
    if y is None:
        accuracy = float("nan")
    else:
        accuracy = float(np.mean(predicted == np.asarray(y))) if len(y) else 0.0
    return Evaluation(predicted, accuracy, seconds, scores)


@dataclass(frozen=True)
class ClassReport:
    """``evaluate``'s answer for one model on one labelled set: the Evaluation and per-class figures."""

    model: str
    dataset: str
    class_names: list[str]
    backend: str
    evaluation: Evaluation
    confusion: np.ndarray  # [true, predicted] counts
    precision: np.ndarray  # [classes]
    recall: np.ndarray  # [classes]

    def to_dict(self) -> dict:
        """A JSON-ready dict (the keys ``evaluate --json`` prints)."""
        ev = self.evaluation
        recall = self.recall.round(4).tolist()
        return {"model": self.model, "dataset": self.dataset, "images": ev.count, "accuracy": ev.accuracy,
                "ms_per_image": round(ev.ms_per_image, 5), "backend": self.backend,
                "labels": self.class_names, "precision": self.precision.round(4).tolist(), "recall": recall,
                "per_class_accuracy": dict(zip(self.class_names, recall)),
                "confusion_matrix": self.confusion.tolist()}


def class_report(classifier: Classifier, x: np.ndarray, y: np.ndarray, dataset: str) -> ClassReport:
    """Evaluate ``classifier`` on ``(x, y)`` with its confusion matrix, precision and recall."""
    ev = evaluate(classifier, x, y)
    matrix = confusion_matrix(y, ev.predicted, classifier.num_classes)
    precision, recall = precision_recall(matrix)
    return ClassReport(str(classifier.path), dataset, list(classifier.class_names), classifier.backend.name, ev,
                       matrix, precision, recall)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of positions where two prediction arrays name the same class (0..1)."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.mean(a == b)) if len(a) else 0.0


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts as a num_classes x num_classes int64 array."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def precision_recall(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall from a [true, predicted] confusion matrix.

    A class never predicted has precision 0; a class absent from the labels, recall 0.
    """
    matrix = np.asarray(matrix)
    hits = np.diag(matrix).astype(np.float64)
    return hits / np.maximum(matrix.sum(axis=0), 1), hits / np.maximum(matrix.sum(axis=1), 1)


def check_matches(classifier: Classifier, class_names: list[str], images: np.ndarray, dataset: str) -> None:
    """Refuse, before any inference, a model and a dataset that do not fit together.

    Raises:
        DataError: different class counts or class names (when the model carries its
            labels), or images of another size than the model's input.
    """
    if classifier.num_classes != len(class_names):
        raise DataError(f"{classifier.path} has {classifier.num_classes} classes but {dataset} has "
                        f"{len(class_names)}: evaluate it on the dataset it was trained on")
    own = classifier.metadata.get("labels")
    if own and list(own) != list(class_names):
        raise DataError(f"{classifier.path} was trained on {classifier.metadata.get('dataset', 'another dataset')} "
                        f"(classes {_names(own)}), not on {dataset} (classes {_names(class_names)})")
    if tuple(images.shape[1:3]) != (MNIST_SIDE, MNIST_SIDE):  # the Classifier refuses other model inputs
        raise DataError(f"{classifier.path} takes {MNIST_SIDE}x{MNIST_SIDE} images but {dataset} has "
                        f"{'x'.join(map(str, images.shape[1:]))}")


def _names(labels: list[str]) -> str:
    return ", ".join(map(str, labels[:3])) + (", ..." if len(labels) > 3 else "")
