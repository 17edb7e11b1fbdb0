"""Import TensorFlow and Keras quietly, only inside the stages that need them."""

from __future__ import annotations

import os


def import_tensorflow():
    """Import and return ``tensorflow`` with its C++ info and warning logs silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def import_keras():
    """Import and return ``keras`` (after TensorFlow, its back-end here)."""
    import_tensorflow()
    import keras

    return keras
