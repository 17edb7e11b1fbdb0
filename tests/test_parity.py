"""Quantized accuracy stays near the float model's, on real data, through the real interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import load_calibration_set
from export import ExportConfig, export_models
from tests.helpers import FASHION_DIR
from training.datasets import load_dataset, model_input
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
    assert v.get("int8").agreement >= 0.993
    assert v.get("int8").size_bytes < 0.3 * v.get("float32").size_bytes
    # The export's defaults (per-tensor, logit floor) agree with float32 more than the converter's own.
    plain = _agreement_of_converter_default(tmp_path, data, exported.paths["float32"])
    assert v.get("int8").agreement > plain


def _agreement_of_converter_default(folder, data, float_path):
    import keras

    from export.convert import convert_keras_model
    from runtime.common.convention import Variant

    INT8 = Variant.INT8
    from runtime import Classifier

    model = keras.saving.load_model(folder / "model.keras", compile=False)
    calib = load_calibration_set(folder / "calibration.npz")
    blob = convert_keras_model(model, (INT8,), calib.x, per_channel=True, floor_margin=None)[INT8]
    (folder / "plain.tflite").write_bytes(blob)
    ref = Classifier(float_path).scores(data.x_test).argmax(axis=1)
    return float(np.mean(Classifier(folder / "plain.tflite").scores(data.x_test).argmax(axis=1) == ref))


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
    # Drawn from train, not test, in the form the model trained on (deskewed: the test model is a digits model).
    np.testing.assert_array_equal(calib.x, model_input(digits, deskew=True).x_train[calib.indices])
    assert calib.x.dtype == np.uint8 and calib.x.max() == 255  # the model's raw-pixel input form


def test_export_is_byte_reproducible(digits_model, tmp_path):
    import shutil

    folder, _ = digits_model
    for name in ("model.keras", "labels.txt", "metrics.json"):
        shutil.copy(folder / name, tmp_path / name)
    again = export_models(ExportConfig(model_dir=tmp_path))
    for variant, path in again.paths.items():
        assert path.read_bytes() == (folder / path.name).read_bytes(), variant


def test_logit_floor_keeps_the_float_model(digits_model, digits):
    import keras

    from export.floor import DEFAULT_MARGIN, logit_floor

    folder, _ = digits_model
    model = keras.saving.load_model(folder / "model.keras", compile=False)
    floored, floor = logit_floor(model, digits.x_train[:300])
    x = digits.x_test[..., None].astype(np.float32)
    before, after = model.predict(x, verbose=0), floored.predict(x, verbose=0)
    np.testing.assert_array_equal(before.argmax(axis=1), after.argmax(axis=1))
    assert np.abs(before - after).max() < 10 * np.exp(-DEFAULT_MARGIN)
    assert floor < 0 and [layer.name for layer in floored.layers][-2:] == ["probabilities_floored", "probabilities"]


def test_qat_export_stays_near_its_float_model(digits_model, tmp_path):
    import json
    import shutil

    from runtime.modelfile.reader import read_model
    from tests.helpers import run_cli

    folder, _ = digits_model
    for name in ("model.keras", "labels.txt", "metrics.json"):
        shutil.copy(folder / name, tmp_path / name)
    keras_bytes = (tmp_path / "model.keras").read_bytes()
    proc = run_cli("export", "--model-dir", str(tmp_path), "--qat", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {v["variant"]: v for v in json.loads(proc.stdout.splitlines()[-1])["variants"]}
    assert rows["float32"]["accuracy"] >= 0.88
    assert rows["int8"]["agreement"] >= 0.98
    assert abs(rows["float32"]["accuracy"] - rows["int8"]["accuracy"]) <= 0.01
    facts = read_model(tmp_path / "model.int8.tflite").project_metadata()
    assert facts["export"]["qat_epochs"] == 1 and facts["export"]["logit_floor_margin"] is None
    assert (tmp_path / "model.keras").read_bytes() == keras_bytes  # the trained model is left as it was
