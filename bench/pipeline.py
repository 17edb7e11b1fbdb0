"""Benchmark the whole pipeline on full Fashion-MNIST and write bench/results-pipeline.md.

Measures, in one run on one machine: training and export time, file sizes, float32
vs int8 accuracy and agreement, batched and single-image latency through the
runtime, cold start and peak RSS of a fresh runtime process, and the same for the
peer a user would otherwise ship: plain Keras ``model.predict``. Timings are
medians; claims are ratios between rows of this one run.

    python bench/pipeline.py [--epochs 5] [--out bench/results-pipeline.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from export import ExportConfig, export_models  # noqa: E402
from runtime import Classifier  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

REPEATS = 7  # batched runs per model; the median is reported
SINGLE_IMAGES = 2000  # single-image calls per model
COLD_STARTS = 5  # fresh processes per model
# Peak RSS is read from VmHWM: ru_maxrss survives exec and would report the parent's peak.

RUNTIME_CHILD = """
import sys, time
t = time.perf_counter()
import numpy as np
from runtime import Classifier
clf = Classifier(sys.argv[1], num_threads=1)
clf.classify(np.load(sys.argv[2])[0])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t, int(hwm) / 1024)
"""
KERAS_CHILD = """
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
t = time.perf_counter()
import numpy as np, keras
model = keras.saving.load_model(sys.argv[1], compile=False)
model.predict(np.load(sys.argv[2])[:1, ..., None].astype("float32"), verbose=0)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t, int(hwm) / 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-pipeline.md")
    args = parser.parse_args()

    data = load_dataset("fashion-mnist")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trained = train(TrainConfig(dataset="fashion-mnist", epochs=args.epochs, patience=args.epochs,
                                    out_dir=tmp), data=data, verbose=0)
        start = time.perf_counter()
        exported = export_models(ExportConfig(model_dir=folder), data=data)
        export_total = time.perf_counter() - start
        np.save(folder / "sample.npy", data.x_test[:1])
        rows = {v: _runtime_row(exported.paths[v], data, folder / "sample.npy") for v in ("float32", "int8")}
        rows["keras"] = _keras_row(trained.model_path, data, folder / "sample.npy")
    report = _markdown(args, data, trained, exported, export_total, rows)
    args.out.write_text(report)
    print(report)


def _runtime_row(path: Path, data, sample: Path) -> dict:
    clf = Classifier(path, num_threads=1)
    clf.scores(data.x_test[:100])
    return _row(path, data, sample, RUNTIME_CHILD, clf.scores, clf.scores, SINGLE_IMAGES)


def _keras_row(path: Path, data, sample: Path) -> dict:
    from training.tf import import_keras

    keras = import_keras()  # TensorFlow's own thread pools (all cores): the peer is not held to 1 thread
    model = keras.saving.load_model(path, compile=False)
    return _row(path, data, sample, KERAS_CHILD,
                lambda x: model.predict(x[..., None].astype(np.float32), batch_size=1024, verbose=0),
                lambda img: model(img[None, ..., None].astype(np.float32), training=False),
                SINGLE_IMAGES // 10)  # an eager Keras call is ~300x slower: fewer calls suffice


def _row(path: Path, data, sample: Path, child: str, batch_fn, single_fn, singles: int) -> dict:
    """Accuracy, size, batched and single-image latency, cold start and RSS of one deployment."""
    batch = _median_seconds(lambda: batch_fn(data.x_test), REPEATS)
    single = _single_latencies(single_fn, data.x_test[:singles])
    predicted = np.asarray(batch_fn(data.x_test)).argmax(axis=1)
    cold, rss = _cold_start(child, path, sample)
    return {"accuracy": float(np.mean(predicted == data.y_test)), "predicted": predicted,
            "size": path.stat().st_size, "batch_ms": batch * 1000, "single_us": single,
            "cold_s": cold, "rss_mb": rss}


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _single_latencies(fn, images) -> tuple[float, float]:
    times = []
    for img in images:
        start = time.perf_counter()
        fn(img)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6, float(np.percentile(times, 99)) * 1e6


def _cold_start(child: str, model: Path, sample: Path) -> tuple[float, float]:
    runs = []
    for _ in range(COLD_STARTS):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", child, str(model), str(sample)], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        _, rss = out.stdout.split()
        runs.append((wall, float(rss)))
    return float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs]))


def _markdown(args, data, trained, exported, export_total, rows) -> str:
    v, m = exported.verification, trained.metrics
    ref = rows["float32"]["predicted"]
    lines = [
        f"# Pipeline benchmark ({date.today().isoformat()})",
        "",
        f"Machine: {machine.describe()}, "
        f"TensorFlow {m['tensorflow']}, back-end {v.backend}, 1 interpreter thread "
        f"(Keras keeps TensorFlow's default thread pools, so the comparison favours the peer). "
        f"Data: full Fashion-MNIST ({m['train_images']} train / {m['validation_images']} validation / "
        f"{len(data.y_test)} test). Model: dense 784-128-10, {args.epochs} epochs.",
        "",
        f"- Training: {m['train_seconds']:.1f} s for {m['epochs_run']} epochs.",
        f"- Export (SavedModel + float32 + int8 conversion): {exported.seconds:.1f} s; "
        f"with loading data, calibration and verification: {export_total:.1f} s.",
        f"- int8 file {rows['int8']['size']:,} B = {rows['int8']['size'] / rows['float32']['size']:.3f}x float32 "
        f"({rows['float32']['size']:,} B); int8 weights alone: {_int8_weight_bytes(m['parameters']):,} B.",
        "",
        "| model | accuracy | drop vs float32 (pp) | agreement with float32 | file | 10k batch (ms) | "
        "single image median / p99 (µs) | cold start (s) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (("float32", "TFLite float32 (runtime)"), ("int8", "TFLite int8 (runtime)"),
                        ("keras", "Keras model.predict (peer)")):
        r = rows[name]
        lines.append(
            f"| {label} | {r['accuracy']:.2%} | {100 * (rows['float32']['accuracy'] - r['accuracy']):+.2f} | "
            f"{np.mean(r['predicted'] == ref):.2%} | {r['size'] / 1024:.1f} KiB | {r['batch_ms']:.1f} | "
            f"{r['single_us'][0]:.1f} / {r['single_us'][1]:.1f} | {r['cold_s']:.2f} | {r['rss_mb']:.0f} |")
    f32, i8, ks = rows["float32"], rows["int8"], rows["keras"]
    lines += [
        "",
        f"Ratios in this run: int8 batch is {f32['batch_ms'] / i8['batch_ms']:.2f}x faster than float32 and "
        f"{ks['batch_ms'] / i8['batch_ms']:.1f}x faster than Keras; int8 single image "
        f"{ks['single_us'][0] / i8['single_us'][0]:.0f}x faster than a Keras call; runtime cold start "
        f"{ks['cold_s'] / i8['cold_s']:.1f}x faster and peak RSS {ks['rss_mb'] / i8['rss_mb']:.1f}x smaller than Keras.",
        "",
        "Reproduce: `make bench` (or `python bench/pipeline.py`).",
        "",
        "<!-- raw: " + json.dumps({k: {kk: vv for kk, vv in r.items() if kk != "predicted"} for k, r in rows.items()})
        + " -->",
    ]
    return "\n".join(lines) + "\n"


def _int8_weight_bytes(parameters: int) -> int:
    # Dense 784-128-10: kernels int8 (1 byte), biases int32 (4 bytes).
    biases = 128 + 10
    return (parameters - biases) + 4 * biases


if __name__ == "__main__":
    main()
