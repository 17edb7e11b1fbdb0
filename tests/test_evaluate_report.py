"""evaluate (precision, recall, confusion, --compare) and report, on the shared real model; no TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from runtime import Classifier
from runtime.common.errors import DataError
from runtime.inference.evaluation import check_matches, precision_recall
from tests.helpers import FASHION_DIR, assert_one_line_error, run_cli

FIGURES = ("samples", "class_counts", "training", "confusion", "per_class", "misclassified", "weights",
           "disagreements")


def test_precision_recall_from_a_known_matrix():
    matrix = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])  # class 2: never true, never predicted
    precision, recall = precision_recall(matrix)
    np.testing.assert_allclose(precision, [8 / 9, 9 / 11, 0])
    np.testing.assert_allclose(recall, [0.8, 0.9, 0])


def test_evaluate_reports_precision_recall_and_confusion(digits_model, digits):
    folder, _ = digits_model
    proc = run_cli("evaluate", str(folder / "model.int8.tflite"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 1000
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(digits.y_test, minlength=10))
    assert np.trace(matrix) / 1000 == pytest.approx(result["accuracy"])
    precision, recall = precision_recall(matrix)
    assert result["precision"] == pytest.approx(precision.round(4).tolist())
    assert result["recall"] == pytest.approx(recall.round(4).tolist())
    assert min(result["recall"]) > 0.75  # every digit class is learned

    text = run_cli("evaluate", str(folder / "model.int8.tflite"))
    assert text.returncode == 0 and "precision" in text.stdout and "recall" in text.stdout


def test_compare_gives_the_agreement_table(digits_model, digits):
    folder, _ = digits_model
    f32, i8 = folder / "model.float32.tflite", folder / "model.int8.tflite"
    proc = run_cli("evaluate", "--compare", str(f32), str(i8), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    ref, other = (Classifier(p).scores(digits.x_test).argmax(axis=1) for p in (f32, i8))
    rows = {v["variant"]: v for v in result["variants"]}
    assert rows["model.int8.tflite"]["agreement"] == pytest.approx(np.mean(ref == other))
    assert rows["model.float32.tflite"]["accuracy"] == pytest.approx(np.mean(ref == digits.y_test))
    assert result["disagreements"] == int(np.sum(ref != other))
    assert sum(s["images"] for s in result["top_swaps"]) <= result["disagreements"]

    text = run_cli("evaluate", "--compare", str(f32), str(i8))
    assert text.returncode == 0 and "classified differently" in text.stdout


def test_a_model_and_a_dataset_that_do_not_fit_are_refused_first(digits_model, digits):
    folder, _ = digits_model
    clf = Classifier(folder / "model.int8.tflite")
    with pytest.raises(DataError, match="has 10 classes but tiny has 5"):
        check_matches(clf, [str(i) for i in range(5)], digits.x_test, "tiny")
    with pytest.raises(DataError, match="takes 28x28 images but big has 32x32"):
        check_matches(clf, [str(i) for i in range(10)], np.zeros((2, 32, 32), np.uint8), "big")
    # Same class count, other classes: the model's embedded labels say so.
    proc = run_cli("evaluate", str(folder / "model.int8.tflite"), "--dataset", "fashion-mnist",
                   "--data-dir", str(FASHION_DIR))
    assert_one_line_error(proc, "trained on mnist-5k", "not on fashion-mnist")
    proc = run_cli("evaluate", "--compare", str(folder / "model.float32.tflite"), str(folder / "model.int8.tflite"),
                   "--dataset", "fashion-mnist", "--data-dir", str(FASHION_DIR))
    assert_one_line_error(proc, "not on fashion-mnist")
    proc = run_cli("evaluate")
    assert proc.returncode == 2 and "--compare" in proc.stderr


def test_report_writes_every_figure_and_one_html_page(digits_model, tmp_path):
    folder, _ = digits_model
    out = tmp_path / "report"
    proc = run_cli("report", str(folder), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 8 figures" in proc.stdout
    for name in FIGURES:
        path = out / f"{name}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 200, name
            colours = np.asarray(image.convert("L"))
        assert path.stat().st_size > 8000, name
        assert colours.std() > 10, name  # something was drawn
    page = (out / "index.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(FIGURES)  # self-contained
    assert "agrees with float32" in page and "mnist-5k" in page
    assert not list(out.glob("*.tmp*"))


def test_report_refuses_a_mismatched_dataset_before_drawing(digits_model, tmp_path):
    folder, _ = digits_model
    out = tmp_path / "report"
    proc = run_cli("report", str(folder), "--dataset", "fashion-mnist", "--data-dir", str(FASHION_DIR),
                   "--out", str(out))
    assert_one_line_error(proc, "not on fashion-mnist")
    assert not out.exists()
    assert_one_line_error(run_cli("report", str(tmp_path)), "run `export` first")
