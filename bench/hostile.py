"""Count how hostile model files end: write bench/results-hostile.md.

Builds the tests' small real model (tests/models.py), derives hundreds of damaged
copies from its int8 file (truncations at random offsets, bit flips in the header
and tables, bit flips anywhere, wrong identifiers, junk) and sends each through
what ``inspect`` and the command line do before classifying: the pure-Python parser
(``runtime.modelfile``), then the interpreter in a child process (``runtime.guard``).
Every outcome is counted; a crash of the child counts as "crashed, reported".

    python bench/hostile.py [--files 400] [--out bench/results-hostile.md]
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench import machine  # noqa: E402
from models import build_digits_model  # noqa: E402
from runtime.backend import get_backend  # noqa: E402
from runtime.errors import ModelError  # noqa: E402
from runtime.guard import probe  # noqa: E402
from runtime.modelfile import read_model  # noqa: E402

KINDS = ("truncated", "flipped header/tables", "flipped anywhere", "wrong identifier", "junk")


def corpus(good: bytes, count: int, rng: random.Random):
    """(kind, bytes) pairs: damaged copies of ``good``."""
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        if kind == "truncated":
            yield kind, good[: rng.randrange(0, len(good))]
        elif kind.startswith("flipped"):
            blob = bytearray(good)
            limit = 4000 if kind == "flipped header/tables" else len(good)
            for _ in range(rng.choice([1, 2, 8, 32])):
                blob[rng.randrange(8, limit)] ^= 1 << rng.randrange(8)
            yield kind, bytes(blob)
        elif kind == "wrong identifier":
            yield kind, good[:4] + bytes(rng.randrange(256) for _ in range(4)) + good[8:]
        else:
            yield kind, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20000)))


def outcome(path: Path) -> str:
    """How one file ends: loads and runs, or which check stopped it."""
    try:
        read_model(path)
    except ModelError:
        return "rejected by the parser"
    try:
        probe(path)
    except ModelError as exc:
        return "crashed in the child, reported" if "crashed" in str(exc) else "rejected by the interpreter"
    return "loads and runs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-hostile.md")
    args = parser.parse_args()
    rng = random.Random(0)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_digits_model(folder)
        good = (folder / "model.int8.tflite").read_bytes()
        start = time.perf_counter()
        for i, (kind, blob) in enumerate(corpus(good, args.files, rng)):
            path = folder / f"hostile{i}.tflite"
            path.write_bytes(blob)
            counts[kind][outcome(path)] += 1
            path.unlink()
        seconds = time.perf_counter() - start
    report = _markdown(counts, args.files, len(good), seconds)
    args.out.write_text(report)
    print(report)


def _markdown(counts, files: int, size: int, seconds: float) -> str:
    columns = ["rejected by the parser", "rejected by the interpreter", "crashed in the child, reported",
               "loads and runs"]
    lines = [
        "# Hostile model files",
        "",
        f"Run on {date.today().isoformat()}: {machine.describe()}; back-end {get_backend().name}. "
        f"{files} damaged copies of a {size:,}-byte int8 model, each read by the parser and then loaded, "
        f"allocated and invoked once by the interpreter in a child process, in {seconds:.0f} s. "
        "Produced by `python bench/hostile.py`.",
        "",
        "| damage | files | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for kind in KINDS:
        c = counts[kind]
        lines.append(f"| {kind} | {sum(c.values())} | " + " | ".join(str(c[col]) for col in columns) + " |")
    total = collections.Counter()
    for c in counts.values():
        total.update(c)
    lines.append(f"| all | {sum(total.values())} | " + " | ".join(str(total[col]) for col in columns) + " |")
    lines += ["", "Every file ended with a message or a working model; none took the parent process down. "
              "\"loads and runs\" files are legal models: flipped bits that landed in weights or names, "
              "or a cut that removed only part of the appended labels zip."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
