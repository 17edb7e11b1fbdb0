"""The one input convention and the names every stage agrees on.

Every model takes raw pixel intensity 0..255, bright ink on a dark background
(MNIST's own form), shape [N, 28, 28, 1]. The ÷255 travels with the model: inside
the Keras graph for float models, in the input tensor's quantization for integer
ones (scale 1/255, so a uint8 input holds the raw pixel itself; see export/graph.py).
The calibration set, the test split and camera frames all reach a model in
this one form.
"""

from __future__ import annotations

from enum import Enum

MNIST_SIDE = 28  # pixels, the model's input height and width
INPUT_SHAPE = (MNIST_SIDE, MNIST_SIDE, 1)  # one image, without the batch dimension
PIXEL_MAX = 255  # raw intensity of full ink; the model divides by it
INPUT_CONVENTION = (
    "raw pixel intensity 0..255, bright ink on a dark background (MNIST form), 28x28, "
    "one channel; the model normalizes inside"
)

LABELS_FILE = "labels.txt"  # class names, one per line (TFLite Support's associated-file name)
METADATA_FILE = "mnist_edge.json"  # the facts packed into each exported model


class Variant(str, Enum):
    """An exported model variant; its value is the middle of the file name ``model.<value>.tflite``."""

    FLOAT32 = "float32"  # the reference every other variant is verified against
    FLOAT16 = "float16"  # float16 weights, float32 compute
    DYNAMIC = "dynamic"  # int8 weights, float activations; no calibration
    INT8 = "int8"  # full integer, any batch
    INT8_STATIC = "int8-static"  # full integer, batch fixed at 1: Edge TPU compiler, tflite-micro

    @property
    def integer(self) -> bool:
        """Full-integer: needs a representative set and passes the quality gate."""
        return self in (Variant.INT8, Variant.INT8_STATIC)

    @property
    def file_name(self) -> str:
        """``model.<variant>.tflite``."""
        return f"model.{self.value}.tflite"

    def __str__(self) -> str:
        return self.value
