"""The saved state of a training run in progress: what ``train --resume`` continues from.

After every finished epoch the run writes one file holding all that a straight run
would still have in memory: the model's variables (weights, dropout seeds), the
optimizer's (step count, Adam moments), early stopping's state (best loss, epochs
since, best weights), the history rows, and the settings the run started with.

Files alternate between two slots, ``.train-state.0.npz`` and ``.train-state.1.npz``
(the state after epoch N goes to slot N % 2), so the newest state and the one before
it are both on disk. A state is written whole to a temporary file beside its slot,
fsynced, renamed over the slot, and the folder fsynced (``runtime.common.files.atomic_path``).
Nothing is rewritten in place: Ctrl-C, a kill or a full disk during a write leaves at
worst a temporary file, removed on the next start, and both earlier states intact.

A file is an ``.npz`` (read with ``allow_pickle=False``) with a JSON ``header`` entry
for the scalars and a ``sha256`` entry over the header and every array, so a damaged
file is told apart from a good one before any of it is used.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.common.errors import first_line
from runtime.common.files import atomic_path

SLOTS = (".train-state.0.npz", ".train-state.1.npz")
FORMAT = 1
ARRAY_GROUPS = ("model", "optimizer", "best_weights")


@dataclass
class TrainState:
    """Everything a run needs to continue after ``epoch`` finished epochs.

    Attributes:
        epoch: epochs finished.
        settings: the run's fingerprint (``resume.fingerprint``), compared on resume.
        history: per-epoch metrics, one value per finished epoch, keyed by name.
        early_stopping: ``best``, ``best_epoch``, ``wait`` and ``stopped_epoch``.
        stopped: early stopping ended the run at this epoch.
        model: ``model.variables`` in order.
        optimizer: ``model.optimizer.variables`` in order.
        best_weights: early stopping's best weights (``model.get_weights()``), or empty.
    """

    epoch: int
    settings: dict
    history: dict[str, list[float]]
    early_stopping: dict
    stopped: bool
    model: list[np.ndarray] = field(repr=False)
    optimizer: list[np.ndarray] = field(repr=False)
    best_weights: list[np.ndarray] = field(repr=False)


class DamagedState(Exception):
    """A saved state that cannot be used; the message says why, in a few words."""


def save(folder: Path, state: TrainState) -> Path:
    """Write ``state`` into its slot, atomically (see the module docstring).

    Returns:
        The path written.

    Raises:
        MnistEdgeError: the file cannot be written (a full disk, a read-only folder);
            the earlier states are unchanged.
    """
    path = folder / SLOTS[state.epoch % 2]
    payload = encode(state)
    with atomic_path(path, suffix=".tmp") as tmp:
        _write_file(tmp, payload)
    return path


def _write_file(path: Path, payload: bytes) -> None:
    with open(path, "wb") as f:
        f.write(payload)


def read_all(folder: Path) -> tuple[list[TrainState], list[str], int]:
    """Every saved state in ``folder`` that passes its checksum, newest first.

    Returns:
        (states, problems, files): the good states; one "NAME: reason" per damaged
        file; how many state files there were.
    """
    states, problems, files = [], [], 0
    for name in SLOTS:
        path = folder / name
        if not path.exists():
            continue
        files += 1
        try:
            states.append(decode(path.read_bytes()))
        except (OSError, DamagedState) as exc:
            problems.append(f"{name}: {first_line(exc)}")
    states.sort(key=lambda s: s.epoch, reverse=True)
    return states, problems, files


def newest_epoch(folder: Path) -> int:
    """Epochs finished by the newest good state in ``folder`` (0 when there is none)."""
    states, _, _ = read_all(folder)
    return states[0].epoch if states else 0


def clear(folder: Path) -> None:
    """Remove the saved states and any temporary file a killed write left behind."""
    for path in folder.glob(".*train-state.*"):
        path.unlink(missing_ok=True)


def encode(state: TrainState) -> bytes:
    """The file's bytes: an ``.npz`` with the arrays, a JSON header and their SHA-256."""
    arrays = {f"{group}.{i:04d}": np.asarray(a) for group in ARRAY_GROUPS
              for i, a in enumerate(getattr(state, group))}
    header = json.dumps({
        "format": FORMAT, "epoch": state.epoch, "settings": state.settings,
        "history": state.history, "early_stopping": state.early_stopping, "stopped": state.stopped,
        "counts": {group: len(getattr(state, group)) for group in ARRAY_GROUPS},
    }).encode("utf-8")
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(header, np.uint8),
             sha256=np.frombuffer(_digest(header, arrays).encode("ascii"), np.uint8), **arrays)
    return buffer.getvalue()


def decode(data: bytes) -> TrainState:
    """Read a state from the bytes ``encode`` wrote.

    Raises:
        DamagedState: not an .npz, the checksum does not match, or the header is not ours.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    # A damaged zip fails inside zipfile or numpy in many ways (BadZipFile, ValueError,
    # EOFError, NotImplementedError for a flipped compression method, struct.error, ...);
    # each one only means "damaged".
    except Exception as exc:  # noqa: BLE001
        raise DamagedState(f"not a readable .npz ({first_line(exc)})") from None
    header, digest = arrays.pop("header", None), arrays.pop("sha256", None)
    if header is None or digest is None or header.dtype != np.uint8 or digest.dtype != np.uint8:
        raise DamagedState("no header or checksum")
    if _digest(header.tobytes(), arrays) != digest.tobytes().decode("ascii", "replace"):
        raise DamagedState("checksum mismatch")
    try:
        return _state(json.loads(header.tobytes()), arrays)
    except (ValueError, KeyError, TypeError) as exc:
        raise DamagedState(f"unexpected header ({first_line(exc)})") from None


def _state(header: dict, arrays: dict[str, np.ndarray]) -> TrainState:
    if header["format"] != FORMAT:
        raise ValueError(f"format {header['format']}, this version reads {FORMAT}")
    counts = header["counts"]
    groups = {g: [arrays[f"{g}.{i:04d}"] for i in range(int(counts[g]))] for g in ARRAY_GROUPS}
    history = {str(k): [float(v) for v in values] for k, values in dict(header["history"]).items()}
    return TrainState(epoch=int(header["epoch"]), settings=dict(header["settings"]),
                      history=history, early_stopping=dict(header["early_stopping"]),
                      stopped=bool(header["stopped"]), **groups)


def _digest(header: bytes, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the header and every array's name, type, shape and bytes."""
    sha = hashlib.sha256(header)
    for key in sorted(arrays):
        a = arrays[key]
        sha.update(f"\n{key}:{a.dtype.str}:{a.shape}\n".encode("ascii"))
        sha.update(a.tobytes())  # C order whatever the memory layout
    return sha.hexdigest()
