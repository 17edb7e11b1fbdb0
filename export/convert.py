"""Keras model -> TFLite flatbuffers (TensorFlow imported only here, inside the functions)."""

from __future__ import annotations

import tempfile
from enum import Enum

import numpy as np

from calibration import representative_dataset
from runtime.errors import ModelError, first_line


class IOType(str, Enum):
    """Type of the int8 model's input and output tensors."""

    UINT8 = "uint8"  # the TFLite tutorials' and Coral's choice; raw pixels pass through unchanged
    INT8 = "int8"
    FLOAT32 = "float32"  # quantize/dequantize ops inside the model


def saved_model(model, folder: str) -> str:
    """Export a Keras 3 model as a SavedModel into ``folder`` (the converter's supported input)."""
    model.export(folder, format="tf_saved_model", verbose=False)
    return folder


def convert_float32(saved_model_dir: str) -> bytes:
    """Convert a SavedModel to a float32 TFLite flatbuffer."""
    from training.tf import import_tensorflow

    tf = import_tensorflow()
    return _convert(tf.lite.TFLiteConverter.from_saved_model(saved_model_dir))


def convert_int8(saved_model_dir: str, calibration_x: np.ndarray, io: IOType = IOType.UINT8) -> bytes:
    """Convert a SavedModel to a full-integer int8 flatbuffer (integer-only builtin ops).

    Args:
        saved_model_dir: from ``saved_model``.
        calibration_x: [N, 28, 28] raw-pixel representative images (training split).
        io: type of the input and output tensors.

    Returns:
        The flatbuffer bytes.
    """
    from training.tf import import_tensorflow

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(calibration_x)
    # Integer-only kernels: fail the conversion rather than fall back to float ops.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_dtype = {IOType.UINT8: tf.uint8, IOType.INT8: tf.int8, IOType.FLOAT32: tf.float32}[IOType(io)]
    converter.inference_input_type = io_dtype
    converter.inference_output_type = io_dtype
    return _convert(converter)


def convert_keras_model(model, calibration_x: np.ndarray | None, io: IOType = IOType.UINT8) -> dict[str, bytes]:
    """Convert a Keras model to float32 and, given calibration images, int8.

    Returns:
        ``{"float32": bytes, "int8": bytes}`` (no "int8" without calibration images).
    """
    with tempfile.TemporaryDirectory(prefix="mnist-edge-savedmodel-") as folder:
        saved_model(model, folder)
        out = {"float32": convert_float32(folder)}
        if calibration_x is not None:
            out["int8"] = convert_int8(folder, calibration_x, io)
    return out


def _convert(converter) -> bytes:
    from training.tf import captured_native_stderr

    with captured_native_stderr() as native:
        try:
            return converter.convert()
        except Exception as exc:  # noqa: BLE001 - the converter raises many internal types
            error = exc
    # The converter often says what went wrong only on stderr: quote its last error line.
    said = [line for line in native if "error" in line.lower()]
    detail = f" ({said[-1].strip()})" if said else ""
    raise ModelError(f"TFLite conversion failed: {first_line(error)}{detail}") from None
