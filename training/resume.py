"""Continuing an interrupted training run to the same result as a straight one.

The Keras side of ``training/state.py``: a callback saves the whole state after every
epoch (after early stopping has updated its own), and ``restore`` puts a saved state
back into a freshly built model, its optimizer and early stopping, so a run stopped by
Ctrl-C or killed outright stops at the same epoch with the same weights, bit for bit.

A resumed run must be the same run: ``fingerprint`` records what decides the result
(dataset and its content, architecture, batch size, learning rate, seed, augmentation, deskew,
and how many times an epoch shows each digit), and a ``--resume`` with other settings is refused,
naming the setting. ``--epochs`` and ``--patience`` may change: they only say how long to go on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from runtime.common.errors import MnistEdgeError
from training import state
from training.datasets import Dataset
from training.models import hidden_widths
from training.state import TrainState

# Settings compared on resume, in the order they are reported, with their flags.
FLAGS = {"dataset": "--dataset", "arch": "--arch", "hidden": "--hidden",
         "batch_size": "--batch-size", "learning_rate": "--learning-rate", "seed": "--seed",
         "augment": "--augment", "deskew": "--deskew"}
# What a state saved before a setting existed ran with.
BEFORE = {"augment": False, "deskew": False, "passes_per_epoch": 1}


@dataclass(frozen=True)
class RestorePoint:
    """The state a resumed run starts from, and what the user should know about it."""

    state: TrainState
    note: str


def fingerprint(config, data: Dataset) -> dict:
    """The settings that decide a run's result, as saved with its state.

    Args:
        config: the TrainConfig.
        data: the dataset in use; its content is hashed, so the same data read from
            another path is the same run and changed files are not.
    """
    sha = hashlib.sha256("\n".join(data.class_names).encode("utf-8"))
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        sha.update(a.tobytes())
    return {"dataset": data.name, "arch": config.arch,
            "hidden": list(hidden_widths(config.arch, config.hidden)),
            "batch_size": config.batch_size, "learning_rate": config.learning_rate,
            "seed": config.seed, "augment": config.augment, "deskew": config.deskew,
            "passes_per_epoch": config.passes_per_epoch, "data_sha256": sha.hexdigest(), "data_source": data.source}


def restore_point(folder: Path, settings: dict, model) -> RestorePoint:
    """The newest saved state that is intact and fits ``model``.

    Raises:
        MnistEdgeError: nothing was saved; the run had other settings; or no saved
            state is usable (each as one line that says what to do next).
    """
    states, problems, files = state.read_all(folder)
    if files == 0:
        raise MnistEdgeError(f"nothing to resume in {folder}: no finished epoch of an interrupted "
                             "run is saved there; run the same command without --resume")
    for saved in states:
        _refuse_other_settings(folder, saved.settings, settings)
        mismatch = _shape_mismatch(saved, model)
        if mismatch is None:
            skipped = f", skipping a damaged state ({'; '.join(problems)})" if problems else ""
            return RestorePoint(saved, f"resumed after epoch {saved.epoch}{skipped}")
        problems.append(f"{state.SLOTS[saved.epoch % 2]}: {mismatch}")
    which = "both saved states are damaged" if files == 2 else "its saved state is damaged"
    raise MnistEdgeError(f"the interrupted run in {folder} cannot be resumed "
                         f"({which}: {'; '.join(problems)}); start again without --resume")


def _refuse_other_settings(folder: Path, saved: dict, now: dict) -> None:
    for key, flag in FLAGS.items():
        then = saved.get(key, BEFORE.get(key))
        if then != now[key]:
            if isinstance(now[key], bool):
                used = f"{_switch(flag, then)}, not {_switch(flag, now[key])}"
            else:
                used = f"{flag} {_shown(then)}, not {_shown(now[key])}"
            raise MnistEdgeError(f"the interrupted run in {folder} used {used}; resume with its "
                                 "settings, or start again without --resume")
    then = saved.get("passes_per_epoch", BEFORE["passes_per_epoch"])
    if then != now["passes_per_epoch"]:  # not a flag: a state saved by another version of mnist-edge
        raise MnistEdgeError(f"the interrupted run in {folder} was saved by a version of mnist-edge that "
                             f"showed each training digit {then}x an epoch (this one: {now['passes_per_epoch']}x); "
                             "start again without --resume")
    if saved.get("data_sha256") != now["data_sha256"]:
        raise MnistEdgeError(
            f"the interrupted run in {folder} trained on other {now['dataset']} data (it read "
            f"{saved.get('data_source')}, this run reads {now['data_source']}); resume with the "
            "same data, or start again without --resume")


def _switch(flag: str, on) -> str:
    """An on/off setting as its flag: ``--augment`` or ``--no-augment``."""
    return flag if on else f"--no-{flag[2:]}"


def _shown(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _shape_mismatch(saved: TrainState, model) -> str | None:
    """Why ``saved`` does not fit ``model``'s variables, or None when it does."""
    expected = {"model": model.variables, "optimizer": model.optimizer.variables,
                "best_weights": model.weights if saved.best_weights else []}
    for group, variables in expected.items():
        arrays = getattr(saved, group)
        if len(arrays) != len(variables):
            return f"{len(arrays)} {group} arrays, the model has {len(variables)}"
        for a, v in zip(arrays, variables):
            if tuple(a.shape) != tuple(v.shape) or a.dtype != v.dtype:
                return (f"{group} array {v.path} is {a.dtype}{list(a.shape)}, "
                        f"expected {v.dtype}{list(v.shape)}")
    return None


def restore(model, saved: TrainState) -> None:
    """Put the saved model and optimizer variables back (the optimizer must be built)."""
    for variable, value in zip(model.variables, saved.model):
        variable.assign(value)
    for variable, value in zip(model.optimizer.variables, saved.optimizer):
        variable.assign(value)


def first_epoch(saved: TrainState | None, epochs: int) -> int:
    """The epoch ``fit`` starts at: after the saved ones (none left if early stopping ended it)."""
    if saved is None:
        return 0
    return epochs if saved.stopped else saved.epoch


def callbacks(keras, folder: Path, settings: dict, patience: int, saved: TrainState | None) -> list:
    """Early stopping, then the callback that saves the state: in that order, so the state
    holds early stopping's update for the epoch. The second one's ``history`` is the run's."""
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best_weights=True)
    return [stopper, _keeper(keras, folder, settings, stopper, saved)]


def _keeper(keras, folder: Path, settings: dict, stopper, saved: TrainState | None):
    class StateKeeper(keras.callbacks.Callback):
        """Saves the state after each epoch; on resume, gives early stopping its own back."""

        def __init__(self):
            super().__init__()
            self.history = {k: list(v) for k, v in saved.history.items()} if saved else {}

        def on_train_begin(self, logs=None):
            if saved is not None:  # after EarlyStopping.on_train_begin, which resets it
                _restore_stopper(stopper, saved)

        def on_epoch_end(self, epoch, logs=None):
            for key, value in sorted((logs or {}).items()):
                self.history.setdefault(key, []).append(float(value))
            _save(folder, self.model, stopper, epoch + 1, self.history, settings)

    return StateKeeper()


def _save(folder: Path, model, stopper, epoch: int, history: dict, settings: dict) -> None:
    snapshot = TrainState(
        epoch=epoch, settings=settings, history=history, stopped=bool(model.stop_training),
        early_stopping={"best": None if stopper.best is None else float(stopper.best),
                        "best_epoch": int(stopper.best_epoch), "wait": int(stopper.wait),
                        "stopped_epoch": int(stopper.stopped_epoch)},
        model=[v.numpy() for v in model.variables],
        optimizer=[v.numpy() for v in model.optimizer.variables],
        best_weights=list(stopper.best_weights or []),
    )
    try:
        state.save(folder, snapshot)
    except MnistEdgeError as exc:
        raise MnistEdgeError(f"training stopped after epoch {epoch}: {exc}; once it can be "
                             "written, run the same command with --resume") from None


def _restore_stopper(stopper, saved: TrainState) -> None:
    es = saved.early_stopping
    stopper.best = es["best"]
    stopper.best_epoch, stopper.wait = es["best_epoch"], es["wait"]
    stopper.stopped_epoch = es["stopped_epoch"]
    stopper.best_weights = list(saved.best_weights) or None
