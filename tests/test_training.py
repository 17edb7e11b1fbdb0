"""Training: determinism, interruption and resume, artifacts left intact."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import MnistEdgeError
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
    (dict(epochs=0), "--epochs must be at least 1"),
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
