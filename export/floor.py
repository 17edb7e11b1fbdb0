"""Logit floor: a float-equivalent rewrite that makes the int8 model agree with float32 more often.

Measured (bench/results.md): most int8-vs-float32 disagreements of the dense
classifier come from one tensor, the final layer's logits. Calibration sets its
int8 range from the lowest logit to the highest, about -25..+20 on Fashion-MNIST,
so one step is 0.17 and two close top classes round to the same value. But only
logits near the top matter: a class more than ln(512) ~ 6.2 below the top one has
probability under 1/512, which the uint8 softmax output rounds to 0 anyway.

So, for the integer variants only, the final ``Dense(softmax)`` becomes
``Dense(relu)`` with its bias lowered by a floor ``F`` and then ``Softmax``.
``softmax(relu(z - F)) == softmax(max(z, F))``: every class at least
``margin`` below the lowest top logit seen in calibration keeps a probability
under ``exp(-margin)``, and the quantized range shrinks to ``0..max(z) - F``.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MARGIN = 8.0  # exp(-8) = 0.0003, below the uint8 output's 1/256 step


def logit_floor(model, calibration_x: np.ndarray, margin: float = DEFAULT_MARGIN):
    """``model`` with its softmax layer rewritten as described above, and the floor used.

    Args:
        model: a Keras classifier whose last layer is ``Dense(activation="softmax")``.
        calibration_x: [N, 28, 28] raw-pixel representative images (training split).
        margin: how far below the lowest calibration top logit the floor sits.

    Returns:
        ``(new_model, floor)``; ``(model, None)`` when the last layer is not a
        softmax Dense (nothing to rewrite).
    """
    from training.tf import import_keras

    keras = import_keras()
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.activation is not keras.activations.softmax:
        return model, None
    kernel, bias = last.get_weights()
    features = keras.Model(model.inputs, last.input)
    x = calibration_x.reshape(len(calibration_x), *model.inputs[0].shape[1:]).astype(np.float32)
    logits = features.predict(x, verbose=0) @ kernel + bias
    floor = float(logits.max(axis=1).min()) - margin

    shifted = keras.layers.Dense(last.units, activation="relu", name=f"{last.name}_floored")
    outputs = keras.layers.Softmax(name=last.name)(shifted(last.input))
    rewritten = keras.Model(model.inputs, outputs, name=model.name)
    shifted.set_weights([kernel, bias - floor])
    return rewritten, floor
