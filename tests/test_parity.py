"""Quantized accuracy stays near the float model's, on real data, through the real interpreter."""

from __future__ import annotations

import pytest

import numpy as np

from calibration import load_calibration_set
from conftest import FASHION_DIR
from export import ExportConfig, export_models
from training.datasets import load_dataset
from training.train import TrainConfig, train



pytestmark = pytest.mark.tensorflow  # trains or exports

def test_parity_full_fashion_mnist(tmp_path):
    data = load_dataset("fashion-mnist", FASHION_DIR)
    result = train(TrainConfig(dataset="fashion-mnist", epochs=3, out_dir=str(tmp_path)), data=data, verbose=0)
    exported = export_models(ExportConfig(model_dir=tmp_path))
    v = exported.verification
    assert v.test_images == 10000
    assert v.get("float32").accuracy >= 0.85
    assert abs(v.get("float32").accuracy - result.test_accuracy) < 0.002  # TFLite float == Keras
    assert v.drop_pp("int8") <= 1.0
    assert v.get("int8").agreement >= 0.985
    assert v.get("int8").size_bytes < 0.3 * v.get("float32").size_bytes


def test_parity_real_mnist_digits(digits_model, digits):
    folder, exported = digits_model
    v = exported.verification
    assert v.test_images == 1000
    assert v.get("float32").accuracy >= 0.88
    assert v.drop_pp("int8") <= 1.5
    assert v.get("int8").agreement >= 0.97


def test_calibration_set_is_stratified_from_the_training_split(digits_model, digits):
    folder, _ = digits_model
    calib = load_calibration_set(folder / "calibration.npz")
    assert len(calib.y) == 300
    assert np.bincount(calib.y, minlength=10).min() >= 27  # every class represented
    np.testing.assert_array_equal(calib.x, digits.x_train[calib.indices])  # drawn from train, not test
    assert calib.x.dtype == np.uint8 and calib.x.max() == 255  # the model's raw-pixel input form


def test_export_is_byte_reproducible(digits_model, tmp_path):
    import shutil

    folder, _ = digits_model
    for name in ("model.keras", "labels.txt", "metrics.json"):
        shutil.copy(folder / name, tmp_path / name)
    again = export_models(ExportConfig(model_dir=tmp_path))
    for variant, path in again.paths.items():
        assert path.read_bytes() == (folder / path.name).read_bytes(), variant
