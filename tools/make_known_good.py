"""Write ``runtime/inference/known_good.tflite``: a 1 KB float model every TFLite runtime since 2.x loads.

The crash probe runs it when the interpreter dies on a user's model: if it dies on this
one too, the environment is at fault (an emulator's CPU detection, a broken build), not
the user's file. Regenerate (TensorFlow needed) with ``python tools/make_known_good.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "runtime" / "inference" / "known_good.tflite"


def build() -> bytes:
    """A Dense(4 -> 2, softmax) model with fixed weights, converted with no optimization."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    inputs = keras.Input(shape=(4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="y")(inputs))
    model.layers[-1].set_weights([np.array([[1, -1], [0.5, 0.5], [-1, 1], [0, 0]], np.float32),
                                  np.zeros(2, np.float32)])
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


if __name__ == "__main__":
    OUT.write_bytes(build())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)
