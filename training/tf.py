"""Import TensorFlow and Keras quietly, only inside the stages that need them."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

from runtime.common.errors import MnistEdgeError


def import_tensorflow():
    """Import and return ``tensorflow`` with its C++ info and warning logs silenced.

    Raises:
        MnistEdgeError: TensorFlow is not installed (a device has only the runtime).
    """
    from runtime.common.chatter import quiet_native_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        # TensorFlow's native libraries log through absl before anything can configure it ("All log
        # messages before absl::InitializeLog()", oneDNN and CUDA notices), twice: only --verbose shows them.
        with quiet_native_stderr():
            import tensorflow as tf
    except ImportError:
        raise MnistEdgeError("train, export and demo need TensorFlow, which is not installed here: "
                             "pip install 'mnist-edge[train]' (a device needs only the runtime)") \
            from None

    tf.get_logger().setLevel("ERROR")
    return tf


def import_keras():
    """Import and return ``keras`` (after TensorFlow, its back-end here)."""
    import_tensorflow()
    import keras

    return keras


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Capture what native code (the TFLite converter's C++) writes to file descriptor 2.

    Yields a list that holds the captured lines once the block ends, so a caller can
    keep the terminal clean and still quote the converter's own words in an error.
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())
