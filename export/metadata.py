"""The labels and facts a device needs, packed into each exported ``.tflite``.

They travel as TFLite Support does it, a zip of associated files after the
flatbuffer (``labels.txt`` and ``mnist_edge.json``), so one copied file is enough
and stock interpreters still load it. The runtime reads them back with
``runtime.modelfile.read_model`` (no TensorFlow).
"""

from __future__ import annotations

import json

from export.verify import REFERENCE, Verification
from runtime.modelfile import LABELS_FILE, METADATA_FILE, append_associated_files
from runtime.preprocess import MNIST_SIDE

FORMAT = "mnist-edge/1"
INPUT_CONVENTION = ("raw pixel intensity 0..255, bright ink on a dark background (MNIST form), 28x28, "
                    "one channel; the model normalizes inside")


def model_facts(variant: str, metrics: dict, labels: list[str], verification: Verification, settings: dict) -> dict:
    """The ``mnist_edge.json`` of one variant: what it is, how it was made, how it scored."""
    result, reference = verification.get(variant), verification.get(REFERENCE)
    return {
        "format": FORMAT,
        "variant": variant,
        "labels": labels,
        "dataset": metrics.get("dataset"),
        "source": metrics.get("source"),
        "arch": metrics.get("arch"),
        "input": {"shape": [MNIST_SIDE, MNIST_SIDE, 1], "convention": INPUT_CONVENTION},
        "export": {**settings, "tensorflow": metrics.get("tensorflow")},
        "verified": {"test_images": verification.test_images, "accuracy": round(result.accuracy, 6),
                     "float32_accuracy": round(reference.accuracy, 6),
                     "agreement_with_float32": round(result.agreement, 6), "backend": verification.backend},
    }


def embed(blob: bytes, variant: str, metrics: dict, data, verification: Verification, settings: dict) -> bytes:
    """``blob`` with ``labels.txt`` and ``mnist_edge.json`` appended (reproducible bytes)."""
    facts = model_facts(variant, metrics, list(data.class_names), verification, settings)
    return append_associated_files(blob, {
        LABELS_FILE: ("\n".join(data.class_names) + "\n").encode("utf-8"),
        METADATA_FILE: (json.dumps(facts, indent=1) + "\n").encode("utf-8"),
    })
