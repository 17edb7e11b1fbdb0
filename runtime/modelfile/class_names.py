"""Class names: embedded in the model (see ``modelfile``), or beside it as ``labels.txt`` (one per line)."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.common.convention import LABELS_FILE
from runtime.common.errors import ModelError


def class_names_path(model_path: str | os.PathLike) -> Path:
    """The ``labels.txt`` that belongs to a model file (in the same folder)."""
    return Path(model_path).with_name(LABELS_FILE)


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Read class names, one per line, ignoring a trailing empty line.

    Raises:
        ModelError: the file cannot be read or holds no names.
    """
    try:
        names = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read class names ({exc})") from None
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ModelError(f"{path}: the labels file is empty")
    return names


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
    if isinstance(embedded, list) and len(embedded) == num_classes and all(isinstance(n, str) for n in embedded):
        return list(embedded)
    path = class_names_path(model_path)
    if not path.exists():
        return [str(i) for i in range(num_classes)]
    names = read_class_names(path)
    if len(names) != num_classes:
        raise ModelError(f"{path} names {len(names)} classes but the model has {num_classes} outputs")
    return names
