"""Try a model in the real interpreter in a child process, so that a crash becomes a message.

The TFLite interpreter is C++: on some hostile files it can abort or segfault
instead of raising (``runtime.modelfile.structure`` rules out broken structure first, but not
every value the interpreter trusts). ``probe`` sends the model's bytes to
an isolated child Python (``child_command``), which verifies them, loads them, allocates the tensors
and runs one invoke; the parent reports how the child ended.
It costs one Python start (about 0.3 s), so the command line uses it before it
loads an unfamiliar file, and library users can call it when files come from
untrusted places.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from runtime.common.errors import ModelError
from runtime.inference.backend import BACKEND_ENV

PROBE_TIMEOUT_S = 60.0
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds runtime/


@dataclass(frozen=True)
class ProbeResult:
    """How the interpreter took the model: the back-end, and one invoke's output shape."""

    backend: str
    input_shape: list[int]
    output_shape: list[int]


def probe(path: str | os.PathLike, backend: str | None = None, timeout: float = PROBE_TIMEOUT_S,
          content: bytes | None = None) -> ProbeResult:
    """Load, allocate and invoke the model once in a child process.

    Args:
        path: the model file (read unless ``content`` is given; named in messages).
        backend: the interpreter module (see ``runtime.inference.backend``).
        timeout: seconds before a hung child counts as a failure.
        content: the model's bytes, when the caller has read (and verified) them:
            the child then checks exactly the bytes the caller will run.

    Raises:
        ModelError: the interpreter refused the model, crashed on it (the signal is
            named) or hung past ``timeout`` seconds.
    """
    env = {**os.environ, BACKEND_ENV: backend} if backend else None
    try:
        content = Path(path).read_bytes() if content is None else content
    except OSError as exc:
        raise ModelError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        proc = subprocess.run([*child_command(), str(path)], env=env, input=content, capture_output=True,
                              timeout=timeout)
    except OSError as exc:
        raise ModelError(f"cannot start the model check ({sys.executable}: {exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise ModelError(f"{path}: the interpreter did not finish loading it in {timeout:g} s") from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise ModelError(f"{path}: the TFLite interpreter crashed on it ({name}); the file is damaged or hostile")
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        detail = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"{path}: the interpreter check failed ({detail})") from None
    if "error" in report:
        raise ModelError(report["error"])
    return ProbeResult(report["backend"], report["input_shape"], report["output_shape"])


def child_command() -> list[str]:
    """The probe's command line: isolated (``-I``), so that neither ``PYTHON*`` variables nor a
    ``runtime/`` folder in the working directory can stand in for this package; the package's own
    root is the first place the child imports from."""
    code = f"import sys; sys.path.insert(0, {_ROOT!r}); from runtime.inference.probe import main; main()"
    return [sys.executable, "-I", "-c", code]


def main() -> None:
    """The child's entry point: the model's bytes on stdin, its path as the argument, JSON on stdout."""
    print(json.dumps(_child(sys.argv[1], sys.stdin.buffer.read())))


def _child(path: str, content: bytes) -> dict:
    import numpy as np

    from runtime.common.errors import MnistEdgeError, first_line
    from runtime.inference.backend import get_backend
    from runtime.modelfile.reader import check_model_bytes

    try:
        check_model_bytes(path, content)
        backend = get_backend()
        interpreter = backend.interpreter_class(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        return {"backend": backend.name, "input_shape": [int(d) for d in inp["shape"]],
                "output_shape": [int(d) for d in out["shape"]]}
    except MnistEdgeError as exc:
        return {"error": str(exc)}
    except (ValueError, RuntimeError, IndexError) as exc:
        return {"error": f"{path}: the interpreter cannot run it ({first_line(exc)})"}

