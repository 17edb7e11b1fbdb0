"""The device side of mnist-edge: numpy, Pillow and a TFLite interpreter, never TensorFlow.

Typical use on a Raspberry Pi or Coral board::

    from runtime import Classifier, load_digit
    clf = Classifier("model.int8.tflite")
    print(clf.classify(load_digit("digit.png")))

The sub-packages, one per job (see docs/ARCHITECTURE.md):

- ``runtime.common``: errors, atomic files and the input convention, shared by every stage;
- ``runtime.modelfile``: the ``.tflite`` file, read and checked without running it;
- ``runtime.inference``: interpreter back-end, crash probe, Classifier, quantization, evaluation;
- ``runtime.imaging``: image files and pictures into the 28x28 MNIST form;
- ``runtime.streaming``: frame sources, the digit reader, the classify loop, the preview.

The names below are imported on first use, so ``import runtime.common.errors`` (as
training and export do) does not pull in numpy, Pillow or the interpreter.
"""

from __future__ import annotations

import importlib

__version__ = "0.3.0"
_PUBLIC = {
    "Classifier": "runtime.inference.classifier",
    "Prediction": "runtime.inference.classifier",
    "MnistEdgeError": "runtime.common.errors",
    "load_digit": "runtime.imaging.image_files",
    "load_image": "runtime.imaging.image_files",
    "to_mnist": "runtime.imaging.preprocess",
    "find_digits": "runtime.imaging.preprocess",
    "DigitReader": "runtime.streaming.reader",
    "open_source": "runtime.streaming.sources",
    "read_model": "runtime.modelfile.reader",
    "inspect_model": "runtime.modelfile.verdicts",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
