"""The device runtime on real exported models: contract checks, batching, and no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from runtime import Classifier
from runtime.common.errors import ImageError, ModelError
from runtime.imaging.deskew import deskewed_pixels
from runtime.modelfile.reader import append_associated_files, read_model
from tests.helpers import ROOT
from tools.frames import paper_frame


def test_runtime_never_imports_tensorflow(digits_model, digits, tmp_path):
    folder, _ = digits_model
    np.save(tmp_path / "x.npy", digits.x_test[:50])
    np.save(tmp_path / "frame.npy", paper_frame(digits.x_test[0], np.random.default_rng(0)))
    code = f"""
import json, sys, numpy as np
from runtime import Classifier, to_mnist
import runtime.streaming.sources, runtime.streaming.preview
from runtime.streaming.reader import DigitReader
import cli  # the CLI module too: TensorFlow only inside train/export
from runtime.modelfile.verdicts import inspect_model
assert inspect_model({str(folder / 'model.int8-static.tflite')!r}).verdicts[0].ready
clf = Classifier({str(folder / 'model.int8.tflite')!r})
preds = clf.classify(np.load({str(tmp_path / 'x.npy')!r}))
frame = DigitReader(clf).read(runtime.streaming.sources.Frame(0, "test", np.load({str(tmp_path / 'frame.npy')!r})))
print(json.dumps({{"tf": sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')),
                  "backend": clf.backend.name, "labels": [p.class_id for p in preds],
                  "frame": frame.digits[0].class_id}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tf"] == []
    assert out["backend"] == os.environ.get("MNIST_EDGE_BACKEND", "ai_edge_litert")
    assert np.mean(np.array(out["labels"]) == digits.y_test[:50]) > 0.8
    assert out["frame"] == out["labels"][0]  # a camera frame of the same digit reads the same


def test_batch_equals_one_by_one(digits_model, digits):
    folder, _ = digits_model
    clf = Classifier(folder / "model.int8.tflite")
    x = digits.x_test[:30]
    batch = clf.scores(x)
    single = np.concatenate([clf.scores(img) for img in x])
    np.testing.assert_array_equal(batch, single)
    assert batch.shape == (30, 10) and np.allclose(batch.sum(axis=1), 1.0, atol=0.02)


def test_fixed_batch_model_takes_any_batch(digits_model, digits):
    folder, _ = digits_model
    static, dynamic = Classifier(folder / "model.int8-static.tflite"), Classifier(folder / "model.int8.tflite")
    assert static.fixed_batch == 1 and dynamic.fixed_batch is None
    predicted = static.scores(digits.x_test[:300]).argmax(axis=1)
    assert np.mean(predicted == digits.y_test[:300]) > 0.85
    assert np.mean(predicted == dynamic.scores(digits.x_test[:300]).argmax(axis=1)) > 0.97


def test_input_forms_agree(digits_model, digits):
    folder, _ = digits_model
    clf = Classifier(folder / "model.float32.tflite")
    x = digits.x_test[:8]
    a = clf.scores(x)
    np.testing.assert_allclose(clf.scores(x[..., None].astype(np.float32)), a, atol=1e-6)
    np.testing.assert_allclose(clf.scores(x.astype(np.int64)), a, atol=1e-6)
    assert clf.classify(x[0])[0].name == clf.class_names[int(a[0].argmax())]
    with pytest.raises(ImageError, match=r"\[N, 28, 28\]"):
        clf.scores(np.zeros((4, 32, 32)))


def test_labels_embedded_first_then_beside_the_model(digits_model, tmp_path):
    folder, _ = digits_model
    with pytest.raises(ModelError, match="3 class names given for a model with 10 classes"):
        Classifier(folder / "model.int8.tflite", class_names=["a", "b", "c"])
    # Embedded labels win over a labels.txt beside the file.
    names = [f"digit {d}" for d in range(10)]
    blob = _flatbuffer_only(folder / "model.int8.tflite")
    (tmp_path / "model.tflite").write_bytes(append_associated_files(blob, {"labels.txt": "\n".join(names).encode()}))
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    assert Classifier(tmp_path / "model.tflite").class_names == names
    # Without embedded labels, labels.txt beside the model is the fallback.
    (tmp_path / "model.tflite").write_bytes(blob)
    with pytest.raises(ModelError, match="names 2 classes but the model has 10 outputs"):
        Classifier(tmp_path / "model.tflite")
    (tmp_path / "labels.txt").unlink()
    assert Classifier(tmp_path / "model.tflite").class_names == [str(d) for d in range(10)]


def _flatbuffer_only(path) -> bytes:
    return path.read_bytes()[: read_model(path).flatbuffer_bytes]


def test_not_a_model(tmp_path):
    (tmp_path / "random.tflite").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "empty.tflite").write_bytes(b"")
    for name, message in (("random.tflite", "not a TFLite model"), ("empty.tflite", "not a TFLite model"),
                          ("missing.tflite", "no such model file")):
        with pytest.raises(ModelError, match=message):
            Classifier(tmp_path / name)
    with pytest.raises(ModelError, match="not a file"):
        Classifier(tmp_path)


@pytest.mark.tensorflow
def test_wrong_input_contract(tmp_path):
    from training.tf import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    (tmp_path / "cifar.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(ModelError, match=r"expected input shape \[N, 28, 28, 1\], found \[1, 32, 32, 3\]"):
        Classifier(tmp_path / "cifar.tflite")


def test_scores_are_the_quantization_helpers_own_dequantization(digits_model, digits):
    """The Classifier's 256-entry output table gives exactly what ``quant.dequantize`` gives."""
    from runtime.inference.quant import dequantize

    folder, _ = digits_model
    for name in ("model.int8.tflite", "model.int8-static.tflite"):
        clf = Classifier(folder / name, num_threads=1)
        raw = clf.backend.interpreter_class(model_path=str(folder / name), num_threads=1)
        raw.allocate_tensors()
        inp, out = raw.get_input_details()[0], raw.get_output_details()[0]
        for image in digits.x_test[:20]:
            pixels = deskewed_pixels(image[None]) if clf.deskew else image[None]  # as the Classifier does
            raw.set_tensor(inp["index"], pixels[..., None].astype(inp["dtype"]))
            raw.invoke()
            expected = dequantize(raw.get_tensor(out["index"]), *out["quantization"])
            assert np.array_equal(clf.scores(image), expected)
