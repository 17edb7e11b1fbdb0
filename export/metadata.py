"""The labels and facts a device needs, packed into each exported ``.tflite``.

They travel as TFLite Support does it, a zip of associated files after the
flatbuffer (``labels.txt`` and ``mnist_edge.json``), so one copied file is enough
and stock interpreters still load it. The runtime reads them back with
``runtime.modelfile.reader.read_model`` (no TensorFlow).
"""

from __future__ import annotations

import json

from runtime.common.convention import INPUT_CONVENTION, INPUT_SHAPE, LABELS_FILE, METADATA_FILE
from runtime.inference.comparison import REFERENCE, Comparison
from runtime.modelfile.reader import append_associated_files
from training.datasets import source_kind

FORMAT = "mnist-edge/1"


def model_facts(variant: str, metrics: dict, labels: list[str], verification: Comparison, settings: dict) -> dict:
    """The ``mnist_edge.json`` of one variant: what it is, how it was made, how it scored.

    The file travels to devices and to other people, so it names the kind of data source
    ("IDX files", "Keras download"), never a path on the training machine.
    """
    result, reference = verification.get(variant), verification.get(REFERENCE)
    return {
        "format": FORMAT,
        "variant": variant,
        "labels": labels,
        "dataset": metrics.get("dataset"),
        "source": source_kind(metrics.get("source")),  # "IDX files": never a path
        "arch": metrics.get("arch"),
        "input": {"shape": list(INPUT_SHAPE), "convention": INPUT_CONVENTION,
                  "deskew": metrics.get("deskew") is True},  # the runtime shears each image upright first
        "export": {**settings, "tensorflow": metrics.get("tensorflow")},
        "verified": {"test_images": verification.test_images, "accuracy": round(result.accuracy, 6),
                     "float32_accuracy": round(reference.accuracy, 6),
                     "agreement_with_float32": round(result.agreement, 6), "backend": verification.backend},
    }


def embed(blob: bytes, variant: str, metrics: dict, data, verification: Comparison, settings: dict) -> bytes:
    """``blob`` with ``labels.txt`` and ``mnist_edge.json`` appended (reproducible bytes)."""
    facts = model_facts(variant, metrics, list(data.class_names), verification, settings)
    return append_associated_files(blob, {
        LABELS_FILE: ("\n".join(data.class_names) + "\n").encode("utf-8"),
        METADATA_FILE: (json.dumps(facts, indent=1) + "\n").encode("utf-8"),
    })
