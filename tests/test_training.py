"""Training: determinism, interruption and resume, artifacts left intact."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from runtime.common.errors import Interrupted, MnistEdgeError
from tests.helpers import assert_one_line_error, run_cli, start_cli
from training import state
from training.artifacts import read_metrics
from training.train import TrainConfig, train

pytestmark = pytest.mark.tensorflow  # trains or exports


class _Interrupt:
    """A Keras callback that presses Ctrl-C at the end of one epoch."""

    def __new__(cls, at_epoch: int):
        import keras

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == at_epoch:
                    raise KeyboardInterrupt

        return Interrupt()


def _weights(folder):
    import keras

    return keras.saving.load_model(folder / "model.keras", compile=False).get_weights()


def _config(folder, **kw):
    return TrainConfig(dataset="mnist-5k", epochs=4, patience=10, augment=False,
                       out_dir=str(folder), **kw)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, digits):
    straight = train(_config(tmp_path / "a"), data=digits, verbose=0)

    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"the previous good model")
    with pytest.raises(Interrupted):
        train(_config(folder), data=digits, verbose=0, callbacks=[_Interrupt(at_epoch=1)])
    assert (folder / "model.keras").read_bytes() == b"the previous good model"  # untouched by Ctrl-C

    resumed = train(_config(folder, resume=True), data=digits, verbose=0)
    for a, b in zip(_weights(tmp_path / "a"), _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert resumed.metrics["epochs_run"] == 4 and resumed.resume_note == "resumed after epoch 2"
    assert resumed.metrics["history"] == straight.metrics["history"]
    assert sorted(p.name for p in folder.iterdir()) == ["labels.txt", "metrics.json", "model.keras"]


@pytest.mark.parametrize("after_best", [1, 2])
def test_resume_after_the_best_epoch_stops_and_restores_like_a_straight_run(tmp_path, digits,
                                                                           after_best):
    """Early stopping's state (best loss, patience count, best weights) survives the interruption,
    also when Ctrl-C lands at the end of the epoch that stopped the run (after_best 2)."""
    cfg = dict(dataset="mnist-5k", epochs=40, patience=2, learning_rate=0.01, augment=False)
    straight = train(TrainConfig(out_dir=str(tmp_path / "a"), **cfg), data=digits, verbose=0)
    losses = straight.metrics["history"]["val_loss"]
    best = int(np.argmin(losses))
    assert straight.metrics["epochs_run"] == best + 3 < 40  # it stopped early, 2 epochs after its best

    folder = tmp_path / "b"
    with pytest.raises(Interrupted):
        train(TrainConfig(out_dir=str(folder), **cfg), data=digits, verbose=0,
              callbacks=[_Interrupt(best + after_best)])
    resumed = train(TrainConfig(out_dir=str(folder), resume=True, **cfg), data=digits, verbose=0)
    assert resumed.metrics["epochs_run"] == straight.metrics["epochs_run"]
    assert resumed.metrics["history"] == straight.metrics["history"]
    assert resumed.test_accuracy == straight.test_accuracy
    for a, b in zip(_weights(tmp_path / "a"), _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in folder.iterdir()) == ["labels.txt", "metrics.json", "model.keras"]


def test_cli_run_stopped_by_ctrl_c_then_killed_resumes_to_the_same_model(tmp_path, digits):
    """The real command: Ctrl-C gives one line and exit 130, a SIGKILL loses at most the epoch in flight."""
    # Batches of 32: ~100 steps an epoch, so the signal lands seconds before the run could end,
    # however loaded the machine (with batches of 128 the last epochs could finish first).
    args = ["--dataset", "mnist-5k", "--epochs", "6", "--patience", "10", "--batch-size", "32",
            "--no-augment", "--quiet"]
    straight = train(TrainConfig(dataset="mnist-5k", epochs=6, patience=10, batch_size=32,
                                 augment=False, out_dir=str(tmp_path / "a")),
                     data=digits, verbose=0)
    folder = tmp_path / "b"
    for epochs_done, sig in ((1, signal.SIGINT), (3, signal.SIGKILL)):
        proc = start_cli("train", *args, "--out-dir", str(folder), *(["--resume"] if epochs_done > 1 else []))
        _wait_for_epochs(proc, folder, epochs_done)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "Traceback" not in stderr, stderr
            assert stderr.strip().splitlines()[-1].endswith("run the same command with --resume to continue")
        assert not (folder / "model.keras").exists()
    proc = run_cli("train", *args, "--out-dir", str(folder), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("resumed after epoch ")
    for a, b in zip(_weights(tmp_path / "a"), _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert json.loads((folder / "metrics.json").read_text())["history"] == straight.metrics["history"]


def _wait_for_epochs(proc: subprocess.Popen, folder: Path, epochs: int, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if state.newest_epoch(folder) >= epochs:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {epochs} finished epochs before the run ended: {proc.communicate()[1][-500:]}")


def test_same_seed_same_weights_other_seed_differs(tmp_path, digits):
    cfg = dict(dataset="mnist-5k", epochs=1)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train(TrainConfig(out_dir=str(tmp_path / name), seed=seed, **cfg), data=digits, verbose=0)
    a, b, c = (_weights(tmp_path / n) for n in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kw,message", [
    (dict(arch="cnn"), "unknown architecture 'cnn'"),
    (dict(arch="linear", hidden=(64,)), "no hidden layers"),
    (dict(hidden=(0,)), "must be positive"),
    (dict(epochs=0), "epochs: must be at least 1"),
    (dict(patience=-1), "patience: must be 0 or more"),
    (dict(learning_rate=float("nan")), "learning_rate: must be a positive number, got nan"),
    (dict(learning_rate=float("inf")), "learning_rate: must be a positive number, got inf"),
    (dict(learning_rate=0.0), "learning_rate: must be a positive number, got 0"),
    (dict(learning_rate=-1e-3), "learning_rate: must be a positive number, got -0.001"),
    (dict(seed=-1), "seed: must be between 0 and"),
])
def test_bad_settings(tmp_path, digits, kw, message):
    with pytest.raises(MnistEdgeError, match=message):
        train(TrainConfig(dataset="mnist-5k", out_dir=str(tmp_path), **kw), data=digits, verbose=0)


def test_linear_and_deep_architectures(tmp_path, digits):
    plain = dict(dataset="mnist-5k", augment=False)
    linear = train(TrainConfig(arch="linear", epochs=5, out_dir=str(tmp_path / "l"), **plain),
                   data=digits, verbose=0)
    deep = train(TrainConfig(arch="deep", epochs=2, out_dir=str(tmp_path / "d"), **plain),
                 data=digits, verbose=0)
    assert linear.metrics["parameters"] == 784 * 10 + 10 and linear.test_accuracy > 0.8
    assert deep.metrics["hidden"] == [512, 256, 128] and deep.test_accuracy > 0.8


def test_cli_refuses_a_learning_rate_that_is_not_a_positive_number(tmp_path):
    for value in ("nan", "inf", "0"):
        proc = run_cli("train", "--dataset", "mnist-5k", "--learning-rate", value,
                       "--out-dir", str(tmp_path))
        assert_one_line_error(proc, f"--learning-rate: must be a positive number, got {value}", code=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content,problem", [
    ("[1, 2]", "expected a JSON object, found an array"),
    ('"mnist"', "expected a JSON object, found a string"),
    ('{"dataset": 5}', "'dataset' should be a string, found a number"),
    ('{"config": "x"}', "'config' should be an object, found a string"),
    ('{"config": {"data_dir": []}}', "'config.data_dir' should be a string or null"),
    ('{"history": [1]}', "'history' should be an object, found an array"),
    ('{"history": {"loss": "0.1"}}', "'history.loss' should be an array of numbers"),
    ('{"history": {"loss": [0.1, null]}}', "'history.loss' should be an array of numbers"),
    ('{"dataset": "mnist-5k", "class_names": [0, 1]}', "'class_names' should be an array of strings"),
    ("{", "unreadable"),
])
def test_metrics_json_of_the_wrong_type_or_shape_is_one_line(tmp_path, content, problem):
    from export import ExportConfig, export_models

    (tmp_path / "model.keras").write_bytes(b"not read: metrics.json is checked first")
    (tmp_path / "metrics.json").write_text(content)
    with pytest.raises(MnistEdgeError, match=re.escape(problem)) as caught:
        read_metrics(tmp_path)
    assert "\n" not in str(caught.value)
    with pytest.raises(MnistEdgeError, match=re.escape(problem)):
        export_models(ExportConfig(model_dir=tmp_path))


def test_cli_export_with_a_damaged_metrics_json_is_one_line(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not read")
    (tmp_path / "metrics.json").write_text('{"dataset": ["mnist"]}')
    proc = run_cli("export", "--model-dir", str(tmp_path))
    assert_one_line_error(proc, "metrics.json: 'dataset' should be a string, found an array; "
                                "train again")


def test_a_diverging_run_saves_nothing_and_says_so(tmp_path, digits):
    """--learning-rate 1e30 turns the loss to NaN: an error naming the setting, not a 10% model and exit 0."""
    folder = tmp_path / "run"
    with pytest.raises(MnistEdgeError, match="training diverged: the loss became nan in epoch 1.*--learning-rate"):
        train(TrainConfig(dataset="mnist-5k", epochs=2, learning_rate=1e30, out_dir=str(folder)),
              data=digits, verbose=0)
    assert not (folder / "model.keras").exists() and list(folder.iterdir()) == []
