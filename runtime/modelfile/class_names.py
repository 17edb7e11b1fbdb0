"""Class names: embedded in the model (see ``modelfile``), or beside it as ``labels.txt`` (one per line)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runtime.common.convention import LABELS_FILE
from runtime.common.errors import ModelError
from runtime.common.files import open_regular

MAX_LABELS_BYTES = 1 << 20  # class names of a digit classifier fit in far less


def class_names_path(model_path: str | os.PathLike) -> Path:
    """The ``labels.txt`` that belongs to a model file (in the same folder)."""
    return Path(model_path).with_name(LABELS_FILE)


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Read class names, one per line, ignoring a trailing empty line.

    Raises:
        ModelError: the file cannot be read (or is not a regular file), is larger than
            ``MAX_LABELS_BYTES``, or holds no names.
    """
    with open_regular(path, ModelError, "a labels file, one class name per line") as f:
        data = f.read(MAX_LABELS_BYTES + 1)
    if len(data) > MAX_LABELS_BYTES:
        raise ModelError(f"{path}: more than {MAX_LABELS_BYTES >> 10} KiB; not a labels file")
    try:
        names = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: cannot read class names ({exc})") from None
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ModelError(f"{path}: the labels file is empty")
    return names


@dataclass(frozen=True)
class ClassNames:
    """A model's class names and where they came from.

    Attributes:
        names: one per output.
        source: "embedded" (inside the model), "labels.txt" (beside it) or "class indices".
        problem: why the model's own embedded labels were not used, when it carried
            some that are damaged or do not fit; None otherwise.
    """

    names: list[str]
    source: str
    problem: str | None = None


def class_names_for_model(model_path: str | os.PathLike, num_classes: int, embedded: list | None = None) -> list[str]:
    """Class names for a model: those embedded in it, else its ``labels.txt``, else "0", "1", ...

    Args:
        model_path: the model file.
        num_classes: the model's outputs.
        embedded: the class names in the model's own metadata, if any (ignored unless
            they are ``num_classes`` strings).

    Raises:
        ModelError: the labels file disagrees with the model's number of classes.
    """
    return find_class_names(model_path, num_classes, embedded).names


def find_class_names(model_path: str | os.PathLike, num_classes: int, embedded: list | None = None,
                     problem: str | None = None) -> ClassNames:
    """``class_names_for_model``, saying where the names came from and why embedded ones were not.

    Args:
        problem: why the model's appended labels could not be read (``ModelInfo.metadata_problem``).

    Raises:
        ModelError: the labels file disagrees with the model's number of classes.
    """
    if isinstance(embedded, list) and len(embedded) == num_classes and all(isinstance(n, str) for n in embedded):
        return ClassNames(list(embedded), "embedded")
    if embedded is not None and problem is None:
        count = len(embedded) if isinstance(embedded, list) else "no list of"
        problem = f"its embedded labels name {count} classes, but it has {num_classes} outputs"
    path = class_names_path(model_path)
    if not path.exists():
        return ClassNames([str(i) for i in range(num_classes)], "class indices", problem)
    names = read_class_names(path)
    if len(names) != num_classes:
        raise ModelError(f"{path} names {len(names)} classes but the model has {num_classes} outputs")
    return ClassNames(names, LABELS_FILE, problem)
