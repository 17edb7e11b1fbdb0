"""Training: determinism, interruption and resume, artifacts left intact."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from runtime.common.errors import MnistEdgeError
from tests.helpers import run_cli, start_cli
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
    return TrainConfig(dataset="mnist-5k", epochs=4, patience=10, out_dir=str(folder), **kw)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, digits):
    straight = train(_config(tmp_path / "a"), data=digits, verbose=0)

    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"the previous good model")
    with pytest.raises(KeyboardInterrupt):
        train(_config(folder), data=digits, verbose=0, callbacks=[_Interrupt(at_epoch=1)])
    assert (folder / "model.keras").read_bytes() == b"the previous good model"  # untouched by Ctrl-C

    resumed = train(_config(folder, resume=True), data=digits, verbose=0)
    for a, b in zip(_weights(tmp_path / "a"), _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert resumed.metrics["epochs_run"] == 4
    assert resumed.metrics["history"]["loss"] == pytest.approx(straight.metrics["history"]["loss"])
    assert not (folder / ".train-backup").exists() and not (folder / ".train-history.csv").exists()


def test_resume_after_the_best_epoch_stops_and_restores_like_a_straight_run(tmp_path, digits):
    """Early stopping's state (best loss, patience count, best weights) survives the interruption."""
    cfg = dict(dataset="mnist-5k", epochs=40, patience=2, learning_rate=0.01)
    straight = train(TrainConfig(out_dir=str(tmp_path / "a"), **cfg), data=digits, verbose=0)
    losses = straight.metrics["history"]["val_loss"]
    best = int(np.argmin(losses))
    assert straight.metrics["epochs_run"] == best + 3 < 40  # it stopped early, 2 epochs after its best

    folder = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C one epoch after the best one
        train(TrainConfig(out_dir=str(folder), **cfg), data=digits, verbose=0, callbacks=[_Interrupt(best + 1)])
    resumed = train(TrainConfig(out_dir=str(folder), resume=True, **cfg), data=digits, verbose=0)
    assert resumed.metrics["epochs_run"] == straight.metrics["epochs_run"]
    assert resumed.metrics["history"]["val_loss"] == pytest.approx(losses)
    assert resumed.test_accuracy == straight.test_accuracy
    for a, b in zip(_weights(tmp_path / "a"), _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in folder.iterdir()) == ["labels.txt", "metrics.json", "model.keras"]


def test_cli_run_stopped_by_ctrl_c_then_killed_resumes_to_the_same_model(tmp_path, digits):
    """The real command: Ctrl-C gives one line and exit 130, a SIGKILL loses at most the epoch in flight."""
    args = ["--dataset", "mnist-5k", "--epochs", "6", "--patience", "10", "--quiet"]
    straight = train(TrainConfig(dataset="mnist-5k", epochs=6, patience=10, out_dir=str(tmp_path / "a")),
                     data=digits, verbose=0)
    folder = tmp_path / "b"
    for epochs_done, sig in ((1, signal.SIGINT), (3, signal.SIGKILL)):
        proc = start_cli("train", *args, "--out-dir", str(folder), *(["--resume"] if epochs_done > 1 else []))
        _wait_for_epochs(proc, folder / ".train-history.csv", epochs_done)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "Traceback" not in stderr, stderr
            assert stderr.strip().splitlines()[-1].endswith("run the same command with --resume to continue")
        assert not (folder / "model.keras").exists()
    assert run_cli("train", *args, "--out-dir", str(folder), "--resume").returncode == 0
    for a, b in zip(_weights(tmp_path / "a"), _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert json.loads((folder / "metrics.json").read_text())["history"] == straight.metrics["history"]


def _wait_for_epochs(proc: subprocess.Popen, history: Path, epochs: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) > epochs:  # header + one row per epoch
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
    (dict(learning_rate=float("nan")), "learning_rate: must be a positive number"),
    (dict(seed=-1), "seed: must be between 0 and"),
])
def test_bad_settings(tmp_path, digits, kw, message):
    with pytest.raises(MnistEdgeError, match=message):
        train(TrainConfig(dataset="mnist-5k", out_dir=str(tmp_path), **kw), data=digits, verbose=0)


def test_linear_and_deep_architectures(tmp_path, digits):
    linear = train(TrainConfig(dataset="mnist-5k", arch="linear", epochs=5, out_dir=str(tmp_path / "l")),
                   data=digits, verbose=0)
    deep = train(TrainConfig(dataset="mnist-5k", arch="deep", epochs=2, out_dir=str(tmp_path / "d")),
                 data=digits, verbose=0)
    assert linear.metrics["parameters"] == 784 * 10 + 10 and linear.test_accuracy > 0.8
    assert deep.metrics["hidden"] == [512, 256, 128] and deep.test_accuracy > 0.8
