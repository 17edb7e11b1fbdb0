"""Soak the resume path with random Ctrl-C's and kills: write bench/results-soak.md.

Each try trains the dense model on mnist-5k through the real command line into a fresh
folder, stops it 1 to 3 times at a random moment with SIGINT (Ctrl-C) or SIGKILL (a
coin toss each time), restarting it each time with ``--resume`` when a saved state is
in the folder (without it otherwise, as the Ctrl-C message says), then lets the last
run finish. A straight run with the same settings, timed first, gives the reference
weights and the moments to aim at: a quarter of the signals go at a random moment of a
whole run (start-up and exit included), the rest at a random moment after the run saved
its first epoch, within the time the straight run's epochs took from there.

Counted: runs that could not be resumed, finished runs whose weights or history differ
from the straight run's in any bit, tracebacks, exit codes other than 0/1/130/SIGKILL,
and where the interruptions landed.

    python bench/soak.py [--tries 60] [--epochs 6] [--seed 0] [--out bench/results-soak.md]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the children import this tree's packages
INTERRUPTED = (130, -signal.SIGINT, -signal.SIGKILL)  # -SIGINT: Ctrl-C while Python was exiting
TF_LOG = ("I0000 ", "W0000 ", "E0000 ", "WARNING: All log messages")  # TensorFlow's C++ log
LANDED = ("before the run saved an epoch", "while it saved epochs", "after the model was written",
          "after the run had ended")


@dataclass(frozen=True)
class Timeline:
    """When (seconds after its start) a straight run saved its first and last state, and ended."""

    first_state: float
    last_state: float
    end: float
    epochs: int

    @property
    def epochs_span(self) -> float:
        """From the first saved state to one epoch after the last."""
        saves = self.last_state - self.first_state
        return saves * self.epochs / max(self.epochs - 1, 1)


@dataclass(frozen=True)
class Launch:
    """One run of ``cli.py train`` and how it ended."""

    resumed: bool
    sent: str | None  # "SIGINT" or "SIGKILL", when one was sent
    rc: int
    stdout: str
    stderr: str
    landed: str | None  # one of LANDED when it was interrupted
    temp_left: bool  # a temporary state file was left behind (a kill inside a write)


def command(folder: Path, epochs: int, resume: bool) -> list[str]:
    """The command line of one run."""
    return [sys.executable, str(ROOT / "cli.py"), "train", "--dataset", "mnist-5k", "--epochs",
            str(epochs), "--patience", str(epochs), "--quiet", "--out-dir", str(folder),
            *(["--resume"] if resume else [])]


def states_in(folder: Path) -> list[Path]:
    """The saved state files (not temporary ones) in ``folder``."""
    return sorted(folder.glob(".train-state.*.npz"))


def run(folder: Path, epochs: int, sig: int | None = None,
        aim: tuple[bool, float] = (False, 0.0)) -> Launch:
    """Start a run (with --resume when a state is saved) and send it ``sig``.

    ``aim`` is (after_first_save, delay): the signal goes ``delay`` seconds after the start,
    or after this run saved its first epoch.
    """
    resumed = bool(states_in(folder))
    before = _stamps(folder)
    proc = spawn(command(folder, epochs, resumed), subprocess.PIPE)
    landed = None if sig is None else _interrupt(proc, folder, before, sig, aim)
    stdout, stderr = proc.communicate(timeout=600)
    sent = signal.Signals(sig).name if sig is not None else None
    return Launch(resumed, sent, proc.returncode, stdout, stderr, landed,
                  any(folder.glob("..train-state.*")))


def spawn(cmd: list[str], stdout) -> subprocess.Popen:
    """Popen, retried: on a shared machine fork can fail for a moment (EAGAIN)."""
    for attempt in range(10):
        try:
            return subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=ENV)
        except BlockingIOError:
            if attempt == 9:
                raise
            time.sleep(3)


def _interrupt(proc: subprocess.Popen, folder: Path, before: set, sig: int,
               aim: tuple[bool, float]) -> str:
    """Send ``sig`` as aimed; return where it landed (one of LANDED)."""
    after_first_save, delay = aim
    while after_first_save and proc.poll() is None and not _stamps(folder) - before:
        time.sleep(0.002)
    try:
        proc.wait(timeout=delay)
        return LANDED[3]
    except subprocess.TimeoutExpired:
        landed = (LANDED[2] if (folder / "model.keras").exists() else
                  LANDED[1] if _stamps(folder) - before else LANDED[0])
        proc.send_signal(sig)
        return landed


def _stamps(folder: Path) -> set[tuple[str, int]]:
    """(name, mtime) of each saved state: a new pair means the run saved an epoch."""
    stamps = set()
    for path in states_in(folder):
        with contextlib.suppress(FileNotFoundError):  # removed by the run that just finished
            stamps.add((path.name, path.stat().st_mtime_ns))
    return stamps


def timeline(folder: Path, epochs: int) -> Timeline:
    """Run straight once, watching the folder: when states were saved, when it ended."""
    start = time.monotonic()
    proc = spawn(command(folder, epochs, False), subprocess.DEVNULL)
    saves, seen = [], set()
    while proc.poll() is None:
        stamps = _stamps(folder)
        if stamps - seen:
            saves.append(time.monotonic() - start)
        seen |= stamps
        time.sleep(0.002)
    if proc.returncode != 0 or not saves:
        raise SystemExit(f"the straight run failed: {proc.stderr.read()[-2000:]}")
    return Timeline(saves[0], saves[-1], time.monotonic() - start, epochs)


def weights(folder: Path) -> list:
    """The trained model's weights."""
    from training.tf import import_keras

    return import_keras().saving.load_model(folder / "model.keras", compile=False).get_weights()


def one_try(folder: Path, epochs: int, line: Timeline, rng: random.Random) -> list[Launch]:
    """1-3 interrupted runs, then one that finishes (or fails)."""
    launches = []
    for _ in range(rng.randint(1, 3)):
        sig = rng.choice([signal.SIGINT, signal.SIGKILL])
        aim = ((False, rng.uniform(0, line.end)) if rng.random() < 0.25
               else (True, rng.uniform(0, line.epochs_span)))
        launches.append(run(folder, epochs, sig, aim))
        if launches[-1].rc not in INTERRUPTED or finished(folder):
            return launches  # it finished (the signal came too late), or failed
    launches.append(run(folder, epochs))
    return launches


def finished(folder: Path) -> bool:
    """The run's artifacts are all written and its saved state is gone."""
    return (folder / "metrics.json").exists() and not states_in(folder)


def judge(folder: Path, final: Launch, reference: tuple[list, dict]) -> str:
    """How a try ended: "same as straight", "differs", "not resumable" or "failed"."""
    import numpy as np

    if not finished(folder):
        return "not resumable" if "cannot be resumed" in final.stderr else "failed"
    history = json.loads((folder / "metrics.json").read_text())["history"]
    same = history == reference[1] and all(
        np.array_equal(a, b) for a, b in zip(weights(folder), reference[0], strict=True))
    return "same as straight" if same else "differs"


def tally(tries: list[tuple[list[Launch], str]]) -> dict[str, int]:
    """Counts over every try and launch."""
    launches = [launch for runs, _ in tries for launch in runs]
    interrupted = [launch for launch in launches if launch.landed]
    live = [launch for launch in interrupted if launch.landed != LANDED[3]]
    count = collections.Counter(outcome for _, outcome in tries)
    return {
        "tries": len(tries),
        "runs started": len(launches),
        "runs started with --resume": sum(launch.resumed for launch in launches),
        "SIGINT sent while the run was going": sum(launch.sent == "SIGINT" for launch in live),
        "... which ended with the one-line message and exit 130": sum(
            launch.sent == "SIGINT" and launch.rc == 130 and _last_line(launch).startswith(
                "error: training interrupted") for launch in live),
        "... which came as Python was exiting, all written (killed by SIGINT, no message)": sum(
            launch.sent == "SIGINT" and launch.rc == -signal.SIGINT for launch in live),
        "SIGKILL sent while the run was going": sum(launch.sent == "SIGKILL" for launch in live),
        "kills inside a state write (temporary file left, removed on the next start)": sum(
            launch.temp_left for launch in interrupted),
        "resumes that skipped a damaged state": sum("skipping a damaged state" in launch.stdout
                                                    for launch in launches),
        "**runs that could not be resumed**": count["not resumable"],
        "**finished runs whose weights or history differ from the straight run**": count["differs"],
        "**tracebacks**": sum("Traceback" in launch.stderr for launch in launches),
        "**exit codes other than 0, 1, 130, SIGINT, SIGKILL**": sum(
            launch.rc not in (0, 1, *INTERRUPTED) for launch in launches),
        "**tries that failed otherwise**": count["failed"],
        "tries that finished identical to the straight run": count["same as straight"],
    }


def landed_table(tries: list[tuple[list[Launch], str]]) -> list[str]:
    """Markdown rows: where the interruptions landed, by signal."""
    rows = collections.Counter((launch.landed, launch.sent) for runs, _ in tries for launch in runs
                               if launch.landed)
    lines = ["| the signal landed | SIGINT | SIGKILL |", "|---|---:|---:|"]
    for where in LANDED:
        lines.append(f"| {where} | {rows[(where, 'SIGINT')]} | {rows[(where, 'SIGKILL')]} |")
    return lines


def _last_line(launch: Launch) -> str:
    """The last line of stderr that is not TensorFlow's start-up logging."""
    lines = [line for line in launch.stderr.strip().splitlines() if not line.startswith(TF_LOG)]
    return lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-soak.md")
    args = parser.parse_args()
    # Started in the background by a script, this process inherits SIGINT ignored, and so
    # would every run it starts: give it a handler, which exec resets to the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng, started = random.Random(args.seed), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        straight = Path(work) / "straight"
        line = timeline(straight, args.epochs)
        history = json.loads((straight / "metrics.json").read_text())["history"]
        reference = weights(straight), history
        print(f"straight run: first state at {line.first_state:.1f} s, ended at {line.end:.1f} s",
              flush=True)
        tries = []
        for i in range(args.tries):
            folder = Path(work) / f"try{i}"
            runs = one_try(folder, args.epochs, line, rng)
            tries.append((runs, judge(folder, runs[-1], reference)))
            steps = ", ".join(f"{r.sent or 'no signal'} {r.landed or ''} -> {r.rc}" for r in runs)
            print(f"try {i + 1}/{args.tries}: {steps}: {tries[-1][1]}", flush=True)
            if tries[-1][1] == "same as straight":
                shutil.rmtree(folder)
            else:
                print("\n".join(f"  {_last_line(r)}" for r in runs), flush=True)
    counts, minutes = tally(tries), (time.monotonic() - started) / 60
    report = render(counts, landed_table(tries), tries, args, line, minutes)
    print(report)
    args.out.write_text(report)


def render(counts: dict, landed: list[str], tries, args, line: Timeline, minutes: float) -> str:
    """The results page."""
    failures = [_last_line(runs[-1]) for runs, outcome in tries
                if outcome in ("not resumable", "failed")]
    tracebacks = [f"{launch.sent} {launch.landed}: {_last_line(launch)}" for runs, _ in tries
                  for launch in runs if "Traceback" in launch.stderr]
    lines = [
        "# Resume soak", "",
        f"Run on {date.today().isoformat()}: {machine.describe()}. {args.tries} tries of "
        f"`python cli.py train --dataset mnist-5k --epochs {args.epochs}` (dense, 4,000 real "
        "digits) into a fresh folder, each stopped 1-3 times by SIGINT or SIGKILL (a coin toss) "
        "at a random moment, restarted with `--resume` whenever a saved state was in the folder, "
        f"then run to the end. The straight run saved its first state {line.first_state:.1f} s "
        f"after its start, its last at {line.last_state:.1f} s, and ended at {line.end:.1f} s; "
        "a quarter of the signals went at a random moment of a whole run, the rest at a random "
        "moment after the run's first saved epoch, within the time the straight run's epochs "
        f"took from there ({line.epochs_span:.1f} s). Took {minutes:.0f} min. Produced by "
        f"`python bench/soak.py --tries {args.tries} --seed {args.seed}`.",
        "", "| count | |", "|---|---:|",
        *[f"| {name} | {value} |" for name, value in counts.items()],
        "", *landed, "",
    ]
    for title, items in (("Failures", failures), ("Tracebacks (last line)", tracebacks)):
        if items:
            lines += [f"{title}:", "", *[f"- `{item}`" for item in items[:10]], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
