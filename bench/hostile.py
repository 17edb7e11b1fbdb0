"""Count how hostile model files end, under both back-ends: write bench/results-hostile.md.

Builds the tests' small real model (tools/test_models.py) and derives hundreds of damaged
copies of its int8 file: truncations at random offsets, bit flips in the header and
tables, bit flips anywhere, wrong identifiers, junk. Then, under ai-edge-litert and
under tflite-runtime 2.14 (each in its own venv), every file goes through what the
command line does before it classifies: the flatbuffer verifier (``runtime.modelfile.structure``),
the parser (``runtime.modelfile.reader``), then the interpreter in a child process
(``runtime.inference.probe``). For comparison each file is also handed straight to a bare
interpreter with no checks in front, in a child process, and its crashes counted.
What the checks cost is timed on the undamaged model against the interpreter's own load.

    python bench/hostile.py [--files 600] [--out bench/results-hostile.md]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

KINDS = ("truncated", "flipped header/tables", "flipped anywhere", "wrong identifier", "junk")
OUTCOMES = ("refused by the verifier", "refused by the parser", "refused by the interpreter",
            "crashed in the child, reported", "loads and runs")
BARE = "crashes a bare interpreter"


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
    """How one file ends on the checked path: which check stopped it, or it runs."""
    from runtime.common.errors import ModelError
    from runtime.inference.probe import probe
    from runtime.modelfile.reader import read_model
    from runtime.modelfile.structure import FlatbufferError, check_structure

    try:
        check_structure(path.read_bytes())
    except FlatbufferError:
        return "refused by the verifier"
    try:
        info = read_model(path)
    except ModelError:
        return "refused by the parser"
    try:
        probe(path, content=info.content)
    except ModelError as exc:
        return "crashed in the child, reported" if "crashed" in str(exc) else "refused by the interpreter"
    return "loads and runs"


def bare_crashes(path: Path) -> bool:
    """The file handed to the interpreter with no checks at all kills its process."""
    proc = subprocess.run([sys.executable, __file__, "--bare", str(path)], capture_output=True, timeout=120)
    return proc.returncode < 0


def bare(path: str) -> None:
    """Load, allocate and invoke ``path`` straight through the back-end: the baseline without checks."""
    import numpy as np

    from runtime.inference.backend import get_backend

    try:
        interpreter = get_backend().interpreter_class(model_path=path, num_threads=1)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except Exception:  # noqa: BLE001 - any Python-level refusal is fine; only a crash counts here
        pass


def check_cost(path: Path, repeats: int = 200) -> dict[str, float]:
    """Median milliseconds, on the undamaged model: verify, the whole read (verify + parse), an interpreter load."""
    import statistics

    from runtime.inference.backend import get_backend
    from runtime.modelfile.reader import read_model
    from runtime.modelfile.structure import check_structure

    content, interpreter = path.read_bytes(), get_backend().interpreter_class

    def load():
        interpreter(model_content=content, num_threads=1).allocate_tensors()

    out = {}
    for name, fn in (("verify", lambda: check_structure(content)), ("read", lambda: read_model(path)), ("load", load)):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[name] = 1000 * statistics.median(times)
    return out


def judge(folder: Path) -> None:
    """Print one JSON line per corpus file: its kind, outcome, and whether a bare interpreter crashes."""
    from runtime.inference.backend import get_backend

    print(json.dumps({"backend": get_backend().name, "cost_ms": check_cost(folder / "good.tflite")}))
    for name, kind in json.loads((folder / "kinds.json").read_text()).items():
        path = folder / name
        print(json.dumps({"kind": kind, "outcome": outcome(path), "bare_crash": bare_crashes(path)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-hostile.md")
    args = parser.parse_args()
    from tools.test_models import build_digits_model

    with tempfile.TemporaryDirectory() as tmp:
        folder, corpus_dir = Path(tmp), Path(tmp) / "corpus"
        corpus_dir.mkdir()
        build_digits_model(folder)
        good = (folder / "model.int8.tflite").read_bytes()
        kinds = {}
        for i, (kind, blob) in enumerate(corpus(good, args.files, random.Random(0))):
            kinds[f"{i:05d}.tflite"] = kind
            (corpus_dir / f"{i:05d}.tflite").write_bytes(blob)
        (corpus_dir / "kinds.json").write_text(json.dumps(kinds))
        (corpus_dir / "good.tflite").write_bytes(good)
        runs = {}
        for backend, python in machine.BACKEND_PYTHONS.items():
            if python.exists():
                runs[backend] = _run(python, backend, corpus_dir)
    report = _markdown(runs, args.files, len(good))
    _, inputs = machine.split_results(args.out, machine.HOSTILE_INPUTS_MARKER)  # bench/hostile_inputs.py's part
    args.out.write_text(report + ("\n" + inputs if inputs else ""))
    print(report)


def _run(python: Path, backend: str, corpus_dir: Path) -> dict:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MNIST_EDGE_BACKEND": backend}
    proc = subprocess.run([str(python), __file__, "--judge", str(corpus_dir)], env=env, capture_output=True,
                          text=True, timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"the {backend} run failed: {proc.stderr.strip().splitlines()[-1]}")
    lines = proc.stdout.strip().splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for row in rows:
        counts[row["kind"]][row["outcome"]] += 1
        counts[row["kind"]][BARE] += row["bare_crash"]
    return {"counts": counts, "seconds": time.perf_counter() - start, "cost_ms": json.loads(lines[0])["cost_ms"]}


def _markdown(runs: dict, files: int, size: int) -> str:
    columns = [*OUTCOMES, BARE]
    lines = [
        "# Hostile model files",
        "",
        f"Run on {date.today().isoformat()}: {machine.describe()}. {files} damaged copies of a {size:,}-byte int8 "
        "model, each sent through the checks the command line makes (flatbuffer verifier, parser, then one load, "
        "allocate and invoke in a child process), and separately handed to a bare interpreter with no checks, "
        "in a child process. Produced by `python bench/hostile.py`.",
    ]
    for backend, run in runs.items():
        counts = run["counts"]
        cost = run["cost_ms"]
        lines += ["", f"## {backend} ({run['seconds']:.0f} s)", "",
                  f"Cost of the checks on the undamaged model (medians of 200): verifier {cost['verify']:.2f} ms, "
                  f"verifier + parser {cost['read']:.2f} ms, against {cost['load']:.2f} ms for the interpreter "
                  f"to load and allocate it ({cost['read'] / cost['load']:.2f}x).", "",
                  "| damage | files | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
        total = collections.Counter()
        for kind in KINDS:
            c = counts[kind]
            total.update(c)
            lines.append(f"| {kind} | {sum(c[o] for o in OUTCOMES)} | " + " | ".join(str(c[k]) for k in columns)
                         + " |")
        lines.append(f"| all | {sum(total[o] for o in OUTCOMES)} | " + " | ".join(str(total[k]) for k in columns)
                     + " |")
    totals = {b: sum((r["counts"][k] for k in KINDS), collections.Counter()) for b, r in runs.items()}
    lines += ["", "Interpreter crashes behind the checks (in the child, each reported as one line): " + ", ".join(
        f"{b} {t['crashed in the child, reported']}" for b, t in totals.items())
        + ". Processes killed when handed the same files with no checks: "
        + ", ".join(f"{b} {t[BARE]} of {files}" for b, t in totals.items()) + "."]
    lines += ["", "\"loads and runs\" files are legal models: flipped bits that landed in weights or names, or a cut "
              "that removed only part of the appended labels zip. The last column is what a file would do to a "
              "program that loads models without these checks."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        bare(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--judge":
        judge(Path(sys.argv[2]))
    else:
        main()
