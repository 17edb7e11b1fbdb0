"""The Keras classifiers. Every one takes raw pixels 0..255 and normalizes inside the graph."""

from __future__ import annotations

from runtime.common.convention import INPUT_SHAPE
from runtime.common.errors import ConfigError

# Hidden layer widths of each architecture; ``--hidden`` overrides them.
ARCHITECTURES: dict[str, tuple[int, ...]] = {
    "linear": (),  # softmax regression, the classic ~92% MNIST baseline
    "dense": (128,),  # the reference model: Flatten -> Dense 128 ReLU -> Dense 10
    "deep": (512, 256, 128),
}
DEEP_DROPOUT = 0.2  # after each hidden layer of "deep" only


def hidden_widths(arch: str, hidden: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The hidden layer widths for an architecture, or the override.

    Raises:
        ConfigError: unknown architecture, or a non-positive width.
    """
    if arch not in ARCHITECTURES:
        raise ConfigError("arch", f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if arch == "linear" and hidden:
        raise ConfigError("hidden", "the linear architecture has no hidden layers")
    widths = tuple(hidden) if hidden else ARCHITECTURES[arch]
    if any(w <= 0 for w in widths):
        raise ConfigError("hidden", f"hidden layer widths must be positive, got {list(widths)}")
    return widths


def build_model(arch: str, num_classes: int, hidden: tuple[int, ...] | None = None):
    """Build an uncompiled Keras classifier.

    Args:
        arch: "linear", "dense" or "deep".
        num_classes: outputs of the softmax layer.
        hidden: hidden layer widths, overriding the architecture's own.

    Returns:
        A ``keras.Model`` mapping [N,28,28,1] raw pixels (0..255) to [N,num_classes] probabilities.
    """
    from training.tf import import_keras

    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=INPUT_SHAPE, name="pixels")
    # Normalization is part of the model, so it is exported with it and the device never re-implements it.
    x = layers.Rescaling(1.0 / 255, name="normalize")(inputs)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(hidden_widths(arch, hidden)):
        x = layers.Dense(width, activation="relu", name=f"hidden{i + 1}")(x)
        if arch == "deep":
            x = layers.Dropout(DEEP_DROPOUT, name=f"dropout{i + 1}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{arch}_classifier")
