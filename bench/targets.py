"""Benchmark every export variant under both device back-ends; write bench/results-targets.md.

Trains the dense model on full Fashion-MNIST, exports float32, float16, dynamic-range,
int8 and int8-static (batch 1, the Edge TPU / microcontroller form) and the C array,
then measures in one run: file size against the weight bytes inside, accuracy and
agreement with float32, and latency (10k-image batch, single image) through
ai-edge-litert and through tflite-runtime 2.14 (the ``.venv-tflite`` the Makefile
builds), each in its own process. Timings are medians; compare rows, not machines.

    python bench/targets.py [--epochs 5] [--out bench/results-targets.md]
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
from export import ExportConfig, export_models  # noqa: E402
from export.targets import write_c_array  # noqa: E402
from runtime.common.convention import Variant  # noqa: E402
from runtime.modelfile.reader import read_model  # noqa: E402
from runtime.modelfile.verdicts import arena_estimate, edgetpu_verdict, micro_verdict  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

LATENCY_CHILD = """
import json, sys, time
import numpy as np
from runtime import Classifier
x = np.load(sys.argv[1])
out = {}
backend = None
for path in sys.argv[2:]:
    try:
        clf = Classifier(path, num_threads=1)
    except Exception as exc:
        out[path] = {"error": str(exc).split("(", 1)[-1].rstrip(")")}
        continue
    backend = clf.backend.name
    clf.scores(x)
    batch = []
    for _ in range(5):
        t = time.perf_counter(); clf.scores(x); batch.append(time.perf_counter() - t)
    single = []
    for image in x[:2000]:
        t = time.perf_counter(); clf.scores(image); single.append(time.perf_counter() - t)
    out[path] = {"batch_ms": 1000 * float(np.median(batch)), "single_us": 1e6 * float(np.median(single))}
print(json.dumps({"backend": backend, "results": out}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-targets.md")
    args = parser.parse_args()

    data = load_dataset("fashion-mnist")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train(TrainConfig(dataset="fashion-mnist", epochs=args.epochs, patience=args.epochs, out_dir=tmp),
              data=data, verbose=0)
        exported = export_models(ExportConfig(model_dir=folder, variants=tuple(Variant)), data=data)
        _, source = write_c_array(exported.paths["int8-static"])
        np.save(folder / "x.npy", data.x_test)
        paths = [str(exported.paths[v]) for v in Variant]
        latency = {name: _latency(python, folder / "x.npy", paths) for name, python in machine.BACKEND_PYTHONS.items()}
        infos = {v: read_model(exported.paths[v]) for v in Variant}
        c_bytes = source.stat().st_size
    report = _markdown(data, exported.verification, infos, latency, paths, c_bytes)
    args.out.write_text(report)
    print(report)


def _latency(python: Path, x: Path, paths: list[str]) -> dict | None:
    if not python.exists():
        return None
    proc = subprocess.run([str(python), "-c", LATENCY_CHILD, str(x), *paths], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"latency run with {python} failed: {proc.stderr.strip().splitlines()[-1]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"backend": report["backend"], **{p: report["results"][p] for p in paths}}


def _markdown(data, verification, infos, latency, paths, c_bytes) -> str:
    ref = verification.get("float32")
    names = list(latency)
    lines = [
        "# Export variants and edge targets",
        "",
        f"Run on {date.today().isoformat()}: {machine.describe()}; one interpreter thread. Dense 784-128-10 "
        f"trained on Fashion-MNIST ({len(data.y_train):,} training images), verified on the "
        f"{verification.test_images:,} test images. Produced by `python bench/targets.py`.",
        "",
        "| variant | accuracy | vs float32 (pp) | agreement | file bytes | weight bytes | file / weights | "
        + " | ".join(f"batch 10k, {n} (ms) | single, {n} (µs)" for n in names) + " |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(names),
    ]
    for variant, path in zip(infos, paths):
        v, info = verification.get(variant), infos[variant]
        cells = []
        for n in names:
            row = (latency[n] or {}).get(path)
            if row is None or "error" in row:
                cells += ["fails (see below)" if row else "n/a", ""]
            else:
                cells += [f"{row['batch_ms']:.1f}", f"{row['single_us']:.1f}"]
        lines.append(f"| {variant} | {v.accuracy:.2%} | {100 * (v.accuracy - ref.accuracy):+.2f} | {v.agreement:.2%} "
                     f"| {info.size_bytes:,} | {info.weight_bytes:,} | {info.size_bytes / info.weight_bytes:.3f} | "
                     + " | ".join(cells) + " |")
    static = infos["int8-static"]
    lines += [
        "",
        f"- int8-static: {static.size_bytes:,} bytes = {static.weight_bytes:,} weight bytes "
        f"+ {static.structure_bytes:,} graph structure + {static.associated_bytes:,} embedded labels and facts; "
        f"without the embedded zip the file is {static.flatbuffer_bytes / static.weight_bytes:.3f}x its weights.",
        f"- int8 (any batch) has int8-static's operators and per-tensor weights; its "
        f"{infos['int8'].size_bytes - static.size_bytes:,} bytes more hold the tensors' shapes with a free "
        "batch dimension (`--per-channel` would add a scale per output unit).",
        f"- TFLite Micro: {'ready' if micro_verdict(static).ready else 'not ready'}; tensor arena estimate "
        f"{arena_estimate(static):,} bytes; model_data.cc is {c_bytes:,} bytes of C source.",
        f"- Coral Edge TPU: int8-static is {'ready' if edgetpu_verdict(static).ready else 'not ready'} to compile; "
        "edgetpu_compiler is not installable on this machine, so no compiled-model latency is given.",
        "- The batch column for int8-static is one invoke per image: its batch is fixed at 1.",
    ]
    for n in names:
        for variant, path in zip(infos, paths):
            row = (latency[n] or {}).get(path)
            if row and "error" in row:
                lines.append(f"- {variant} does not load in {n}: {row['error']} "
                             f"(the file asks for runtime {infos[variant].min_runtime_version or '?'}).")
    missing = [n for n in names if latency[n] is None]
    if missing:
        lines.append(f"- Not measured: {', '.join(missing)} (run `make test-tflite-runtime` to create .venv-tflite).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
