"""Models against a dataset's test split: the ``evaluate`` command's library side.

The dataset a model was trained on is looked up in one place
(``training.artifacts.recorded_dataset``: the model's embedded facts, then
``metrics.json`` beside it); a model and a dataset that do not fit together are
refused before any inference (``evaluation.check_matches``). The dataset readers
are numpy-only and ship in the wheel, so this runs on a device without TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

from runtime.common.errors import ConfigError, DataError
from runtime.inference.classifier import Classifier
from runtime.inference.comparison import Comparison, compare_models
from runtime.inference.evaluation import ClassReport, check_matches, class_report


def load_test_split(classifier: Classifier, dataset: str | None, data_dir: str | None):
    """The Dataset to measure ``classifier`` on: ``dataset`` if given, else the one it was trained on.

    Raises:
        DataError, DatasetNotFound: the dataset cannot be loaded or does not fit the model.
    """
    from training import artifacts
    from training.datasets import load_dataset

    trained_on, recorded_dir = artifacts.recorded_dataset(artifacts.read_metrics(classifier.path.parent),
                                                          classifier.metadata)
    name = dataset_to_use(dataset, trained_on, classifier.path)
    data = load_dataset(name, data_dir or recorded_dir)
    check_matches(classifier, data.class_names, data.x_test, data.name)
    return data


def dataset_to_use(dataset: str | None, trained_on: str | None, model: str | os.PathLike) -> str:
    """The dataset asked for, else the one the model records, else "mnist".

    Raises:
        DataError: the model records a dataset this toolkit cannot read (its embedded facts
            or metrics.json were edited or damaged); a ``--dataset`` given would be refused
            by ``load_dataset`` as a usage error instead.
    """
    from training.datasets import DATASETS

    if dataset is None and trained_on is not None and trained_on not in DATASETS:
        shown = trained_on if len(trained_on) <= 40 else trained_on[:40] + "..."
        raise DataError(f"{model} records that it was trained on {shown!r}, which is not a dataset "
                        f"this toolkit reads ({', '.join(DATASETS)}); name one with --dataset")
    return dataset or trained_on or "mnist"


def evaluate_on_test_split(model: str | os.PathLike, dataset: str | None = None, data_dir: str | None = None,
                           delegate: str | None = None) -> ClassReport:
    """Accuracy, confusion matrix, precision and recall of one model on a test split.

    Args:
        model: the ``.tflite`` file (checked in a child process first, see ``probe``).
        dataset: the dataset (default: the one the model was trained on).
        data_dir: where it is (default: where training found it, else the usual places).
        delegate: "edgetpu" or a delegate library path.

    Raises:
        ModelError, DataError, DatasetNotFound, BackendError.
    """
    classifier = Classifier(model, delegate=delegate, guard=True)
    data = load_test_split(classifier, dataset, data_dir)
    return class_report(classifier, data.x_test, data.y_test, data.name)


def compare_on_test_split(models: tuple[str | os.PathLike, str | os.PathLike], dataset: str | None = None,
                          data_dir: str | None = None, delegate: str | None = None) -> tuple[Comparison, object]:
    """Two models on the first one's test split: accuracy, agreement, and the classes they swap.

    Returns:
        (the Comparison, reference first; the Dataset it ran on).

    Raises:
        ModelError, DataError, DatasetNotFound, BackendError: as ``evaluate_on_test_split``;
            DataError also when the models differ in classes or input size.
    """
    paths = [Path(p) for p in models]
    if paths[0].resolve() == paths[1].resolve():
        raise ConfigError("compare", f"both models are {paths[0]}: give two different files")
    classifiers = [Classifier(p, delegate=delegate, guard=True) for p in paths]
    data = load_test_split(classifiers[0], dataset, data_dir)
    check_matches(classifiers[1], data.class_names, data.x_test, data.name)
    names = [p.name for p in paths] if paths[0].name != paths[1].name else [str(p) for p in paths]
    comparison = compare_models(dict(zip(names, paths)), None, data.x_test, data.y_test, reference=names[0],
                                classifiers=dict(zip(names, classifiers)))
    return comparison, data
