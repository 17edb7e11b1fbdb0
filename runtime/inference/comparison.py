"""Several models on one labelled set: accuracy, agreement with a reference, and the classes they swap.

The export stage verifies every variant it writes with ``compare_models`` (float32
is the reference), ``evaluate --compare`` runs it on any two files, and ``report``
draws from it: one path for one job.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from runtime.inference.classifier import Classifier
from runtime.inference.evaluation import agreement, evaluate

REFERENCE = "float32"
TOP_SWAPS = 5  # (reference class, other class) pairs listed by ``Comparison.swaps``


@dataclass(frozen=True)
class VariantResult:
    """One model measured on the labelled set."""

    variant: str  # its name in the comparison (the export variant, or the file name)
    size_bytes: int
    accuracy: float  # 0..1
    agreement: float  # top-1 agreement with the reference model, 0..1
    ms_per_image: float  # batched inference, mean per image
    predicted: np.ndarray | None = field(default=None, repr=False, compare=False)  # [N] top-1 class ids
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)  # [N, classes] probabilities


@dataclass(frozen=True)
class Comparison:
    """All models on one labelled set, measured in one run with one back-end, reference first."""

    variants: list[VariantResult]
    test_images: int
    backend: str

    def get(self, variant: str) -> VariantResult:
        """The result of one model (KeyError when it is not in the comparison)."""
        return {v.variant: v for v in self.variants}[variant]

    @property
    def reference(self) -> VariantResult:
        """The model the others are compared with (float32 in an export), listed first."""
        return self.variants[0]

    def drop_pp(self, variant: str) -> float:
        """Accuracy of the reference minus that of ``variant``, in percentage points."""
        return 100.0 * (self.reference.accuracy - self.get(variant).accuracy)

    def disagreements(self, variant: str) -> np.ndarray:
        """Indices of the images ``variant`` classifies differently from the reference."""
        return np.flatnonzero(self.get(variant).predicted != self.reference.predicted)

    def swaps(self, variant: str, top: int = TOP_SWAPS) -> list[tuple[int, int, int]]:
        """The most frequent (reference class id, other class id, images) among the disagreements."""
        ref, other = self.reference.predicted, self.get(variant).predicted
        differ = ref != other
        pairs = Counter(zip(ref[differ].tolist(), other[differ].tolist()))
        return [(a, b, n) for (a, b), n in pairs.most_common(top)]

    def with_sizes(self, sizes: dict[str, int]) -> Comparison:
        """The same results with the final file sizes (after labels and facts were appended)."""
        return replace(self, variants=[replace(v, size_bytes=sizes.get(v.variant, v.size_bytes))
                                       for v in self.variants])

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        keys = ("variant", "size_bytes", "accuracy", "agreement", "ms_per_image")
        return {"test_images": self.test_images, "backend": self.backend,
                "variants": [{k: getattr(v, k) for k in keys} for v in self.variants]}


def compare_models(paths: dict[str, str | os.PathLike], class_names: list[str] | None,
                   x: np.ndarray, y: np.ndarray, reference: str = REFERENCE,
                   classifiers: dict[str, Classifier] | None = None) -> Comparison:
    """Run every model over a labelled set and compare it with the reference one.

    Args:
        paths: name -> ``.tflite`` path; must include ``reference``.
        class_names: the classes (checked against each model's outputs); None: each model's own.
        x: [N, 28, 28] raw-pixel images (the test split).
        y: [N] true class ids.
        reference: the name of the model the others are compared with.
        classifiers: models already loaded, by name (the rest are loaded from ``paths``).

    Returns:
        The Comparison, reference first.
    """
    results, reference_predicted, backend = [], None, ""
    for name in sorted(paths, key=lambda v: v != reference):
        clf = (classifiers or {}).get(name) or Classifier(paths[name], class_names=class_names)
        backend = clf.backend.name
        evaluate(clf, x)  # the first pass pays for tensor allocation and delegate set-up
        ev = evaluate(clf, x, y)
        reference_predicted = ev.predicted if reference_predicted is None else reference_predicted
        results.append(VariantResult(name, Path(paths[name]).stat().st_size, ev.accuracy,
                                     agreement(ev.predicted, reference_predicted), ev.ms_per_image,
                                     ev.predicted, ev.scores))
    return Comparison(results, len(y), backend)
