"""Run command-line cases through the real ``cli.main`` in worker processes, each case timed out.

A worker is a child Python that imports the command line once and then runs case after
case in-process, exactly as the ``mnist-edge`` entry point does (``cli:main``), with file
descriptors 1 and 2 captured so native library output is seen too. The parent gives
each case a deadline: a case that hangs, or kills its worker with a signal, is recorded
as such, and a new worker carries on with the next case. The worker runs without the
root user's permission overrides (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so an
unreadable file or a read-only folder behaves as it does for any user.

    results = run_cases(cases, cwd=tmp)   # one Result per Case, in order

``python tools/fuzz_runner.py --worker FILE`` is the worker (cases as JSON in FILE).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE_TIMEOUT_S = 60.0  # a case still running after this is a hang
WORKER_START_S = 120.0  # a new worker importing the command line (and TensorFlow, for its cases)
EXIT_CODES = (0, 1, 2)  # success, bad input, usage
TF_BLOCKED = "need TensorFlow, which is not installed here"  # training.tf's words, TF blocked
# Lines the command line itself writes to stderr; anything else there is a library's chatter.
OWN_STDERR = re.compile(r"^(error: |note: |\d+ frames in |stopped \(Ctrl-C\)|back-end: |"
                        r"class names: )")
RUNTIME_COMMANDS = ("inspect", "predict", "evaluate", "classify", "report")
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@dataclass(frozen=True)
class Case:
    """One command line to run.

    Attributes:
        kind: what is hostile in it (dataset, image, video, model, option, filesystem).
        name: a short unique id.
        args: the arguments after ``cli.py`` (paths may hold surrogate-escaped bytes).
        expect: the exit codes that count as handled (e.g. (1,) for a damaged file:
            exit 0 would mean it was silently accepted).
        tensorflow: it may run TensorFlow (train / export / demo getting past their inputs).
    """

    kind: str
    name: str
    args: tuple[str, ...]
    expect: tuple[int, ...] = EXIT_CODES
    tensorflow: bool = False


@dataclass
class Result:
    """How a case ended: its exit code (None: hung or killed), output, and what is wrong with it."""

    case: Case
    code: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    death: str | None = None  # "hang" or the signal's name
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """ok (exit 0), refused (1), usage (2), or the first problem."""
        if self.problems:
            return self.problems[0].split(":")[0]
        return {0: "ok", 1: "refused", 2: "usage"}[self.code]


def judge(result: Result) -> Result:
    """Fill ``result.problems``: a traceback, a bug line, a hang or signal, an exit code not in
    ``EXIT_CODES`` or not expected, a failure without a final ``error:`` line, an ``error:`` on
    success, TensorFlow reached by a case that should not, or library chatter on stderr."""
    case, out, err = result.case, result.stdout, result.stderr
    lines = err.strip().splitlines()
    checks = [
        (result.death is not None, f"{result.death}: no exit"),
        ("Traceback" in out + err, "traceback"),
        ("this is a bug" in err, "bug: unexpected exception"),
        (result.code is not None and result.code not in EXIT_CODES, f"exit: code {result.code}"),
        (result.code is not None and result.code not in case.expect,
         f"unexpected: exit {result.code}"),
        (bool(result.code) and not (lines and lines[-1].startswith("error: ")), "no-error-line"),
        (result.code == 0 and any(ln.startswith("error: ") for ln in lines), "error-on-success"),
        (not case.tensorflow and TF_BLOCKED in err, "reached-tensorflow"),
        (_runtime_command(case) and "--verbose" not in case.args
         and any(not OWN_STDERR.match(ln) for ln in lines), "chatter"),
    ]
    result.problems = [f"{label} ({_last(err)})" for bad, label in checks if bad]
    return result


def _runtime_command(case: Case) -> bool:
    return bool(case.args) and case.args[0] in RUNTIME_COMMANDS


def _last(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:200] if lines else "no output"


def run_cases(cases: list[Case], cwd: Path, workers: int = 2, timeout: float = CASE_TIMEOUT_S,
              allow_tensorflow: bool = False) -> list[Result]:
    """Run every case in worker processes and judge it.

    Args:
        cases: the cases.
        cwd: the working folder for the commands (``train`` writes artifacts/ there).
        workers: worker processes running side by side.
        timeout: seconds a case may run.
        allow_tensorflow: let workers import TensorFlow; otherwise importing it fails, so a
            case that reaches it ends in ``TF_BLOCKED`` (and fails ``judge`` unless marked).

    Returns:
        One judged Result per case, in the order of ``cases``.
    """
    results: dict[int, Result] = {}
    shares = [list(range(w, len(cases), workers)) for w in range(workers)]
    threads = [threading.Thread(target=_drive,
                                args=(cases, share, cwd, timeout, allow_tensorflow, results))
               for share in shares if share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [judge(results[i]) for i in range(len(cases))]


def _drive(cases, todo, cwd, timeout, allow_tf, results) -> None:
    """Feed ``todo`` to a worker; after a hang or a death, record it and start another."""
    while todo:
        progress, note = _run_worker(cases, todo, cwd, timeout, allow_tf, results)
        todo = [i for i in todo if i not in results]
        if todo and not progress:  # the worker could not even start: say why, once per case
            for i in todo:
                results[i] = Result(cases[i], None, death=f"worker failed ({note})")
            return


def _run_worker(cases, todo, cwd, timeout, allow_tf, results) -> tuple[bool, str]:
    """One worker over ``todo`` until it finishes, hangs or dies.

    Returns:
        (whether any case finished, the last line of the worker's own stderr).
    """
    with tempfile.TemporaryDirectory(prefix="fuzz-worker-") as tmp:
        job, log = Path(tmp) / "job.json", Path(tmp) / "stderr.txt"
        job.write_text(json.dumps({"cases": [[i, list(cases[i].args)] for i in todo],
                                   "timeout": timeout, "allow_tensorflow": allow_tf}))
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(job)], cwd=cwd,
                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err, preexec_fn=_without_file_override)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        current, started, progress = None, time.monotonic(), False
        while True:
            try:
                line = lines.get(timeout=(timeout + 10) if current is not None else WORKER_START_S)
            except queue.Empty:  # hung inside native code, past the worker's own alarm
                proc.kill()
                death = "hang"
                break
            if line is None:
                code = proc.wait()
                death = signal.Signals(-code).name if code < 0 else f"worker exit {code}"
                break
            msg = json.loads(line)
            if "start" in msg:
                current, started = msg["start"], time.monotonic()
                continue
            results[msg["i"]] = Result(cases[msg["i"]], msg["code"], msg["stdout"], msg["stderr"],
                                       msg["seconds"], msg.get("death"))
            current, progress = None, True
        proc.wait()
        proc.stdout.close()
        if current is not None:
            results[current] = Result(cases[current], None, death=death,
                                      seconds=time.monotonic() - started)
            progress = True
        return progress, _last(log.read_text(errors="replace"))


def _without_file_override() -> None:
    """In the child, before exec: drop root's permission overrides (a no-op when not root)."""
    if os.geteuid() == 0:
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            _PRCTL(PR_CAPBSET_DROP, cap, 0, 0, 0)


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the forked child only calls it


class _CaseTimeout(BaseException):
    """The alarm of a case that runs too long (a BaseException: cli.main must not catch it)."""


def _worker(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    if not job["allow_tensorflow"]:
        sys.modules["tensorflow"] = None  # importing it raises ImportError; training.tf reports it
    sys.path.insert(0, str(ROOT))
    import cli
    from runtime.common.chatter import show_library_output

    def alarm(*_):
        raise _CaseTimeout()

    signal.signal(signal.SIGALRM, alarm)
    out = os.fdopen(os.dup(1), "w", buffering=1)  # results for the parent; fd 1 is the case's
    cwd = os.getcwd()
    for i, args in job["cases"]:
        print(json.dumps({"start": i}), file=out)
        show_library_output(False)
        os.chdir(cwd)
        start = time.monotonic()
        with _captured() as captured:
            code, death = _run(cli.main, args, job["timeout"])
        seconds = round(time.monotonic() - start, 3)
        print(json.dumps({"i": i, "code": code, "death": death, "seconds": seconds, **captured}),
              file=out)


def _run(main, args: list[str], timeout: float) -> tuple[int | None, str | None]:
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        main(args)
        return 0, None
    except SystemExit as exc:
        return (exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1), None
    except _CaseTimeout:
        return None, "hang"
    except BaseException as exc:  # noqa: BLE001 - escaped the error boundary: print it as the process would have
        import traceback

        traceback.print_exception(exc)
        return 1, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def _captured():
    """Capture descriptors 1 and 2 (Python's and native code's writes) into the dict yielded."""
    captured = {"stdout": "", "stderr": ""}
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        files = {1: out, 2: err}
        saved = {fd: os.dup(fd) for fd in files}
        try:
            for fd, f in files.items():
                os.dup2(f.fileno(), fd)
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, f in files.items():
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                f.seek(0)
                captured["stdout" if fd == 1 else "stderr"] = f.read().decode("utf-8", "replace")


# Runs the command line as its child and reports the children's peak RSS: measured from a small
# process, because a child's ru_maxrss starts from the RSS of the process that forked it.
_RSS_WRAPPER = ("import json, resource, subprocess, sys; "
                "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "print(json.dumps({'code': p.returncode, 'stdout': p.stdout, 'stderr': p.stderr, "
                "'kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def peak_rss(args: list[str], timeout: float = 600,
             cli: Path = ROOT / "cli.py") -> tuple[int, float, str, str]:
    """Run ``python cli.py ARGS`` in a subprocess: (exit code, peak RSS in MB of it and its
    children, stdout, stderr). ``cli`` may be another checkout's command line."""
    proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, sys.executable, str(cli), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(Path(cli).parent)})
    report = json.loads(proc.stdout)
    return report["code"], report["kb"] / 1024, report["stdout"], report["stderr"]


def summary(results: list[Result]) -> dict[str, dict[str, int]]:
    """Counts by kind and outcome: {kind: {outcome: n}}, with "all" for the totals."""
    table: dict[str, dict[str, int]] = {}
    for r in results:
        for kind in (r.case.kind, "all"):
            row = table.setdefault(kind, {})
            row[r.outcome] = row.get(r.outcome, 0) + 1
    return table


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker(sys.argv[2])
