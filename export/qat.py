"""Quantization-aware training: fine-tune a copy of the model with fake int8 quantization.

For when post-training quantization loses too much: tensorflow-model-optimization
(``tfmot``) inserts fake-quant ops that round weights and activations to int8 in
the forward pass, and a short fine-tune lets the weights adapt to them. tfmot works
on Keras 2 (``tf_keras``), so the trained Keras 3 model is rebuilt there layer by
layer with the same weights. Both are imported only here: ``pip install
'mnist-edge[qat]'``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.common.errors import ModelError
from training.datasets import Dataset, stratified_indices
from training.train import VALIDATION_FRACTION

DEFAULT_EPOCHS = 1
DEFAULT_LEARNING_RATE = 1e-4  # a tenth of training's: adapt to the rounding, do not retrain


@dataclass(frozen=True)
class QatResult:
    """The fine-tuned model, twice: with fake quantization (for int8) and without (for float)."""

    quantized: object  # tf_keras model with fake-quant ops: convert it to the integer variants
    float_model: object  # the Keras 3 model with the fine-tuned weights: convert it to the float variants
    val_accuracy: float  # of ``quantized`` (fake int8) on the validation images


def quantization_aware(model, data: Dataset, epochs: int = DEFAULT_EPOCHS,
                       learning_rate: float = DEFAULT_LEARNING_RATE, seed: int = 0, verbose: int = 0) -> QatResult:
    """Fine-tune ``model`` with fake int8 quantization on the training split.

    The validation images training held out (same fraction and seed) stay out.

    Raises:
        ModelError: tensorflow-model-optimization / tf_keras are not installed, or the
            model has a layer this rebuild does not know.
    """
    try:
        import tensorflow_model_optimization as tfmot
        import tf_keras
    except ImportError:
        raise ModelError("--qat needs tensorflow-model-optimization and tf_keras: "
                         "pip install 'mnist-edge[qat]'") from None
    from training.tf import import_keras

    keras = import_keras()
    tf_keras.utils.set_random_seed(seed)
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    with tfmot.quantization.keras.quantize_scope():
        inputs = tf_keras.Input(model.inputs[0].shape[1:], name="pixels")
        x = inputs
        for layer in model.layers[1:]:
            twin = _keras2_layer(tf_keras, layer)
            x = (annotate(twin) if isinstance(twin, tf_keras.layers.Dense) else twin)(x)
            twin.set_weights(layer.get_weights())
        quantized = tfmot.quantization.keras.quantize_apply(tf_keras.Model(inputs, x))

    val = stratified_indices(data.y_train, round(len(data.y_train) * VALIDATION_FRACTION), seed)
    fit = np.setdiff1d(np.arange(len(data.y_train)), val)
    images = data.x_train[..., None].astype(np.float32)
    quantized.compile(tf_keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", ["accuracy"])
    quantized.fit(images[fit], data.y_train[fit], epochs=epochs, batch_size=128, verbose=verbose)
    _, val_accuracy = quantized.evaluate(images[val], data.y_train[val], verbose=0)

    float_model = keras.models.clone_model(model)
    for layer in float_model.layers:
        wrapper = _find(quantized, layer.name)
        if wrapper is not None and layer.weights:
            tuned = {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in wrapper.weights}
            layer.set_weights([tuned[w.name.split("/")[-1]] for w in layer.weights])
    return QatResult(quantized, float_model, float(val_accuracy))


def _keras2_layer(tf_keras, layer):
    """The tf_keras twin of one Keras 3 layer of our models."""
    kind, L = type(layer).__name__, tf_keras.layers
    if kind == "Dense":
        activation = layer.get_config()["activation"]
        return L.Dense(layer.units, activation=activation if isinstance(activation, str) else "linear",
                       name=layer.name)
    if kind == "Rescaling":
        return L.Rescaling(layer.scale, layer.offset, name=layer.name)
    if kind in ("Flatten", "Dropout"):
        return L.Flatten(name=layer.name) if kind == "Flatten" else L.Dropout(layer.rate, name=layer.name)
    raise ModelError(f"--qat does not know the {kind} layer {layer.name!r}; it handles Rescaling, Flatten, "
                     "Dense and Dropout")


def _find(model, name: str):
    for layer in model.layers:
        if layer.name in (name, f"quant_{name}"):
            return layer
    return None
