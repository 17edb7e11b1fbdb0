"""Count how hostile inputs end across every command; measure predict's peak memory on large images.

Builds the tests' small real model (tools/test_models.py), then the whole corpus of
``tools/hostile_corpus.py`` (damaged datasets, images, videos, models, option values,
file-system cases; the test suite runs a subset) plus its TensorFlow sample, runs every
case through the command line in watched workers (``tools/fuzz_runner.py``) and counts
the outcomes by kind. Then it measures the peak RSS of ``predict`` (the process and its
model-check child) on large images, three runs each, against a small digit image in the
same run; ``--peer-rev REV`` also measures the code of an earlier commit on the same
images (extracted with ``git archive``, nothing in the repository changes).
Writes its part of bench/results-hostile.md (after bench/hostile.py's).

    python bench/hostile_inputs.py [--peer-rev 5c2a579] [--out bench/results-hostile.md]
"""

from __future__ import annotations

import argparse
import collections
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

KINDS = ("dataset", "image", "video", "model", "option", "filesystem", "tensorflow")
OUTCOMES = ("ok", "refused", "usage")
RSS_RUNS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-hostile.md")
    parser.add_argument("--peer-rev", help="also measure this commit's predict on the large images")
    args = parser.parse_args()
    from tools.fuzz_runner import run_cases
    from tools.hostile_corpus import build_corpus, tensorflow_cases
    from tools.hostile_files import large_images, save_digit
    from tools.test_models import build_digits_model
    from training.datasets import load_dataset

    digits = load_dataset("mnist-5k")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models, cwd = folder / "model", folder / "cwd"
        build_digits_model(models, digits)
        cwd.mkdir()
        start = time.perf_counter()
        results = run_cases(build_corpus(folder / "corpus", models, digits), cwd)
        results += run_cases(tensorflow_cases(folder / "tf", models, digits), cwd, workers=1,
                             timeout=600, allow_tensorflow=True)
        seconds = time.perf_counter() - start
        images = {"84x84 digit PNG (baseline)": save_digit(folder / "small.png", digits.x_test[0]),
                  **large_images(folder / "large", digits)}
        rss = {"this code": _rss(ROOT, models, images)}
        if args.peer_rev:
            rss[args.peer_rev] = _rss(_extract(args.peer_rev, folder / "peer"), models, images)
    section = _markdown(results, seconds, rss)
    before, _ = machine.split_results(args.out, machine.HOSTILE_INPUTS_MARKER)
    args.out.write_text(f"{before.rstrip()}\n\n{machine.HOSTILE_INPUTS_MARKER}\n{section}")
    print(section)


def _rss(root: Path, models: Path, images: dict[str, Path]) -> dict[str, tuple[float, str]]:
    """{image: (median peak RSS in MB, how predict ended)} for the command line under ``root``."""
    from tools.fuzz_runner import peak_rss

    model = str(models / "model.int8.tflite")
    out = {}
    for name, path in images.items():
        runs = [peak_rss(["predict", model, str(path)], cli=root / "cli.py")
                for _ in range(RSS_RUNS)]
        code, _, stdout, stderr = runs[0]
        said = stdout.strip().rsplit(": ", 1)[-1] if code == 0 else _last_line(stderr)[:90]
        out[name] = (statistics.median(r[1] for r in runs), said)
    return out


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _extract(rev: str, dest: Path) -> Path:
    """The tree of commit ``rev`` in ``dest`` (git archive: the repository is only read)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


INTRO = ("{count} cases generated from real digits and the tests' model by "
         "`tools/hostile_corpus.py` (the test suite runs a subset, `tests/test_fuzz.py`), each run "
         "through the command line (`cli.main`) in a worker process watched by "
         "`tools/fuzz_runner.py`, without root's permission override, 60 s allowed per case. "
         "*ok*: exit 0; *refused*: exit 1 ending in one `error:` line; *usage*: exit 2 with one "
         "`error:` line. Any other column is a failure: a traceback, the boundary's \"this is "
         "a bug\" line, a hang, a signal, library chatter on stderr, or an exit code the case does "
         "not allow (a damaged file accepted, say). Produced by `python bench/hostile_inputs.py` "
         "({seconds:.0f} s).")
FAILURES = ("Failures (tracebacks, bug lines, hangs, signal deaths, chatter, exits a case does not "
            "allow)")


def _markdown(results, seconds: float, rss: dict) -> str:
    from tools.fuzz_runner import summary

    counts = summary(results)
    failures = sorted({o for row in counts.values() for o in row} - set(OUTCOMES))
    columns = [*OUTCOMES, *failures]
    lines = ["# Hostile inputs: datasets, images, videos, models, options, files", "",
             f"Run on {date.today().isoformat()}: {machine.describe()}. "
             + INTRO.format(count=len(results), seconds=seconds), "",
             "| kind | cases | " + " | ".join(columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    for kind in (*KINDS, "all"):
        row = counts.get(kind, collections.Counter())
        cells = " | ".join(str(row.get(c, 0)) for c in columns)
        lines.append(f"| {kind} | {sum(row.values())} | {cells} |")
    failed = sum(n for o, n in counts["all"].items() if o not in OUTCOMES)
    lines += ["", f"{FAILURES}: {failed} of {len(results)}.", ""]
    lines += _rss_table(rss)
    return "\n".join(lines) + "\n"


def _rss_table(rss: dict) -> list[str]:
    names = list(next(iter(rss.values())))
    header = " | ".join(f"{code}: peak RSS | {code}: answer" for code in rss)
    lines = ["## Peak memory of predict on one large image", "",
             "Peak RSS of `predict MODEL IMAGE` and its model-check child (`ru_maxrss` of the "
             f"children of a small wrapper process), median of {RSS_RUNS} runs; the baseline is a "
             "small digit in the same run.", "",
             f"| image | {header} |", "|---|" + "---:|---|" * len(rss)]
    for name in names:
        cells = " | ".join(f"{rss[c][name][0]:.0f} MB | {rss[c][name][1]}" for c in rss)
        lines.append(f"| {name} | {cells} |")
    return lines


if __name__ == "__main__":
    main()
