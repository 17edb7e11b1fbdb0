"""train --augment: random layers that act while training only and never reach an exported graph.

Resuming an augmented run, and refusing a resume with the other setting: tests/test_resume.py.
"""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

from export import ExportConfig, export_models
from runtime.modelfile.reader import read_model
from training.train import AUGMENT_EPOCHS, AUGMENT_PASSES, AUGMENT_PATIENCE, EPOCHS, PATIENCE, TrainConfig, train

pytestmark = pytest.mark.tensorflow  # trains and exports

VARIANTS = ("float32", "int8", "int8-static")
# What augmentation layers would leave in a graph: random draws, image warps, pooling, convolution.
AUGMENTATION_OPS = re.compile(r"RANDOM|MULTINOMIAL|STATELESS|PROJECTIVE|TRANSFORM|POOL|CONV")


@pytest.fixture(scope="module")
def twins(tmp_path_factory, digits) -> dict:
    """The same small run without and with augmentation, each exported.

    Returns {name: (folder, ExportResult)}; each folder also holds batches.json, the
    training batches of each epoch as a Keras callback counted them.
    """
    import keras

    class Batches(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.counts = []

        def on_epoch_begin(self, epoch, logs=None):
            self.counts.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.counts[-1] += 1

    out = {}
    for name, augment in (("plain", False), ("augment", True)):
        folder = tmp_path_factory.mktemp(name)
        batches = Batches()
        train(
            TrainConfig(
                dataset="mnist-5k", epochs=2, hidden=(16,), augment=augment, out_dir=str(folder)
            ),
            data=digits,
            verbose=0,
            callbacks=[batches],
        )
        (folder / "batches.json").write_text(json.dumps(batches.counts))
        config = ExportConfig(
            model_dir=folder, variants=VARIANTS, max_drop=100.0
        )  # tiny models: no gate
        out[name] = folder, export_models(config, data=digits)
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_exported_graph_has_no_augmentation_ops(twins, variant):
    ops = {
        name: read_model(result.paths[variant]).operator_names
        for name, (_, result) in twins.items()
    }
    assert ops["augment"] == ops["plain"], ops  # the same graph, op for op
    assert not [op for op in ops["augment"] if AUGMENTATION_OPS.search(op)], ops["augment"]
    assert "FULLY_CONNECTED" in ops["augment"]
    assert not read_model(twins["augment"][1].paths[variant]).custom_operators


def test_saved_model_is_the_plain_classifier_and_metrics_say_augmented(twins):
    configs = {}
    for name, (folder, _) in twins.items():
        with zipfile.ZipFile(folder / "model.keras") as archive:
            configs[name] = json.loads(archive.read("config.json"))
            configs[name]["compile_config"]["optimizer"]["config"].pop(
                "name"
            )  # adam, adam_1: per process
    assert configs["augment"] == configs["plain"]  # layers, input, compile settings: all the same
    text = json.dumps(configs["augment"])
    assert all(word not in text for word in ("Random", "augment", "Stroke", "StretchInk"))
    for name, (folder, _) in twins.items():
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["augment"] is metrics["config"]["augment"] is (name == "augment")
        assert metrics["epochs"] == 2
    histories = [json.loads((f / "metrics.json").read_text())["history"] for f, _ in twins.values()]
    assert histories[0]["loss"] != histories[1]["loss"]  # the augmented run saw other images


def test_an_augmented_epoch_shows_every_digit_several_times(twins):
    metrics, batches = ({name: json.loads((folder / file).read_text()) for name, (folder, _) in twins.items()}
                        for file in ("metrics.json", "batches.json"))
    assert [m["passes_per_epoch"] for m in metrics.values()] == [1, AUGMENT_PASSES]
    assert AUGMENT_PASSES >= 2
    plain, augmented = metrics["plain"], metrics["augment"]
    assert plain["train_images"] == augmented["train_images"]  # the same digits, none leaked from validation
    assert batches["plain"] == [-(-plain["train_images"] // plain["batch_size"])] * 2
    assert batches["augment"] == [-(-AUGMENT_PASSES * plain["train_images"] // plain["batch_size"])] * 2


def test_augmentation_acts_in_training_only_and_follows_its_seed(digits):
    from training import augment

    x = digits.x_train[:64, ..., None].astype(np.float32)
    layers = augment.augmenter(seed=0)
    assert np.array_equal(np.asarray(layers(x, training=False)), x)
    first, again = (np.asarray(layers(x, training=True)) for _ in range(2))
    assert (
        np.abs(first - x).mean() > 10 and np.abs(again - first).mean() > 10
    )  # new draws each batch
    assert first.min() >= 0 and np.allclose(
        first.max(axis=(1, 2, 3)), 255, atol=0.5
    )  # raw pixels, stretched
    replay = np.asarray(augment.augmenter(seed=0)(x, training=True))
    np.testing.assert_array_equal(replay, first)  # a seed is a sequence of transformations
    other = np.asarray(augment.augmenter(seed=1)(x, training=True))
    assert np.abs(other - first).mean() > 10


@pytest.mark.parametrize("factor,grows", [((1.0, 1.0), True), ((-1.0, -1.0), False)])
def test_stroke_layer_thickens_and_thins(digits, factor, grows):
    from training.augment import RandomStroke

    x = digits.x_train[:32, ..., None].astype(np.float32)
    out = np.asarray(RandomStroke(factor, seed=0)(x, training=True))
    ink_before, ink_after = (np.sum(a > 127, axis=(1, 2, 3)) for a in (x, out))
    assert np.all(ink_after > ink_before) if grows else np.all(ink_after < ink_before)
    with pytest.raises(ValueError, match="factor must be"):
        RandomStroke((0.5, -0.5))


@pytest.mark.parametrize(
    "dataset,augment,epochs,patience,expected",
    [
        ("mnist", None, None, None, (True, AUGMENT_EPOCHS, AUGMENT_PATIENCE)),
        ("mnist-5k", None, None, None, (True, AUGMENT_EPOCHS, AUGMENT_PATIENCE)),
        ("fashion-mnist", None, None, None, (False, EPOCHS, PATIENCE)),
        ("mnist-5k", False, None, None, (False, EPOCHS, PATIENCE)),
        ("fashion-mnist", True, None, None, (True, AUGMENT_EPOCHS, AUGMENT_PATIENCE)),
        ("mnist", None, 3, 2, (True, 3, 2)),
    ],
)
def test_augmented_by_default_for_digits_with_more_epochs_and_patience(dataset, augment, epochs, patience,
                                                                       expected):
    settled = TrainConfig(dataset=dataset, augment=augment, epochs=epochs, patience=patience).settled()
    assert (settled.augment, settled.epochs, settled.patience) == expected
