"""The device side of mnist-edge: numpy, Pillow and a TFLite interpreter, never TensorFlow.

Typical use on a Raspberry Pi or Coral board::

    from runtime import Classifier, load_digit
    clf = Classifier("model.int8.tflite")
    print(clf.classify(load_digit("digit.png")))
"""

from runtime.classifier import Classifier, Prediction
from runtime.errors import MnistEdgeError
from runtime.images import load_digit, load_image
from runtime.preprocess import to_mnist

__all__ = ["Classifier", "MnistEdgeError", "Prediction", "load_digit", "load_image", "to_mnist"]
