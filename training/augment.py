"""``train --augment``: random shifts, turns, sizes, stroke widths and blur, during training only.

A camera's digit reaches the model through ``runtime.imaging.preprocess``: fitted into
20x20 and centred by mass like MNIST's own, but turned a little, its stroke thinner or
bolder, its edges soft. These layers show the model such digits while it trains. They sit
in a wrapper around the classifier (``training_model``), never in it: the classifier alone
is saved (model.keras) and exported, so no random op of theirs reaches a ``.tflite`` file
(Keras's random layers leave RNG ops that the TFLite converter cannot take).

Every layer draws from its own ``keras.random.SeedGenerator``, seeded from the run's
seed. A seed generator's state is one of the wrapper's ``variables``, which the run's
saved state holds (``training/state.py``): a resumed run draws the same transformations
as a straight one.

This module imports Keras (and so TensorFlow): import it only inside training.
"""

from __future__ import annotations

from runtime.common.convention import INPUT_SHAPE, PIXEL_MAX
from training.tf import import_keras

keras = import_keras()

# Ranges, in the 28x28 MNIST form the model sees (the digit fitted into 20x20).
# Shift, share of the side either way: the centre of mass is placed to the pixel, and a crop that
# keeps a speck or loses a serif moves it by a pixel or two.
TRANSLATION = 2.0 / 28
ROTATION = 15.0 / 360  # share of a full turn, either way: a page or a hand turned up to 15 degrees
ZOOM = 0.15  # either way: how much of the 20x20 box a turned or slanted digit fills after fitting
# Pixels each side: MNIST's strokes are 3 px wide (median; 4.5 at the 95th percentile, which
# ``preprocess`` caps a marker to); thinner than -0.5 breaks its 1-2 px strokes.
STROKE = (-0.5, 1.0)
# Each image is blurred with a chance drawn from 0..BLUR_SHARE (1/4 on average), with a sigma
# drawn once a batch (Keras's layer); sigma 1 px at 28x28 is sigma 10 px on a 200 px digit.
BLUR_SHARE = 0.5
BLUR_SIGMA = (0.3, 1.0)  # pixels
BLUR_KERNEL = 5  # pixels, the blur's window


class RandomStroke(keras.layers.Layer):
    """Thin or thicken each digit's strokes by a random amount, during training only.

    A grey-level dilation (3x3 max pool) widens a stroke by a pixel each side and an
    erosion (min pool) thins it by one; a share ``t`` of the way to either, drawn per
    image from ``factor`` (negative: thinner), gives widths in between.

    Args:
        factor: (low, high) pixels each side, -1 <= low <= high <= 1.
        seed: the seed of the layer's random draws.
    """

    def __init__(self, factor: tuple[float, float] = STROKE, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        low, high = factor
        if not -1.0 <= low <= high <= 1.0:
            raise ValueError(
                f"factor must be (low, high) with -1 <= low <= high <= 1, got {factor}"
            )
        self.factor, self.seed = (float(low), float(high)), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        ops = keras.ops
        share = keras.random.uniform(
            (ops.shape(images)[0], 1, 1, 1), *self.factor, seed=self.generator
        )
        bolder = ops.max_pool(images, 3, strides=1, padding="same")
        thinner = -ops.max_pool(-images, 3, strides=1, padding="same")
        target = ops.where(share > 0, bolder, thinner)
        return images + ops.abs(share) * (target - images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}


class StretchInk(keras.layers.Layer):
    """Scale each image so its brightest pixel is 255, during training only.

    ``preprocess`` stretches every camera crop's stroke to full ink (``digit_crop``); a
    thinned or blurred training digit, dimmer than its original, is stretched the same way.
    """

    def call(self, images, training=False):
        if not training:
            return images
        peak = keras.ops.max(images, axis=(1, 2, 3), keepdims=True)
        return images * (PIXEL_MAX / keras.ops.maximum(peak, 1.0))

    def compute_output_shape(self, input_shape):
        return input_shape


def augmenter(seed: int):
    """The augmentation layers as one ``keras.Sequential``, each seeded from ``seed``.

    Raw pixels 0..255 in and out (bright ink on black, the convention); the identity
    unless called with ``training=True``. Stroke first (a pen's width is the digit's own),
    then the page's turn, the digit's size after fitting and its place, then the camera's blur;
    last, the ink stretched to full brightness as ``preprocess`` stretches a camera's crop.
    """
    fill = dict(fill_mode="constant", fill_value=0.0, interpolation="bilinear")
    layers = keras.layers
    return keras.Sequential(
        [
            RandomStroke(STROKE, seed=seed, name="stroke"),
            layers.RandomRotation(ROTATION, seed=seed + 1, name="rotation", **fill),
            layers.RandomZoom(ZOOM, seed=seed + 2, name="zoom", **fill),
            layers.RandomTranslation(
                TRANSLATION, TRANSLATION, seed=seed + 3, name="translation", **fill
            ),
            layers.RandomGaussianBlur(
                BLUR_SHARE,
                kernel_size=BLUR_KERNEL,
                sigma=BLUR_SIGMA,
                value_range=(0, PIXEL_MAX),
                seed=seed + 4,
                name="blur",
            ),
            StretchInk(name="stretch"),
        ],
        name="augment",
    )


def training_model(classifier, seed: int):
    """The model ``fit`` trains: the augmentation layers, then ``classifier`` (its weights).

    Args:
        classifier: the Keras classifier that is saved and exported.
        seed: the run's seed (``TrainConfig.seed``).
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="pixels")
    outputs = classifier(augmenter(seed)(inputs))
    return keras.Model(inputs, outputs, name="augmented_training")
