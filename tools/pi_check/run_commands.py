"""Run the installed ``mnist-edge`` the way a device user would and keep every answer.

``python run_commands.py --bin VENV/bin --inputs DIR --out OUT`` is run by the venv's own
Python, on x86 for the reference and inside the emulated Pi for the check. For each model in
DIR/models it runs ``inspect --json``, ``predict --json`` on DIR/digits, ``evaluate --json`` on
DIR/mnist-5k.npz and ``classify --json --source DIR/digits``, then scores the whole test split
through ``runtime.Classifier`` (every class's probability, not only the top one). Writes
OUT/commands.json (argv, exit code, wall seconds, stdout, stderr per command), OUT/split-*.npy
and OUT/environment.json. Uses only the standard library and what the wheel installs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("float32", "int8", "int8-static")
# Debian's python3-numexpr is compiled against Debian's numpy 1.24, like Pi OS's python3-simplejpeg
# (which picamera2 imports): it shows whether the venv's numpy breaks apt's numpy extensions.
APT_NUMPY_EXTENSION = "numexpr"


def run(name: str, argv: list[str], timeout: float = 1800) -> dict:
    """Run one command; never raises on its failure (the comparison judges it)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or b""  # bytes, even with text=True
        out = partial if isinstance(partial, str) else partial.decode(errors="replace")
        rc, err = -9, f"timed out after {timeout:.0f} s"
    except OSError as exc:  # e.g. EAGAIN from fork on a machine out of processes
        rc, out, err = -1, "", f"could not start: {exc}"
    seconds = time.perf_counter() - start
    print(f"{name}: exit {rc} in {seconds:.1f} s", flush=True)
    return {
        "name": name,
        "argv": argv,
        "rc": rc,
        "seconds": round(seconds, 3),
        "stdout": out,
        "stderr": err,
    }


def commands(tool: str, python: str, inputs: Path, out: Path) -> list[tuple[str, list[str]]]:
    """Every command of the check, named ``COMMAND:VARIANT``."""
    digits = sorted(str(p) for p in (inputs / "digits").glob("*.png"))
    data = str(inputs / "mnist-5k.npz")
    todo = [("version", [tool, "--version"])]
    for v in VARIANTS:
        model = str(inputs / "models" / f"model.{v}.tflite")
        todo += [
            (f"inspect:{v}", [tool, "inspect", model, "--json"]),
            (f"predict:{v}", [tool, "predict", model, *digits, "--json"]),
            (f"evaluate:{v}", [tool, "evaluate", model, "--data-dir", data, "--json"]),
            (
                f"classify:{v}",
                [
                    tool,
                    "classify",
                    model,
                    "--source",
                    str(inputs / "digits"),
                    "--max-frames",
                    str(len(digits)),
                    "--json",
                ],
            ),
            (f"split:{v}", [python, __file__, "split", model, data, str(out / f"split-{v}.npy")]),
        ]
    return todo


def split_scores(model: str, data: str, dest: str) -> None:
    """Every class's probability for every test image, through the installed runtime."""
    import numpy as np

    from runtime import Classifier

    with np.load(data, allow_pickle=False) as arrays:
        x = arrays["x_test"]
    np.save(dest, Classifier(model).scores(x))


def environment(python: str) -> dict:
    """Python, machine, the packages the venv resolved, where numpy comes from, apt's extension."""
    probe = ("import json, numpy; "
             "print(json.dumps({'version': numpy.__version__, 'file': numpy.__file__}))")
    numpy_info = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    ext = subprocess.run(
        [python, "-c", f"import {APT_NUMPY_EXTENSION}; print({APT_NUMPY_EXTENSION}.__file__)"],
        capture_output=True,
        text=True,
    )
    versions = {}
    for dist in (
        "mnist-edge",
        "numpy",
        "ai-edge-litert",
        "tflite-runtime",
        "pillow",
        "tflite",
        "typer",
        "flatbuffers",
        "ml_dtypes",
    ):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "libc": " ".join(platform.libc_ver()),
        "platform": platform.platform(),
        "packages": versions,
        "numpy": json.loads(numpy_info.stdout)
        if numpy_info.returncode == 0
        else {"error": numpy_info.stderr},
        "apt_numpy_extension": {
            "module": APT_NUMPY_EXTENSION,
            "imports": ext.returncode == 0,
            "detail": (ext.stdout or ext.stderr).strip().splitlines()[-1:] or [""],
        },
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "split":
        split_scores(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, required=True, help="the venv's bin folder")
    parser.add_argument("--inputs", type=Path, required=True, help="models/, digits/, mnist-5k.npz")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    python, tool = str(args.bin / "python"), str(args.bin / "mnist-edge")
    (args.out / "environment.json").write_text(json.dumps(environment(python), indent=1))
    results = [run(name, argv) for name, argv in commands(tool, python, args.inputs, args.out)]
    (args.out / "commands.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
