"""The device side of mnist-edge: numpy, Pillow and a TFLite interpreter, never TensorFlow.

Typical use on a Raspberry Pi or Coral board::

    from runtime import Classifier, load_image, to_mnist
    clf = Classifier("model.int8.tflite")
    print(clf.classify(to_mnist(load_image("digit.png"))))
"""

from runtime.classifier import Classifier, Prediction
from runtime.errors import MnistEdgeError
from runtime.images import load_image
from runtime.preprocess import to_mnist

__all__ = ["Classifier", "MnistEdgeError", "Prediction", "load_image", "to_mnist"]
