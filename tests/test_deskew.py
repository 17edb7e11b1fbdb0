"""Deskew: the shear read from the image moments, undone; and a deskewing model deskewed wherever it runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from runtime import Classifier
from runtime.imaging.deskew import MAX_SHEAR, deskew, slant
from runtime.modelfile.reader import read_model
from runtime.modelfile.verdicts import micro_verdict


def _sheared(digit: np.ndarray, shear: float) -> np.ndarray:
    """``digit`` leaned by ``shear`` pixels per row about its middle, by Pillow (not deskew's own code)."""
    coefficients = (1, -shear, shear * 14, 0, 1, 0)  # output (x, y) reads input (x - shear*(y-14), y)
    return np.asarray(Image.fromarray(digit).transform((28, 28), Image.Transform.AFFINE, coefficients,
                                                       Image.Resampling.BILINEAR))


def _centre(images: np.ndarray) -> np.ndarray:
    mass = images.astype(np.float64)
    axis = np.arange(28)
    total = mass.sum(axis=(1, 2))
    return np.stack([mass.sum(axis=2) @ axis / total, mass.sum(axis=1) @ axis / total], axis=1)


def test_a_leaning_bar_stands_upright_where_it_stood():
    bar = np.zeros((1, 28, 28), np.uint8)
    for row in range(4, 24):  # one pixel further left each two rows down: leaning right
        left = 16 - (row - 4) // 2
        bar[0, row, left : left + 3] = 255
    assert slant(bar)[0] == pytest.approx(-0.5, abs=0.03)
    upright = deskew(bar)
    assert abs(slant(upright)[0]) < 0.02
    np.testing.assert_allclose(_centre(upright), _centre(bar), atol=0.15)  # the centre of mass stays put
    assert upright.sum() == pytest.approx(bar.sum(), rel=0.01)


def test_real_digits_leaned_either_way_deskew_alike(digits):
    """Shear a real digit by Pillow, deskew it: the result is the deskewed original, up to interpolation."""
    x = digits.x_test[:200]
    base = deskew(x).astype(np.float32)
    for shear in (-0.4, 0.3):
        leaned = np.stack([_sheared(d, shear) for d in x])
        assert np.median(np.abs(slant(leaned) - slant(x) - shear)) < 0.05  # the lean is read
        again = deskew(leaned).astype(np.float32)
        # Mean absolute difference per image, against how different two digits of the set are.
        change = np.abs(again - base).mean(axis=(1, 2))
        other = np.abs(base - np.roll(base, 1, axis=0)).mean(axis=(1, 2))
        assert np.median(change) < 0.25 * np.median(other)


def test_shapes_types_and_batches():
    rng = np.random.default_rng(0)
    images = (rng.random((600, 28, 28)) ** 8 * 255).astype(np.uint8)  # more than one chunk
    one_by_one = np.concatenate([deskew(images[i : i + 1]) for i in range(len(images))])
    assert deskew(images).dtype == np.float32 and np.array_equal(deskew(images), one_by_one)
    assert deskew(images[:3, :, :, None]).shape == (3, 28, 28, 1)
    assert np.array_equal(deskew(images[:3].astype(np.float64)), deskew(images[:3]))  # any input form alike
    assert deskew(images[:0]).shape == (0, 28, 28)


def test_degenerate_digits_are_left_in_place():
    blank = np.zeros((1, 28, 28), np.uint8)
    row = blank.copy()
    row[0, 14, 3:25] = 255  # "-": ink on one row has no slant
    dot = blank.copy()
    dot[0, 0, 27] = 255
    for image in (blank, row, dot):
        assert slant(image)[0] == 0 and np.array_equal(deskew(image), image.astype(np.float32))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, (2, 28, 28), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_any_float_input_gives_finite_pixels_in_range(images):
    out = deskew(images)
    assert out.shape == images.shape and np.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 255 * (1 + 1e-6)
    assert (np.abs(slant(images)) <= MAX_SHEAR).all()


def test_a_deskewing_model_is_deskewed_by_the_runtime(digits_model, digits):
    """The shared test model is a digits model, so deskewed by default: its file says so, the
    Classifier deskews, and its accuracy on the raw test split is the one export verified."""
    folder, _ = digits_model
    clf = Classifier(folder / "model.int8.tflite")
    facts = clf.metadata
    assert facts["input"]["deskew"] is True and clf.deskew
    accuracy = float(np.mean(clf.scores(digits.x_test).argmax(axis=1) == digits.y_test))
    assert accuracy == pytest.approx(facts["verified"]["accuracy"], abs=1e-9)
    # Leaning the digits barely matters to it: the runtime stands them back up.
    leaned = np.stack([_sheared(d, 0.4) for d in digits.x_test])
    leaned_accuracy = float(np.mean(clf.scores(leaned).argmax(axis=1) == digits.y_test))
    assert leaned_accuracy > accuracy - 0.02
    note = " ".join(micro_verdict(read_model(folder / "model.int8-static.tflite")).notes)
    assert "deskewed digits" in note


@pytest.mark.tensorflow
def test_no_deskew_is_recorded_and_not_applied(digits, tmp_path):
    from export import ExportConfig, export_models
    from training.train import TrainConfig, train

    result = train(TrainConfig(dataset="mnist-5k", epochs=2, hidden=(16,), augment=False, deskew=False,
                               out_dir=str(tmp_path)), data=digits, verbose=0)
    assert result.metrics["deskew"] is False
    int8 = export_models(ExportConfig(model_dir=tmp_path), data=digits).paths["int8"]
    clf = Classifier(int8)
    assert clf.metadata["input"]["deskew"] is False and not clf.deskew
    accuracy = float(np.mean(clf.scores(digits.x_test).argmax(axis=1) == digits.y_test))
    assert accuracy == pytest.approx(clf.metadata["verified"]["accuracy"], abs=1e-9)


def test_defaults_deskew_digits_and_not_garments():
    from training.train import TrainConfig

    assert TrainConfig(dataset="mnist").settled().deskew is True
    assert TrainConfig(dataset="mnist-5k").settled().deskew is True
    assert TrainConfig(dataset="fashion-mnist").settled().deskew is False
    assert TrainConfig(dataset="mnist", deskew=False).settled().deskew is False
