"""The project's exception types.

Every stage raises these for problems the user can fix (a missing file, a corrupt
dataset, a model that breaks its contract). Only ``cli.py`` turns them into a
one-line message and an exit code; library code never prints or exits.
"""


class MnistEdgeError(Exception):
    """Base class: a problem the user can act on, reported as one line."""


class DataError(MnistEdgeError):
    """A dataset file is missing, unreadable or inconsistent."""


class DatasetNotFound(DataError):
    """No source (local folder, known copy, download) could provide the dataset."""


class ModelError(MnistEdgeError):
    """A model file is missing, not a TFLite/Keras model, or breaks the input/output contract."""


class ImageError(MnistEdgeError):
    """An image file cannot be read or holds no digit."""


class SourceError(MnistEdgeError):
    """A frame source (camera, video, folder) cannot be opened or stopped delivering frames."""


class QualityGateError(MnistEdgeError):
    """The int8 model fell further below the float model than allowed."""


class BackendError(MnistEdgeError):
    """No TFLite interpreter module (ai-edge-litert, tflite-runtime, tensorflow) is installed."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its class name), for one-line reports."""
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
