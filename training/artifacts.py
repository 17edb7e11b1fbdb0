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
    .train-state.{0,1}.npz the state of a training run in progress (training/state.py)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

from runtime.common.convention import LABELS_FILE
from runtime.common.errors import MnistEdgeError
from runtime.common.files import atomic_write_text

DEFAULT_ROOT = Path("artifacts")
KERAS_MODEL = "model.keras"
METRICS = "metrics.json"
CALIBRATION = "calibration.npz"
VERIFICATION = "verification.json"


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
        MnistEdgeError: it exists but is unreadable, not JSON, or a field other stages
            read back has the wrong type or shape.
    """
    path = Path(folder) / METRICS
    if not path.is_file():
        return {}
    metrics = read_json(path)
    problem = _metrics_problem(metrics)
    if problem:
        raise MnistEdgeError(f"{path}: {problem}; train again to rewrite it")
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


_FIELDS = {"dataset": str, "source": str, "arch": str, "tensorflow": str, "config": dict,
           "history": dict, "class_names": list}
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true/false",
               int: "a number", float: "a number", type(None): "null"}


def _metrics_problem(metrics) -> str | None:
    if not isinstance(metrics, dict):
        return f"expected a JSON object, found {_JSON_TYPES.get(type(metrics), 'something else')}"
    for key, kind in _FIELDS.items():
        if key in metrics and not isinstance(metrics[key], kind):
            return f"{key!r} should be {_JSON_TYPES[kind]}, found {_JSON_TYPES[type(metrics[key])]}"
    data_dir = metrics.get("config", {}).get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        return f"'config.data_dir' should be a string or null, found {_JSON_TYPES[type(data_dir)]}"
    if not all(isinstance(n, str) for n in metrics.get("class_names", [])):
        return "'class_names' should be an array of strings"
    for name, values in metrics.get("history", {}).items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            return f"'history.{name}' should be an array of numbers"
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextlib.contextmanager
def lock_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while the block runs (one training run per folder).

    The lock is ``flock`` on the folder itself, so no lock file is left behind, and the
    kernel releases it when the process ends, however it ends. A file system without
    ``flock`` (some network mounts) runs unlocked.

    Raises:
        MnistEdgeError: another process holds the lock.
    """
    import fcntl

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise MnistEdgeError(f"another training run is using {folder}; wait for it to end, "
                                     "or train into another --out-dir") from None
        yield
    finally:
        os.close(fd)


def write_labels(folder: Path, names: list[str]) -> None:
    """Write ``labels.txt`` into ``folder``, atomically."""
    atomic_write_text(folder / LABELS_FILE, "\n".join(names) + "\n")
