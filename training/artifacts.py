"""The artifacts folder shared by training, export and evaluation.

Layout of ``artifacts/<dataset>/``::

    model.keras            trained Keras model (raw pixels in, probabilities out)
    labels.txt             class names, one per line (also read by the runtime)
    metrics.json           training history, accuracies, data source, seed, settings
    calibration.npz        the representative set the int8 export used
    model.float32.tflite   exports, each with labels.txt and mnist_edge.json appended (one file to copy)
    model.int8.tflite
    model.<variant>.tflite float16, dynamic, int8-static (export --all / --edgetpu / --c-array)
    model.int8-static_edgetpu.tflite   edgetpu_compiler's output, when it ran
    model_data.h, .cc      the int8-static model as a C array (export --c-array)
    verification.json      every variant against float32 on the test split
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from runtime.common.convention import LABELS_FILE
from runtime.common.errors import MnistEdgeError
from runtime.common.files import atomic_write_text

DEFAULT_ROOT = Path("artifacts")
KERAS_MODEL = "model.keras"
METRICS = "metrics.json"
CALIBRATION = "calibration.npz"
VERIFICATION = "verification.json"
TRAIN_BACKUP = ".train-backup"  # Keras BackupAndRestore state of an interrupted run
TRAIN_HISTORY = ".train-history.csv"  # per-epoch metrics of the run in progress


def default_dir(dataset: str) -> Path:
    """``artifacts/<dataset>``."""
    return DEFAULT_ROOT / dataset


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON artifact.

    Raises:
        MnistEdgeError: missing or not valid JSON.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MnistEdgeError(f"{path}: not found") from None
    except (OSError, ValueError) as exc:
        raise MnistEdgeError(f"{path}: unreadable ({exc})") from None


def read_metrics(folder: str | os.PathLike) -> dict:
    """``metrics.json`` of a training folder, or {} when there is none.

    Raises:
        MnistEdgeError: it exists but is unreadable or not a JSON object.
    """
    path = Path(folder) / METRICS
    if not path.is_file():
        return {}
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise MnistEdgeError(f"{path}: expected a JSON object, found {type(metrics).__name__}: train again")
    return metrics


def recorded_dataset(metrics: dict, facts: dict | None = None) -> tuple[str | None, str | None]:
    """The dataset a model was trained on, and the folder training read it from.

    The one place this is looked up: the facts embedded in an exported model name the
    dataset first (they travel with the file), then ``metrics.json``; the folder comes
    from ``metrics.json`` only (models never record a path). Values of the wrong type
    count as absent: both are read back from files a user may have edited.

    Returns:
        (dataset name or None, data folder or None).
    """
    name = (facts or {}).get("dataset")
    if not isinstance(name, str) or not name:
        name = metrics.get("dataset") if isinstance(metrics.get("dataset"), str) else None
    config = metrics.get("config") if isinstance(metrics.get("config"), dict) else {}
    data_dir = config.get("data_dir") if isinstance(config.get("data_dir"), str) else None
    return name, data_dir


def write_labels(folder: Path, names: list[str]) -> None:
    """Write ``labels.txt`` into ``folder``, atomically."""
    atomic_write_text(folder / LABELS_FILE, "\n".join(names) + "\n")
