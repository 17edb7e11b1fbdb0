"""Compare exported models on held-out data through the device runtime."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from runtime.classifier import Classifier
from runtime.evaluate import agreement, evaluate

REFERENCE = "float32"


@dataclass(frozen=True)
class VariantResult:
    """One exported model measured on the test split."""

    variant: str
    size_bytes: int
    accuracy: float  # 0..1
    agreement: float  # top-1 agreement with the reference (float32) model, 0..1
    ms_per_image: float  # batched inference, mean per image
    predicted: np.ndarray | None = field(default=None, repr=False, compare=False)  # [N] top-1 classes


@dataclass(frozen=True)
class Verification:
    """All variants on one test split, measured in one run with one back-end."""

    variants: list[VariantResult]
    test_images: int
    backend: str

    def get(self, variant: str) -> VariantResult:
        """The result of one variant (KeyError when it was not exported)."""
        return {v.variant: v for v in self.variants}[variant]

    @property
    def reference(self) -> VariantResult:
        """The model the others are compared with (float32 in an export), listed first."""
        return self.variants[0]

    def drop_pp(self, variant: str) -> float:
        """Accuracy of the reference minus that of ``variant``, in percentage points."""
        return 100.0 * (self.reference.accuracy - self.get(variant).accuracy)

    def with_sizes(self, sizes: dict[str, int]) -> Verification:
        """The same results with the final file sizes (after labels and facts were appended)."""
        return replace(self, variants=[replace(v, size_bytes=sizes.get(v.variant, v.size_bytes))
                                       for v in self.variants])

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"test_images": self.test_images, "backend": self.backend,
                "variants": [{k: getattr(v, k) for k in ("variant", "size_bytes", "accuracy", "agreement",
                                                         "ms_per_image")} for v in self.variants]}


def verify_models(paths: dict[str, str | os.PathLike], labels: list[str] | None,
                  x_test: np.ndarray, y_test: np.ndarray, reference: str = REFERENCE) -> Verification:
    """Run every model over the test split and compare it with the reference one.

    Args:
        paths: name (variant) -> ``.tflite`` path; must include ``reference``.
        labels: class names (checked against each model's outputs); None: each model's own.
        x_test: [N, 28, 28] raw-pixel test images.
        y_test: [N] labels.
        reference: the name of the model the others are compared with.

    Returns:
        The Verification, reference first.
    """
    results, reference_predicted, backend = [], None, ""
    for variant in sorted(paths, key=lambda v: v != reference):
        clf = Classifier(paths[variant], labels=labels)
        backend = clf.backend.name
        evaluate(clf, x_test, y_test)  # the first pass pays for tensor allocation and delegate set-up
        ev = evaluate(clf, x_test, y_test)
        reference_predicted = ev.predicted if reference_predicted is None else reference_predicted
        results.append(VariantResult(variant, Path(paths[variant]).stat().st_size, ev.accuracy,
                                     agreement(ev.predicted, reference_predicted), ev.ms_per_image, ev.predicted))
    return Verification(results, len(y_test), backend)
