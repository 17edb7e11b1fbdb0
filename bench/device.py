"""What the device end costs, beside the bare LiteRT peer, in one run; writes bench/results-device.md.

One-shot commands: ``mnist-edge predict MODEL digit.png`` in a fresh process against a
7-line LiteRT script doing the same work (load, resize, invoke), alternated, N times
each: median wall time and median peak RSS. The command's model check (the child probe)
is remembered per file (``runtime.inference.probe.proven_cache``), so the first run on a
file is reported separately. ``--help``, ``--version`` and ``inspect`` are timed too.

Library: ``Classifier.classify`` per image against a raw ``invoke`` on the same file,
one batched call over 1,000 images, and one 640x480 camera frame to a label, idle and
with the other cores busy.

The one-shot commands run in a device-like venv (runtime only: ``pip install '.[litert]'``,
the Makefile's ``.venv-device``), so that the workstation's extras (TensorFlow, pydantic)
do not load; the library figures are measured in this process.

    python bench/device.py [--device-python .venv-device/bin/python] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
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

BARE_SCRIPT = """
import sys
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1]); it.allocate_tensors()
x = np.asarray(Image.open(sys.argv[2]).convert("L").resize((28, 28)), dtype=np.uint8)
inp, out = it.get_input_details()[0], it.get_output_details()[0]
it.set_tensor(inp["index"], (255 - x)[None, :, :, None]); it.invoke(); print(it.get_tensor(out["index"]).argmax())
"""
DEVICE_PYTHON = ROOT / ".venv-device" / "bin" / "python"
SOURCES = ("cli.py", "cli_render.py", "runtime", "calibration")  # what the device commands import


# A small launcher forks and waits for the command: ru_maxrss of a child starts from its parent's
# peak at fork time, so the parent must be smaller than anything it measures (this bench is not).
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss]))
"""


def run_once(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process running ``argv``."""
    proc = subprocess.run(["/usr/bin/env", "python3", "-I", "-S", "-c", LAUNCHER, *argv], env=env,
                          capture_output=True, text=True)
    code, wall, rss_kb = json.loads(proc.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {proc.stderr[-300:]}")
    return wall, rss_kb / 1024


def one_shot(python: str, model: Path, digit: Path, runs: int, cache: Path) -> dict:
    """Medians of the command and the bare script, alternated so both see the same machine load."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Byte-compiled first, as pip leaves an installed wheel: else every run compiles our modules
    # from source, which the bare script (site-packages only) never pays.
    subprocess.run([python, "-m", "compileall", "-q", *SOURCES], cwd=ROOT, env=env, check=True)
    cli, bare = [python, str(ROOT / "cli.py")], [python, "-c", BARE_SCRIPT, str(model), str(digit)]
    first = run_once([*cli, "predict", str(model), str(digit)], env)  # empty cache: pays for the child probe
    rows = {"predict": [], "bare": [], "--version": [], "--help": [], "inspect": []}
    for _ in range(runs):
        rows["predict"].append(run_once([*cli, "predict", str(model), str(digit)], env))
        rows["bare"].append(run_once(bare, env))
        rows["--version"].append(run_once([*cli, "--version"], env))
        rows["--help"].append(run_once([*cli, "--help"], env))
        rows["inspect"].append(run_once([*cli, "inspect", str(model), "--no-tensors"], env))
    medians = {k: (float(np.median([w for w, _ in v])), float(np.median([r for _, r in v]))) for k, v in rows.items()}
    return {"first_predict": first, **medians}


def library(model: Path, digits: np.ndarray, frame: np.ndarray) -> dict:
    """Per-image classify vs raw invoke, one batched call, and frame to label (medians, microseconds)."""
    from runtime import Classifier
    from runtime.streaming.reader import DigitReader
    from runtime.streaming.sources import Frame

    clf = Classifier(model, num_threads=1)
    raw = clf.backend.interpreter_class(model_path=str(model), num_threads=1)
    raw.allocate_tensors()
    inp, out = raw.get_input_details()[0], raw.get_output_details()[0]

    def invoke(image):
        raw.set_tensor(inp["index"], image[None, :, :, None])
        raw.invoke()
        return raw.get_tensor(out["index"])

    reader = DigitReader(clf)
    timings = {"raw_invoke": lambda i: invoke(digits[i]), "classify": lambda i: clf.classify(digits[i]),
               "frame_to_label": lambda i: reader.read(Frame(i, "bench", frame))}
    result = {name: _median_us(fn, len(digits)) for name, fn in timings.items()}
    start = time.perf_counter()
    clf.classify(digits)
    result["batch_us_per_image"] = (time.perf_counter() - start) * 1e6 / len(digits)
    with multiprocessing.Pool(machine.cores()) as pool:  # every core busy, as on a loaded Pi
        busy = pool.map_async(_spin, [3.0] * machine.cores())
        time.sleep(0.2)
        result["frame_to_label_loaded"] = _median_us(timings["frame_to_label"], 300)
        busy.wait()
    return result


def _median_us(fn, n: int) -> float:
    fn(0)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return float(np.median(samples)) * 1e6


def _spin(seconds: float) -> None:
    """Keep one core busy: elementwise work only, so one thread (a matrix product would start
    OpenBLAS's own threads, several per core)."""
    end = time.perf_counter() + seconds
    x = np.random.default_rng(0).random(65536)
    while time.perf_counter() < end:
        x = np.sqrt(x + 1.0)


def build_inputs(folder: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """The tests' model (trained here if TensorFlow is present, else taken from $MNIST_EDGE_MODELS),
    a 112x112 dark-on-light digit PNG, 1,000 real test digits and one camera-like frame."""
    from PIL import Image

    from tools.frames import digit_frames
    from training.datasets import load_dataset

    data = load_dataset("mnist-5k")
    prebuilt = os.environ.get("MNIST_EDGE_MODELS")
    if prebuilt:
        model = Path(prebuilt) / "model.int8.tflite"
    else:
        from tools.test_models import build_digits_model

        build_digits_model(folder, data)
        model = folder / "model.int8.tflite"
    digit = folder / "digit.png"
    Image.fromarray(255 - data.x_test[0]).resize((112, 112), Image.Resampling.BICUBIC).save(digit)
    frame = next(digit_frames(data.x_test[:1], seed=0))
    return model, digit, data.x_test, frame


def markdown(shot: dict, lib: dict, python: str) -> str:
    """The results page."""
    p, b = shot["predict"], shot["bare"]
    lines = [
        "# The device end: one-shot commands and the library, beside bare LiteRT",
        "",
        f"Measured by `bench/device.py` on {date.today()}, {machine.describe()}. One-shot commands: "
        f"`{Path(python).relative_to(ROOT) if Path(python).is_relative_to(ROOT) else python}`, a runtime-only "
        "venv (`pip install '.[litert]'`), the sources byte-compiled as pip leaves an installed wheel; "
        "library calls: the bench's own process, one interpreter thread.",
        "",
        "| one fresh process | median wall | median peak RSS | wall / bare | RSS / bare |",
        "|---|---|---|---|---|",
        f"| bare LiteRT script (load, resize, invoke) | {b[0]:.3f} s | {b[1]:.1f} MB | 1 | 1 |",
        f"| `mnist-edge predict` (model proven before) | {p[0]:.3f} s | {p[1]:.1f} MB | "
        f"{p[0] / b[0]:.2f}x | {p[1] / b[1]:.2f}x |",
        f"| `mnist-edge predict`, first run on this file (child probe) | {shot['first_predict'][0]:.3f} s | "
        f"{shot['first_predict'][1]:.1f} MB | {shot['first_predict'][0] / b[0]:.2f}x | |",
    ]
    for name in ("inspect", "--help", "--version"):
        w, r = shot[name]
        lines.append(f"| `mnist-edge {name}` | {w:.3f} s | {r:.1f} MB | {w / b[0]:.2f}x | {r / b[1]:.2f}x |")
    lines += [
        "",
        "| library call | median | ratio |",
        "|---|---|---|",
        f"| raw `invoke` of one image (set, invoke, get) | {lib['raw_invoke']:.1f} µs | 1 |",
        f"| `Classifier.classify(image)` | {lib['classify']:.1f} µs | {lib['classify'] / lib['raw_invoke']:.2f}x |",
        f"| `Classifier.classify(1,000 images)`, per image | {lib['batch_us_per_image']:.2f} µs | "
        f"{lib['batch_us_per_image'] / lib['raw_invoke']:.2f}x |",
        f"| one 640x480 frame to a label, idle | {lib['frame_to_label'] / 1000:.3f} ms | |",
        f"| one 640x480 frame to a label, every core busy | {lib['frame_to_label_loaded'] / 1000:.3f} ms | |",
        "",
        "Reproduce: `make bench-device`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device-python", default=str(DEVICE_PYTHON if DEVICE_PYTHON.exists() else sys.executable))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-device.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, digit, digits, frame = build_inputs(Path(tmp))
        shot = one_shot(args.device_python, model, digit, args.runs, Path(tmp) / "cache")
        lib = library(model, digits, frame)
    report = markdown(shot, lib, args.device_python)
    args.out.write_text(report)
    print(report)
    print(json.dumps({"one_shot": shot, "library": lib}))


if __name__ == "__main__":
    main()
