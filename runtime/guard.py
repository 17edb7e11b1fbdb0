"""Try a model in the real interpreter in a child process, so that a crash becomes a message.

The TFLite interpreter is C++: on some hostile files it can abort or segfault
instead of raising (``runtime.verify`` rules out broken structure first, but not
every value the interpreter trusts). ``probe`` sends the model's bytes to
``python -m runtime.guard``, which verifies them, loads them, allocates the tensors
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

from runtime.errors import ModelError

PROBE_TIMEOUT_S = 60.0
_ROOT = str(Path(__file__).resolve().parents[1])


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
        backend: the interpreter module (see ``runtime.backend``).
        timeout: seconds before a hung child counts as a failure.
        content: the model's bytes, when the caller has read (and verified) them:
            the child then checks exactly the bytes the caller will run.

    Raises:
        ModelError: the interpreter refused the model, crashed on it (the signal is
            named) or hung past ``timeout`` seconds.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
    if backend:
        env["MNIST_EDGE_BACKEND"] = backend
    try:
        content = Path(path).read_bytes() if content is None else content
        proc = subprocess.run([sys.executable, "-m", "runtime.guard", str(path)], env=env, input=content,
                              capture_output=True, timeout=timeout)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read it ({exc.strerror})") from None
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


def _child(path: str, content: bytes) -> dict:
    import numpy as np

    from runtime.backend import get_backend
    from runtime.errors import MnistEdgeError, first_line
    from runtime.modelfile import verify_content

    try:
        verify_content(path, content)
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


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.stdin.buffer.read())))
