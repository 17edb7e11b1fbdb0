"""``cli.py report``: PNG figures and one self-contained HTML page about an exported model.

Reads the export folder (model.float32.tflite, model.int8.tflite, metrics.json),
runs both models on the test split through the runtime (no TensorFlow) and draws
with matplotlib (``pip install 'mnist-edge[report]'``).
"""

from __future__ import annotations

import base64
import html
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.common.convention import Variant
from runtime.common.errors import MnistEdgeError, ModelError
from runtime.common.files import atomic_path
from runtime.modelfile.reader import dense_weights

MODELS = (Variant.FLOAT32, Variant.INT8)  # the pair every figure compares


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
    paths = {variant.value: Path(folder) / variant.file_name for variant in MODELS}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ModelError(f"no {', '.join(missing)}: run `export` first (or pass the export folder)")
    return paths


def build_report(folder: Path, dataset: str | None = None, data_dir: str | None = None,
                 out: Path | None = None) -> Report:
    """Classify the test split with both models and write every figure and ``index.html``.

    Args:
        folder: the export folder.
        dataset: the dataset to draw (default: the one the models were trained on).
        data_dir: where it is (default: where training found it).
        out: where to write (created; default ``folder/report``).

    Raises:
        ModelError: a model is missing or unreadable. DataError: the dataset does not fit
            the models (checked before any inference). MnistEdgeError: matplotlib is missing.
    """
    from runtime import Classifier
    from runtime.inference.comparison import compare_models
    from runtime.inference.evaluation import check_matches
    from runtime.inference.test_split import dataset_to_use
    from training import artifacts
    from training.datasets import load_dataset

    figures = _figures_module()
    paths = models_in(folder)
    classifiers = {name: Classifier(path) for name, path in paths.items()}
    metrics = artifacts.read_metrics(folder)
    trained_on, recorded_dir = artifacts.recorded_dataset(metrics, classifiers["float32"].metadata)
    name = dataset_to_use(dataset, trained_on, paths["float32"])
    data = load_dataset(name, data_dir or recorded_dir)
    for clf in classifiers.values():
        check_matches(clf, data.class_names, data.x_test, data.name)
    out = out or Path(folder) / "report"
    out.mkdir(parents=True, exist_ok=True)  # an output that cannot be made fails before the work
    comparison = compare_models(paths, None, data.x_test, data.y_test, classifiers=classifiers)
    history = metrics.get("history") if isinstance(metrics.get("history"), dict) else None
    return _draw(figures, folder, data, comparison, history, out)


def _draw(figures, folder: Path, data, comparison, history: dict | None, out: Path) -> Report:
    """Every figure and the page, from a comparison of float32 and int8 on the test split."""
    from runtime.inference.evaluation import confusion_matrix, precision_recall

    labels = list(data.class_names)
    scores = {v.variant: v.scores for v in comparison.variants}
    matrices = {v.variant: confusion_matrix(data.y_test, v.predicted, len(labels)) for v in comparison.variants}
    wrong = np.flatnonzero(comparison.get("int8").predicted != data.y_test)
    differ = comparison.disagreements("int8")
    summary = {"dataset": data.name, "test_images": comparison.test_images,
               **{f"{v.variant}_accuracy": v.accuracy for v in comparison.variants},
               "agreement": comparison.get("int8").agreement,
               **{f"{v.variant}_bytes": v.size_bytes for v in comparison.variants}}
    drawn = {
        "samples": figures.samples(data.x_test, data.y_test, labels),
        "class_counts": figures.class_counts(data.y_train, data.y_test, labels),
        "training": figures.training_curves(history) if history else None,
        "confusion": figures.confusion_pair(matrices, labels),
        "per_class": figures.per_class_accuracy({n: precision_recall(m)[1] for n, m in matrices.items()}, labels),
        "misclassified": figures.gallery(data.x_test, wrong, scores, data.y_test, labels,
                                         f"Misclassified by int8 ({len(wrong)} of {len(data.y_test)})"),
        "weights": figures.weight_maps(dense_weights(Path(folder) / Variant.FLOAT32.file_name), labels),
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
    folder = os.fsencode(folder).decode("utf-8", "replace")  # a name that is not UTF-8, too
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
