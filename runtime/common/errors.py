"""The project's exception types.

Every stage raises these for problems the user can fix (a missing file, a corrupt
dataset, a model that breaks its contract). Only ``cli.py`` turns them into a
one-line message and an exit code; library code never prints or exits.
"""


class MnistEdgeError(Exception):
    """Base class: a problem the user can act on, reported as one line."""


class ConfigError(MnistEdgeError):
    """A setting is out of range or unknown: a usage error (the command line exits 2).

    Attributes:
        setting: the setting's library name (``epochs``, ``io``); the command line
            names the flag that sets it instead.
        detail: what is wrong with its value, without the name.
    """

    def __init__(self, setting: str, detail: str):
        super().__init__(f"{setting}: {detail}")
        self.setting, self.detail = setting, detail


class Interrupted(MnistEdgeError):
    """The user stopped a command (Ctrl-C); the message says what was kept. Exits 130."""


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


MAX_SEED = 2**32 - 1  # numpy's and TensorFlow's seeds are unsigned 32-bit


def check_seed(seed: int) -> int:
    """Return ``seed`` when the random generators underneath accept it.

    Raises:
        ConfigError: outside 0..2**32-1.
    """
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError("seed", f"must be between 0 and {MAX_SEED}, got {seed}")
    return seed
