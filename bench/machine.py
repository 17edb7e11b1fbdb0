"""The machine a benchmark ran on, named the same way in every results file."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The Python of each interpreter back-end: this venv's (ai-edge-litert) and the
# tflite-runtime 2.14 venv the Makefile builds (`make test-tflite-runtime`).
BACKEND_PYTHONS = {"ai_edge_litert": Path(sys.executable), "tflite_runtime": ROOT / ".venv-tflite" / "bin" / "python"}


def cpu() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def describe() -> str:
    """One line: architecture, CPU, cores, Python."""
    return f"{platform.machine()}, {cpu()}, {cores()} cores, Python {platform.python_version()}"


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry over from the parent across exec)."""
    return _status_kb("VmHWM") / 1024


def rss_mb() -> float:
    """This process's current RSS."""
    return _status_kb("VmRSS") / 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# bench/results-hostile.md holds two benchmarks' results: bench/hostile.py's (model files) first,
# then, from this line on, bench/hostile_inputs.py's. Each rewrites only its own part.
HOSTILE_INPUTS_MARKER = "<!-- from here on: bench/hostile_inputs.py -->"


def split_results(path: Path, marker: str) -> tuple[str, str]:
    """A results file's text before ``marker`` and from it on ("" for a missing file or marker)."""
    text = path.read_text() if path.exists() else ""
    at = text.find(marker)
    return (text, "") if at < 0 else (text[:at], text[at:])
