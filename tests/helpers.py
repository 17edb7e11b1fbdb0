"""What the tests share besides fixtures: running the real command line and checking its errors."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TRUNCATIONS = 10  # damaged copies of each kind in ``hostile_models``
BIT_FLIPS = 14


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python cli.py ARGS`` in a subprocess and capture its output (TimeoutExpired
    past ``timeout`` seconds)."""
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=cwd, env=_cli_env(env),
                          capture_output=True, text=True, timeout=timeout)


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``python cli.py ARGS`` in the background (to interrupt it), with text pipes for its output."""
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *args], env=_cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli_env(extra: dict | None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str, code: int = 1) -> None:
    """The process failed with ``code``, printed no traceback, and its last stderr line names the problem."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in last, (fragment, last)


def hostile_models(good: bytes, folder) -> list:
    """Truncations at many offsets, bit flips in the header and tables, wrong identifiers, junk."""
    rng = random.Random(1)
    blobs = {"empty": b"", "random": bytes(rng.randrange(256) for _ in range(5000)),
             "wrong-id": good[:4] + b"TFL2" + good[8:], "text": b"hello, this is not a model\n" * 40}
    for i in range(TRUNCATIONS):
        blobs[f"trunc{i}"] = good[: rng.randrange(8, len(good))]
    for i in range(BIT_FLIPS):
        flipped = bytearray(good)
        for _ in range(rng.choice([1, 8, 32])):
            flipped[rng.randrange(8, 3000)] ^= 1 << rng.randrange(8)
        blobs[f"flip{i}"] = bytes(flipped)
    paths = []
    for name, blob in blobs.items():
        path = folder / f"{name}.tflite"
        path.write_bytes(blob)
        paths.append(path)
    return paths
