"""``cli.py report``: PNG figures and one self-contained HTML page about an exported model.

Reads the export folder (model.float32.tflite, model.int8.tflite, metrics.json),
runs both models on the test split through the runtime (no TensorFlow) and draws
with matplotlib (``pip install 'mnist-edge[report]'``).
"""

from __future__ import annotations

import base64
import html
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import MnistEdgeError, ModelError
from runtime.files import atomic_path
from runtime.modelfile import dense_weights

MODELS = {"float32": "model.float32.tflite", "int8": "model.int8.tflite"}


@dataclass(frozen=True)
class Report:
    """What ``build`` wrote."""

    figures: dict[str, Path]  # figure name -> PNG
    html: Path
    summary: dict  # accuracies, agreement, sizes


def models_in(folder: Path) -> dict[str, Path]:
    """The float32 and int8 models of an export folder.

    Raises:
        ModelError: one is missing.
    """
    paths = {name: Path(folder) / file for name, file in MODELS.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ModelError(f"no {', '.join(missing)}: run `export` first (or pass the export folder)")
    return paths


def build(folder: Path, data, out: Path, history: dict | None = None) -> Report:
    """Classify the test split with both models and write every figure and ``index.html`` into ``out``.

    Args:
        folder: the export folder.
        data: the Dataset the model was trained on.
        out: where to write (created).
        history: metrics.json's per-epoch history, for the training curves (skipped if None).

    Raises:
        ModelError: a model is missing or unreadable. DataError: the dataset does not fit
            the models (checked before any inference). MnistEdgeError: matplotlib is missing.
    """
    from runtime import Classifier
    from runtime.evaluate import check_matches, confusion_matrix, precision_recall

    figures = _figures_module()
    classifiers = {name: Classifier(path) for name, path in models_in(folder).items()}
    for clf in classifiers.values():
        check_matches(clf, data.class_names, data.x_test, data.name)
    labels = list(data.class_names)
    scores = {name: clf.scores(data.x_test) for name, clf in classifiers.items()}
    predicted = {name: s.argmax(axis=1) for name, s in scores.items()}
    matrices = {name: confusion_matrix(data.y_test, p, len(labels)) for name, p in predicted.items()}
    wrong = np.flatnonzero(predicted["int8"] != data.y_test)
    differ = np.flatnonzero(predicted["int8"] != predicted["float32"])
    summary = {"dataset": data.name, "test_images": len(data.y_test),
               **{f"{n}_accuracy": float(np.mean(p == data.y_test)) for n, p in predicted.items()},
               "agreement": float(np.mean(predicted["int8"] == predicted["float32"])),
               **{f"{n}_bytes": clf.size_bytes for n, clf in classifiers.items()}}
    drawn = {
        "samples": figures.samples(data.x_test, data.y_test, labels),
        "class_counts": figures.class_counts(data.y_train, data.y_test, labels),
        "training": figures.training_curves(history) if history else None,
        "confusion": figures.confusion_pair(matrices, labels),
        "per_class": figures.per_class_accuracy({n: precision_recall(m)[1] for n, m in matrices.items()}, labels),
        "misclassified": figures.gallery(data.x_test, wrong, scores, data.y_test, labels,
                                         f"Misclassified by int8 ({len(wrong)} of {len(data.y_test)})"),
        "weights": figures.weight_maps(dense_weights(classifiers["float32"].path), labels),
        "disagreements": figures.gallery(data.x_test, differ, scores, data.y_test, labels,
                                         f"int8 and float32 disagree ({len(differ)} images)"),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: _save(fig, out / f"{name}.png") for name, fig in drawn.items() if fig is not None}
    page = out / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(_html(folder, summary, paths), encoding="utf-8")
    return Report(paths, page, summary)


def _figures_module():
    if importlib.util.find_spec("matplotlib") is None:
        raise MnistEdgeError("report needs matplotlib: pip install 'mnist-edge[report]'")
    from report import figures

    return figures


def _save(fig, path: Path) -> Path:
    from report.figures import pyplot

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    pyplot().close(fig)
    return path


CAPTIONS = {
    "samples": "Test images, one row per class.",
    "class_counts": "How many images each class has in the training and test splits.",
    "training": "Loss and accuracy per epoch; training stopped early when validation loss stopped improving.",
    "confusion": "Where each model's predictions land (rows: true class, columns: predicted).",
    "per_class": "Accuracy per class, float32 and int8.",
    "misclassified": "Images the int8 model gets wrong, with both models' probabilities "
                     "(solid: float32, pale: int8; green: true class, red: a wrong top class).",
    "weights": "What the first layer looks for: red pixels push a unit up, blue ones down.",
    "disagreements": "Images where int8 and float32 name different classes.",
}


def _html(folder: Path, summary: dict, paths: dict[str, Path]) -> str:
    rows = "".join(f"<tr><td>{n}</td><td>{summary[f'{n}_accuracy']:.2%}</td>"
                   f"<td>{summary[f'{n}_bytes']:,}</td></tr>" for n in MODELS)
    sections = "".join(
        f"<h2>{name.replace('_', ' ').capitalize()}</h2><p>{html.escape(CAPTIONS[name])}</p>"
        f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'>"
        for name, p in paths.items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>mnist-edge report: {html.escape(str(folder))}"
            "</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "img{max-width:100%}table{border-collapse:collapse}td,th{padding:4px 12px;border-bottom:1px solid #ddd}"
            "</style></head><body>"
            f"<h1>{html.escape(summary['dataset'])}: {html.escape(str(folder))}</h1>"
            f"<p>{summary['test_images']:,} test images; int8 agrees with float32 on {summary['agreement']:.2%}.</p>"
            f"<table><tr><th>model</th><th>accuracy</th><th>bytes</th></tr>{rows}</table>{sections}</body></html>\n")
