"""Choose the TFLite interpreter module, in this one place.

Order: ``ai_edge_litert`` (the current LiteRT wheel), ``tflite_runtime`` (older
devices and Coral's stack), and full TensorFlow only when neither is installed.
Set ``MNIST_EDGE_BACKEND`` to one of those names to force a choice (benchmarks
and tests compare back-ends that way).
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

from runtime.errors import BackendError

BACKEND_ENV = "MNIST_EDGE_BACKEND"
BACKENDS = ("ai_edge_litert", "tflite_runtime", "tensorflow")
_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter",
}


@dataclass(frozen=True)
class Backend:
    """An interpreter module: its name, its ``Interpreter`` class and ``load_delegate``."""

    name: str
    interpreter_class: Callable[..., Any]
    load_delegate: Callable[..., Any]


@functools.cache
def get_backend(name: str | None = None) -> Backend:
    """Import the first available interpreter module (or the one named).

    Args:
        name: one of ``BACKENDS``; default: ``$MNIST_EDGE_BACKEND``, else the first
            that imports.

    Returns:
        The chosen Backend.

    Raises:
        BackendError: the named back-end is unknown or not installed, or none is.
    """
    name = name or os.environ.get(BACKEND_ENV) or None
    if name is not None and name not in BACKENDS:
        raise BackendError(f"unknown interpreter back-end {name!r}; choose one of {', '.join(BACKENDS)}")
    for candidate in (name,) if name else BACKENDS:
        try:
            module = importlib.import_module(_MODULES[candidate])
        except ImportError:
            continue
        return Backend(candidate, module.Interpreter, module.load_delegate)
    wanted = name or " / ".join(BACKENDS)
    raise BackendError(
        f"no TFLite interpreter found ({wanted}); install one: "
        'pip install "mnist-edge[litert]" (or "mnist-edge[tflite]" on older devices)'
    )
