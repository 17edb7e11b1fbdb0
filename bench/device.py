"""What the device end costs, beside the bare LiteRT peer, in one run; writes bench/results-device.md.

One-shot commands: ``mnist-edge predict MODEL digit.png`` in a fresh process against a
7-line LiteRT script doing the same work (load, resize, invoke), alternated, N times
each: median wall time and median peak RSS. The command's model check (the child probe)
is remembered per file (``runtime.inference.probe.proven_cache``), so the first run on a
file is reported separately. ``--help``, ``--version`` and ``inspect`` are timed too.

Library: ``Classifier.classify`` per image against a raw ``invoke`` on the same file (and,
for a model trained on deskewed digits, against ``deskew`` + the raw ``invoke``, which is what
a correct bare caller of such a model does), one batched call over 1,000 images, and one
640x480 camera frame to a label, idle and with the other cores busy. The frame is what a
camera source hands the reader: B, G, R in memory (OpenCV, picamera2's "RGB888") seen as RGB
through ``bgr_to_rgb``; an RGB array (a decoded image file) is timed too.

The one-shot commands are the ``mnist-edge`` command of a device-like venv (runtime only:
``pip install '.[litert]'``, the Makefile's ``.venv-device``), into which this checkout is
first installed as a wheel, as a device user gets it: byte-compiled, no editable-install
finder, no workstation extras (TensorFlow, pydantic). Every round runs each command once,
and a ratio is the median of the rounds' own ratios, so a busy moment weighs on both sides.
The library figures are measured in this process.

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


def run_once(argv: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process running ``argv`` in ``cwd``."""
    proc = subprocess.run(["/usr/bin/env", "python3", "-I", "-S", "-c", LAUNCHER, *argv], env=env, cwd=cwd,
                          capture_output=True, text=True)
    code, wall, rss_kb = json.loads(proc.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {proc.stderr[-300:]}")
    return wall, rss_kb / 1024


def install(python: str, folder: Path) -> Path:
    """Install this checkout into the device venv as a device user gets it, a wheel (pip
    byte-compiles it), and return its ``mnist-edge`` command. Only our package is replaced:
    the venv's numpy, Pillow, LiteRT and typer stay as they are."""
    from tools.pi_check.reference import build_wheel

    wheel = build_wheel(ROOT, folder / "dist")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True)
    return Path(python).parent / "mnist-edge"


def one_shot(python: str, model: Path, digit: Path, runs: int, folder: Path) -> dict:
    """Medians of the command and the bare script, alternated so both see the same machine load;
    each ratio is the median of the rounds' own ratios (a round runs every command once)."""
    python = str(Path(python).absolute())  # not resolved: a venv's python is a link to the base one
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPATH", None)
    command = str(install(python, folder))
    argvs = {"predict": [command, "predict", str(model), str(digit)],
             "bare": [python, "-c", BARE_SCRIPT, str(model), str(digit)],
             "--version": [command, "--version"], "--help": [command, "--help"],
             "inspect": [command, "inspect", str(model), "--no-tensors"]}
    result = {"first_predict": run_once(argvs["predict"], env, folder)}  # empty cache: pays for the child probe
    rows = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            rows[name].append(run_once(argv, env, folder))
    bare_wall, bare_rss = np.array(rows["bare"]).T
    for name, samples in rows.items():
        wall, rss = np.array(samples).T
        result[name] = {"wall": float(np.median(wall)), "rss": float(np.median(rss)),
                        "wall_ratio": float(np.median(wall / bare_wall)),
                        "wall_ratio_iqr": [float(q) for q in np.percentile(wall / bare_wall, [25, 75])],
                        "rss_ratio": float(np.median(rss / bare_rss))}
    return result


def library(model: Path, digits: np.ndarray, frame: np.ndarray) -> dict:
    """Per-image classify vs raw invoke, one batched call, and frame to label (medians, microseconds)."""
    from runtime import Classifier
    from runtime.imaging.deskew import deskewed_pixels
    from runtime.streaming.reader import DigitReader
    from runtime.streaming.sources import Frame, bgr_to_rgb

    clf = Classifier(model, num_threads=1)
    raw = clf.backend.interpreter_class(model_path=str(model), num_threads=1)
    raw.allocate_tensors()
    inp, out = raw.get_input_details()[0], raw.get_output_details()[0]

    def invoke(image):
        raw.set_tensor(inp["index"], image[None, :, :, None])
        raw.invoke()
        return raw.get_tensor(out["index"])

    reader = DigitReader(clf)
    camera = bgr_to_rgb(np.ascontiguousarray(frame[:, :, ::-1]))  # as the camera sources deliver it
    timings = {"raw_invoke": lambda i: invoke(digits[i]), "classify": lambda i: clf.classify(digits[i]),
               "frame_to_label": lambda i: reader.read(Frame(i, "bench", camera)),
               "rgb_frame_to_label": lambda i: reader.read(Frame(i, "bench", frame))}
    if clf.deskew:
        timings["deskew_invoke"] = lambda i: invoke(deskewed_pixels(digits[i : i + 1])[0])
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
    bare, first = shot["bare"], shot["first_predict"]
    venv = Path(python).relative_to(ROOT) if Path(python).is_relative_to(ROOT) else python
    lines = [
        "# The device end: one-shot commands and the library, beside bare LiteRT",
        "",
        f"Measured by `bench/device.py` on {date.today()}, {machine.describe()}. One-shot commands: "
        f"the `mnist-edge` command of `{venv}`, a runtime-only venv (`pip install '.[litert]'`) into which "
        "this checkout was installed as a wheel (byte-compiled by pip, as on a device), run from an empty "
        "folder; every round runs each command once, and a ratio is the median of the rounds' own ratios "
        "(in brackets: their quartiles). Library calls: the bench's own process, one interpreter thread.",
        "",
        "| one fresh process | median wall | median peak RSS | wall / bare | RSS / bare |",
        "|---|---|---|---|---|",
        f"| bare LiteRT script (load, resize, invoke) | {bare['wall']:.3f} s | {bare['rss']:.1f} MB | 1 | 1 |",
    ]
    names = {"predict": "`mnist-edge predict` (model proven before)", "inspect": "`mnist-edge inspect`",
             "--help": "`mnist-edge --help`", "--version": "`mnist-edge --version`"}
    for name, label in names.items():
        row = shot[name]
        low, high = row["wall_ratio_iqr"]
        lines.append(f"| {label} | {row['wall']:.3f} s | {row['rss']:.1f} MB | {row['wall_ratio']:.2f}x "
                     f"({low:.2f}-{high:.2f}) | {row['rss_ratio']:.2f}x |")
    lines.insert(-3, f"| `mnist-edge predict`, first run on this file (child probe) | {first[0]:.3f} s | "
                     f"{first[1]:.1f} MB | {first[0] / bare['wall']:.2f}x | |")
    lines += [
        "",
        "| library call | median | ratio |",
        "|---|---|---|",
        f"| raw `invoke` of one image (set, invoke, get) | {lib['raw_invoke']:.1f} µs | 1 |",
        *([f"| `deskew` + raw `invoke` of one image (what a bare caller of this deskewing model does) | "
           f"{lib['deskew_invoke']:.1f} µs | {lib['deskew_invoke'] / lib['raw_invoke']:.2f}x |"]
          if "deskew_invoke" in lib else []),
        f"| `Classifier.classify(image)` | {lib['classify']:.1f} µs | {lib['classify'] / lib['raw_invoke']:.2f}x"
        + (f" ({lib['classify'] / lib['deskew_invoke']:.2f}x the deskewing bare caller)" if "deskew_invoke" in lib
           else "") + " |",
        f"| `Classifier.classify(1,000 images)`, per image | {lib['batch_us_per_image']:.2f} µs | "
        f"{lib['batch_us_per_image'] / lib['raw_invoke']:.2f}x |",
        f"| one 640x480 camera frame to a label, idle | {lib['frame_to_label'] / 1000:.3f} ms | |",
        f"| one 640x480 camera frame to a label, every core busy | {lib['frame_to_label_loaded'] / 1000:.3f} ms | |",
        f"| one 640x480 RGB array to a label, idle | {lib['rgb_frame_to_label'] / 1000:.3f} ms | |",
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
        shot = one_shot(args.device_python, model, digit, args.runs, Path(tmp))
        lib = library(model, digits, frame)
    report = markdown(shot, lib, args.device_python)
    args.out.write_text(report)
    print(report)
    print(json.dumps({"one_shot": shot, "library": lib}))


if __name__ == "__main__":
    main()
