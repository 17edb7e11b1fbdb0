"""The graph each variant is converted from: nothing on the device that the math does not need.

Keras builds our classifiers as ``Rescaling(1/255) -> Flatten -> Dense ...``, which the
converter turns into ``MUL`` (the ÷255) and ``SHAPE, STRIDED_SLICE, PACK, RESHAPE`` (Flatten
works out the batch size at run time). Neither is needed:

- **Flatten** becomes one ``RESHAPE`` to the constant shape ``[-1, 784]``, in every variant.
- **÷255**, in the integer variants, moves into the input tensor's quantization: the graph
  takes pixels / 255 (0..1), calibrated on the same, so the converter gives the input a
  scale of 1/255. A uint8 input then holds the raw pixel itself (zero point 0), an int8 one
  the pixel − 128 (zero point −128), and no operator divides anything. The float variants
  keep the ``MUL``: their input is the raw pixel as a float.

The device still feeds raw pixels 0..255; ``runtime.inference.quant.pixel_quantization``
reads from the input tensor which of the two forms a model takes. Bench figures:
bench/results-targets.md.
"""

from __future__ import annotations

from runtime.common.convention import INPUT_SHAPE, PIXEL_MAX

FLAT = INPUT_SHAPE[0] * INPUT_SHAPE[1] * INPUT_SHAPE[2]  # 784 inputs of the first Dense layer


def inference_graph(model, normalized_input: bool):
    """``model`` rebuilt for conversion, with the same layers (and weights).

    Args:
        model: a Keras 3 classifier from ``training.models`` (optionally with the logit floor
            of ``export.floor``): ``Rescaling(1/255)``, ``Flatten``, then Dense/Dropout/Softmax.
        normalized_input: drop the ``Rescaling``, so the graph takes pixels / 255 (the integer
            variants); else keep it (raw pixels, the float variants).

    Returns:
        ``(graph, calibration_scale)``: the Keras model to convert, and what raw calibration
        pixels must be multiplied by to be its input (1/255, or 1.0). A model of another shape
        (no leading ``Rescaling(1/255)`` and ``Flatten``) comes back unchanged, with 1.0.
    """
    from training.tf import import_keras

    keras = import_keras()
    layers = model.layers[1:] if isinstance(model.layers[0], keras.layers.InputLayer) else model.layers
    if len(layers) < 3 or not _is_normalize(keras, layers[0]) or not isinstance(layers[1], keras.layers.Flatten):
        return model, 1.0
    pixels = keras.Input(shape=INPUT_SHAPE, name=model.inputs[0].name)
    x = pixels if normalized_input else layers[0](pixels)
    # A constant -1 batch: one RESHAPE, where Flatten's run-time batch size costs four operators.
    x = keras.layers.Lambda(lambda t: keras.ops.reshape(t, (-1, FLAT)), name="flatten_static")(x)
    for layer in layers[2:]:
        x = layer(x)
    graph = keras.Model(pixels, x, name=model.name)
    return graph, (1.0 / PIXEL_MAX if normalized_input else 1.0)


def _is_normalize(keras, layer) -> bool:
    return (isinstance(layer, keras.layers.Rescaling) and float(layer.offset) == 0.0
            and abs(float(layer.scale) * PIXEL_MAX - 1.0) < 1e-6)
