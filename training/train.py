"""Train a classifier and save it with its labels and metrics."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from runtime.common.errors import ConfigError, check_seed
from runtime.common.files import atomic_path
from training import artifacts, resume
from training.datasets import Dataset, load_dataset, stratified_indices
from training.models import build_model, hidden_widths

VALIDATION_FRACTION = 0.1  # of the training split; the test split is never used for model selection


@dataclass
class TrainConfig:
    """Settings of one training run (all saved in metrics.json)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    arch: str = "dense"
    hidden: tuple[int, ...] | None = None
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 3  # epochs without validation-loss improvement before stopping
    seed: int = 0
    out_dir: str | None = None  # default: artifacts/<dataset>
    resume: bool = False

    @property
    def folder(self) -> Path:
        """Where the artifacts go."""
        return Path(self.out_dir) if self.out_dir else artifacts.default_dir(self.dataset)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    model_path: Path
    metrics: dict = field(repr=False)

    @property
    def test_accuracy(self) -> float:
        """Accuracy of the Keras model on the test split (0..1)."""
        return self.metrics["test_accuracy"]


def train(config: TrainConfig, data: Dataset | None = None, verbose: int | str = "auto",
          callbacks: list | None = None) -> TrainResult:
    """Train, evaluate on the test split, and write model.keras, labels.txt and metrics.json.

    Args:
        config: the run's settings.
        data: an already loaded dataset (default: load ``config.dataset``).
        verbose: Keras progress (0 silent, 1 progress bar, 2 one line per epoch).
        callbacks: extra Keras callbacks (TensorBoard, custom logging, ...).

    Returns:
        The TrainResult. Nothing in the folder changes unless training finished.

    Raises:
        ConfigError: bad settings.
        MnistEdgeError: the dataset cannot be loaded.
    """
    _check(config)
    data = data or load_dataset(config.dataset, config.data_dir)
    from training.tf import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()

    folder = config.folder
    folder.mkdir(parents=True, exist_ok=True)
    history_csv = folder / artifacts.TRAIN_HISTORY
    if not config.resume:
        resume.clear(folder)

    val = stratified_indices(data.y_train, round(len(data.y_train) * VALIDATION_FRACTION), config.seed)
    fit_mask = np.ones(len(data.y_train), bool)
    fit_mask[val] = False
    model = build_model(config.arch, data.num_classes, config.hidden)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Per-epoch log, early stopping and backup, all resumable: --resume continues to the same result.
    callbacks = [*resume.callbacks(keras, folder, config.patience), *(callbacks or [])]
    start = time.perf_counter()
    model.fit(
        _images(data.x_train[fit_mask]), data.y_train[fit_mask],
        validation_data=(_images(data.x_train[val]), data.y_train[val]),
        epochs=config.epochs, batch_size=config.batch_size, callbacks=callbacks, verbose=verbose,
    )
    seconds = time.perf_counter() - start
    _, val_acc = model.evaluate(_images(data.x_train[val]), data.y_train[val], verbose=0)
    _, test_acc = model.evaluate(_images(data.x_test), data.y_test, verbose=0)
    history = resume.read_history(history_csv)

    metrics = {
        "dataset": data.name, "source": data.source, "arch": config.arch,
        "hidden": list(hidden_widths(config.arch, config.hidden)),
        "parameters": int(model.count_params()), "seed": config.seed,
        "epochs": config.epochs, "epochs_run": len(history.get("loss", [])),
        "batch_size": config.batch_size, "learning_rate": config.learning_rate,
        "train_images": int(fit_mask.sum()), "validation_images": len(val), "test_images": len(data.y_test),
        "val_accuracy": float(val_acc), "test_accuracy": float(test_acc), "train_seconds": round(seconds, 2),
        "history": history,
        "class_names": data.class_names, "tensorflow": tf.__version__, "keras": keras.__version__,
        "config": {k: v for k, v in asdict(config).items() if k not in ("out_dir", "resume")},
    }
    model_path = folder / artifacts.KERAS_MODEL
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    artifacts.write_labels(folder, data.class_names)
    artifacts.write_json(folder / artifacts.METRICS, metrics)
    resume.clear(folder)
    return TrainResult(model_path, metrics)


def _images(x: np.ndarray) -> np.ndarray:
    """[N,28,28] uint8 -> [N,28,28,1] float32 raw pixels, the model's input form."""
    return x[..., None].astype(np.float32)


def _check(config: TrainConfig) -> None:
    hidden_widths(config.arch, config.hidden)
    check_seed(config.seed)
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise ConfigError(name, f"must be at least 1, got {getattr(config, name)}")
    if config.patience < 0:
        raise ConfigError("patience", f"must be 0 or more, got {config.patience}")
    if not config.learning_rate > 0 or not math.isfinite(config.learning_rate):
        raise ConfigError("learning_rate", f"must be a positive number, got {config.learning_rate}")
