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

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime.common.errors import ModelError
from runtime.common.files import cache_folder

try:  # CPython's own BLAKE2: hashlib would load OpenSSL, 3.5 MB of RSS on every cold start
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other Pythons
    from hashlib import blake2b
from runtime.inference.backend import BACKEND_ENV

PROBE_TIMEOUT_S = 60.0
DELEGATE_ENV = "MNIST_EDGE_PROBE_DELEGATE"  # tells the child which delegate to run the model through
KNOWN_GOOD = Path(__file__).with_name("known_good.tflite")  # tools/make_known_good.py: Dense 4 -> 2, float32
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds runtime/


@dataclass(frozen=True)
class ProbeResult:
    """How the interpreter took the model: the back-end, and one invoke's output shape."""

    backend: str
    input_shape: list[int]
    output_shape: list[int]


def probe(path: str | os.PathLike, backend: str | None = None, timeout: float = PROBE_TIMEOUT_S,
          content: bytes | None = None, remember: bool = True, delegate: str | None = None) -> ProbeResult:
    """Load, allocate and invoke the model once in a child process, unless these exact bytes already passed.

    A passed probe is remembered by a hash of the model's bytes, the back-end and its
    version, and this Python (``proven_cache``), so the next command on the same file
    skips the child (about 0.3 s on a workstation, seconds on a Pi). Different bytes,
    a different back-end or an upgrade probe again.

    Args:
        path: the model file (read unless ``content`` is given; named in messages).
        backend: the interpreter module (see ``runtime.inference.backend``).
        timeout: seconds before a hung child counts as a failure.
        content: the model's bytes, when the caller has read (and verified) them:
            the child then checks exactly the bytes the caller will run.
        remember: look the bytes up in, and add them to, the cache of proven models.
        delegate: "edgetpu" or a delegate library path: the child runs the model through it, so a
            delegate that crashes (tflite-runtime >= 2.12 with Coral's libedgetpu, google-coral/edgetpu
            issue 812) is reported as one line too.

    Raises:
        ModelError: the interpreter refused the model, crashed on it (the signal is
            named) or hung past ``timeout`` seconds.
    """
    env = dict(os.environ)
    env.update({k: v for k, v in ((BACKEND_ENV, backend), (DELEGATE_ENV, delegate)) if v})
    try:
        content = Path(path).read_bytes() if content is None else content
    except OSError as exc:
        raise ModelError(f"{path}: cannot read it ({exc.strerror})") from None
    cache = proven_cache(content, backend, delegate) if remember else None
    if cache is not None and cache.is_file():
        remembered = _read_result(cache)
        if remembered is not None:
            return remembered
    result = _run_child(path, content, env, timeout)
    if cache is not None:
        _remember(cache, result)
    return result


def _run_child(path, content: bytes, env: dict | None, timeout: float) -> ProbeResult:
    try:
        proc = subprocess.run([*child_command(), str(path)], env=env, input=content, capture_output=True,
                              timeout=timeout)
    except OSError as exc:
        raise ModelError(f"cannot start the model check ({sys.executable}: {exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise ModelError(f"{path}: the interpreter did not finish loading it in {timeout:g} s") from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        if Path(path) != KNOWN_GOOD and not _runs_known_good(env, timeout):
            raise ModelError(f"the TFLite interpreter crashes on this machine ({name}) even on a known-good model, "
                             f"so the environment is at fault, not {path}: a broken or mismatched interpreter "
                             "build, or an emulator whose CPU it cannot detect") from None
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


def _runs_known_good(env: dict | None, timeout: float) -> bool:
    """Whether the interpreter loads and runs ``KNOWN_GOOD`` (never taken from the cache: the question is
    whether this machine, today, can run any model at all)."""
    try:
        _run_child(KNOWN_GOOD, KNOWN_GOOD.read_bytes(), env, timeout)
    except (ModelError, OSError):
        return False
    return True


def proven_cache(content: bytes, backend: str | None = None, delegate: str | None = None) -> Path | None:
    """Where a passed probe of ``content`` is remembered: ``$XDG_CACHE_HOME/mnist-edge/proven/<key>.json``.

    The key hashes (BLAKE2b, 256 bits) the model's bytes with the interpreter module's name
    and version, the machine and the Python version. None when the back-end cannot be named (no interpreter
    installed: the child will say so).
    """
    from runtime.common.errors import BackendError
    from runtime.inference.backend import get_backend

    try:
        chosen = get_backend(backend)
    except BackendError:
        return None
    identity = f"{chosen.name} {chosen.version} {platform.machine()} {sys.version} {delegate}".encode(
        "utf-8", "surrogateescape")  # a delegate path need not be UTF-8
    key = blake2b(blake2b(content, digest_size=32).digest() + identity, digest_size=32).hexdigest()
    return cache_folder() / "proven" / f"{key}.json"


def _read_result(path: Path) -> ProbeResult | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return ProbeResult(str(report["backend"]), [int(d) for d in report["input_shape"]],
                           [int(d) for d in report["output_shape"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or edited: probe again


def _remember(path: Path, result: ProbeResult) -> None:
    from runtime.common.errors import MnistEdgeError
    from runtime.common.files import atomic_write_text

    with contextlib.suppress(MnistEdgeError, OSError):  # a read-only home: probe every time, only slower
        atomic_write_text(path, json.dumps(asdict(result)))


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
    from runtime.inference.backend import get_backend, load_delegate
    from runtime.modelfile.reader import check_model_bytes

    try:
        check_model_bytes(path, content)
        backend = get_backend()
        delegate = os.environ.get(DELEGATE_ENV)
        delegates = [load_delegate(backend, delegate)] if delegate else None
        interpreter = backend.interpreter_class(model_content=content, num_threads=1,
                                                experimental_delegates=delegates)
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

