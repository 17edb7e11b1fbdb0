"""Choose the TFLite interpreter module, in this one place.

Order: ``ai_edge_litert`` (the current LiteRT wheel), ``tflite_runtime`` (older
devices and Coral's stack), and full TensorFlow only when neither is installed.
Set ``MNIST_EDGE_BACKEND`` to one of those names to force a choice (benchmarks
and tests compare back-ends that way).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.common.errors import BackendError

BACKEND_ENV = "MNIST_EDGE_BACKEND"
# The Edge TPU runtime library, by platform (as pycoral names it).
EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
EDGETPU_INSTALL = ("install the Edge TPU runtime: sudo apt-get install libedgetpu1-std "
                   "(from Coral's apt repository, packages.cloud.google.com/apt coral-edgetpu-stable)")
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
    version: str = "unknown"  # the distribution's version, e.g. "2.3.0"


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
        return Backend(candidate, module.Interpreter, module.load_delegate, _version(candidate))
    wanted = name or " / ".join(BACKENDS)
    raise BackendError(
        f"no TFLite interpreter found ({wanted}); install one: "
        'pip install "mnist-edge[litert]" (or "mnist-edge[tflite]" on older devices)'
    )


def _version(name: str) -> str:
    """The back-end's version from its top-level module (importlib.metadata costs ~40 ms on a cold start)."""
    module = importlib.import_module(name)
    return str(getattr(module, "__version__", None) or "unknown")


def load_delegate(backend: Backend, delegate: str):
    """Load a delegate through the back-end's own ``load_delegate``.

    Args:
        backend: the chosen Backend.
        delegate: "edgetpu" for Coral's runtime library, else a delegate library path.

    Raises:
        BackendError: the library is not installed, or it is but cannot start
            (for the Edge TPU: no device plugged in, or no permission to use it).
    """
    library = EDGETPU_LIBRARY.get(platform.system(), EDGETPU_LIBRARY["Linux"]) if delegate == "edgetpu" else delegate
    try:
        ctypes.CDLL(library)
    except (OSError, ValueError):  # ValueError: dlopen's message quoting a name that is not UTF-8
        hint = EDGETPU_INSTALL if delegate == "edgetpu" else "check the path"
        raise BackendError(f"delegate library {library} not found: {hint}") from None
    try:
        return backend.load_delegate(library)
    except (ValueError, RuntimeError, OSError) as exc:
        what = "no Edge TPU found (plug in the Coral device, or check its USB/PCIe permissions)" \
            if delegate == "edgetpu" else "it failed to start"
        raise BackendError(f"delegate {library} loaded but {what}: {str(exc).strip() or type(exc).__name__}") from None
