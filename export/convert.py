"""Keras model -> TFLite flatbuffers (TensorFlow imported only here, inside the functions)."""

from __future__ import annotations

import shutil
import tempfile
from enum import Enum
from pathlib import Path

import numpy as np

from calibration import representative_dataset
from export.floor import DEFAULT_MARGIN, logit_floor
from export.graph import inference_graph
from runtime.common.convention import Variant
from runtime.common.errors import ModelError, first_line


class IOType(str, Enum):
    """Type of the int8 model's input and output tensors."""

    UINT8 = "uint8"  # the TFLite tutorials' and Coral's choice; raw pixels pass through unchanged
    INT8 = "int8"
    FLOAT32 = "float32"  # quantize/dequantize ops inside the model


SAVEDMODEL_PREFIX = ".mnist-edge-savedmodel-"
STATIC_BATCH = 1  # int8-static: what the Edge TPU compiler and tflite-micro need


def saved_model(model, folder: str, batch: int | None = None) -> str:
    """Export a Keras model as a SavedModel into ``folder`` (the converter's supported input).

    Args:
        model: the Keras 3 model, or the tf_keras one ``export.qat`` fine-tunes.
        folder: where to write it.
        batch: fix the batch dimension to this size (default: dynamic).

    Raises:
        ModelError: it cannot be written (a full disk, say).
    """
    from training.tf import import_tensorflow

    tf = import_tensorflow()
    spec = tf.TensorSpec([batch, *model.inputs[0].shape[1:]], tf.float32, name=model.inputs[0].name)
    try:
        if type(model).__module__.startswith("tf_keras"):  # the QAT model (export.qat) is Keras 2
            signature = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
            tf.saved_model.save(model, folder, signatures=signature)
        else:
            model.export(folder, format="tf_saved_model", verbose=False,
                         input_signature=None if batch is None else [spec])
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises its own types for a full disk, a read-only folder
        raise ModelError(f"{folder}: cannot write the SavedModel the converter reads ({first_line(exc)})") from None
    return folder


def convert(saved_model_dir: str, variant: Variant, calibration_x: np.ndarray | None = None,
            io: IOType = IOType.UINT8, per_channel: bool = False, calibration_scale: float = 1.0) -> bytes:
    """Convert a SavedModel to one TFLite variant.

    Variants:
        float32: no optimization.
        float16: weights stored as float16, computed in float32.
        dynamic: dynamic-range quantization: int8 weights, float activations, no calibration.
        int8: full integer (integer-only builtin ops), any batch.
        int8-static: full integer, for a SavedModel whose batch is fixed (Edge TPU
            compiler, tflite-micro); dense weights always per tensor.

    Args:
        saved_model_dir: from ``saved_model``.
        variant: the variant to write.
        calibration_x: [N, 28, 28] raw-pixel representative images (training split);
            needed by the integer variants.
        io: type of the integer variants' input and output tensors.
        per_channel: int8 dense weights with one scale per output unit (the converter's
            default) instead of one per tensor, which agreed less with float32 in
            bench/results.md and makes the file larger.
        calibration_scale: the graph's input per raw pixel (``export.graph.inference_graph``).

    Returns:
        The flatbuffer bytes.
    """
    from training.tf import import_tensorflow

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    variant = Variant(variant)
    if variant == Variant.FLOAT32:
        return _convert(converter)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == Variant.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    elif variant.integer:
        if calibration_x is None:
            raise ModelError(f"the {variant} variant needs calibration images")
        converter.representative_dataset = representative_dataset(calibration_x, calibration_scale)
        # Integer-only kernels: fail the conversion rather than fall back to float ops.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_dtype = {IOType.UINT8: tf.uint8, IOType.INT8: tf.int8, IOType.FLOAT32: tf.float32}[IOType(io)]
        converter.inference_input_type = io_dtype
        converter.inference_output_type = io_dtype
        # tflite-micro rejects per-channel FULLY_CONNECTED (tflite-micro#2602); so does NNAPI.
        per_tensor = variant == Variant.INT8_STATIC or not per_channel
        converter._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor
    return _convert(converter)


def convert_keras_model(model, variants: tuple[Variant, ...] = (Variant.FLOAT32, Variant.INT8),
                        calibration_x: np.ndarray | None = None,
                        io: IOType = IOType.UINT8, per_channel: bool = False,
                        floor_margin: float | None = DEFAULT_MARGIN,
                        work_dir: str | Path | None = None) -> dict[Variant, bytes]:
    """Convert a Keras model to each of ``variants`` (see ``convert``).

    The integer variants are converted from the model with a logit floor
    (``export.floor``) unless ``floor_margin`` is None; the float ones from the model as is.
    Each graph first goes through ``export.graph.inference_graph``: a static flatten, and
    for the integer variants the ÷255 moved into the input quantization.

    The SavedModels the converter reads are written to a temporary folder inside
    ``work_dir`` (default: the system's), named ``SAVEDMODEL_PREFIX...``: a process
    killed outright leaves it there, where ``remove_stale_savedmodels`` finds it.

    Returns:
        ``{variant: flatbuffer bytes}``.
    """
    rewrite = floor_margin is not None and calibration_x is not None and any(Variant(v).integer for v in variants)
    floored = logit_floor(model, calibration_x, floor_margin)[0] if rewrite else model
    graphs = {integer: inference_graph(floored if integer else model, normalized_input=integer)
              for integer in {Variant(v).integer for v in variants}}
    blobs, saved = {}, {}
    with tempfile.TemporaryDirectory(prefix=SAVEDMODEL_PREFIX, dir=work_dir) as folder:
        for variant in map(Variant, variants):
            source, scale = graphs[variant.integer]
            batch = STATIC_BATCH if variant == Variant.INT8_STATIC else None
            if (id(source), batch) not in saved:  # one SavedModel per (graph, batch) pair
                saved[id(source), batch] = saved_model(source, f"{folder}/{len(saved)}", batch)
            blobs[variant] = convert(saved[id(source), batch], variant, calibration_x, io, per_channel, scale)
    return blobs


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


def remove_stale_savedmodels(folder: str | Path) -> None:
    """Delete the temporary SavedModels an export killed outright (SIGKILL, power loss) left in ``folder``."""
    for stale in Path(folder).glob(SAVEDMODEL_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
