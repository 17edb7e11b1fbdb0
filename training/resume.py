"""The state an interrupted training run needs to continue to the same result.

Three files in the artifacts folder, kept only while a run is in progress:

- ``.train-history.csv``: one row per finished epoch (Keras' CSVLogger), written first;
- ``.train-best.npz``: the weights of the best epoch so far, replaced atomically;
- ``.train-backup/``: Keras' BackupAndRestore state (weights, optimizer, epoch), saved
  last, with the previous state kept in case a kill lands mid-write.

An epoch counts as finished once the backup holds it. If a run dies between the
history row and the backup, the epoch runs again on resume and its later row wins.
Early stopping's state (best loss, epochs since, best weights) is rebuilt from the
history and ``.train-best.npz``, so a resumed run stops at the same epoch and
restores the same weights as one that was never interrupted.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

from runtime.common.files import atomic_path
from training import artifacts

BEST_WEIGHTS = ".train-best.npz"


def callbacks(keras, folder: Path, patience: int) -> list:
    """CSV log, resumable early stopping, then the backup: in that order (see the module docstring)."""
    history, best = folder / artifacts.TRAIN_HISTORY, folder / BEST_WEIGHTS
    return [
        keras.callbacks.CSVLogger(str(history), append=True),
        _early_stopping(keras, history, best, patience),
        keras.callbacks.BackupAndRestore(str(folder / artifacts.TRAIN_BACKUP), double_checkpoint=True),
    ]


def clear(folder: Path) -> None:
    """Forget an earlier run's state (a fresh run, or a finished one)."""
    shutil.rmtree(folder / artifacts.TRAIN_BACKUP, ignore_errors=True)
    (folder / artifacts.TRAIN_HISTORY).unlink(missing_ok=True)
    (folder / BEST_WEIGHTS).unlink(missing_ok=True)


def read_history(path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics from the CSV log, keyed by metric name; a re-run epoch's last row wins."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
    ordered = [rows[e] for e in sorted(rows)]
    names = [k for k in (ordered[0] if ordered else {}) if k != "epoch"]
    return {name: [float(row[name]) for row in ordered] for name in names}


def _early_stopping(keras, history: Path, best: Path, patience: int):
    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """EarlyStopping on val_loss whose state survives an interruption."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch > 0 and self.best is None:  # resumed after `epoch` finished epochs
                losses = read_history(history).get("val_loss", [])[:epoch]
                if losses and best.exists():
                    self.best_epoch = int(np.argmin(losses))
                    self.best, self.wait = losses[self.best_epoch], epoch - 1 - self.best_epoch
                    with np.load(best) as saved:
                        self.best_weights = [saved[f"w{i}"] for i in range(len(saved.files))]

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if self.best_epoch == epoch and self.best_weights is not None:
                with atomic_path(best) as tmp:
                    np.savez(tmp, **{f"w{i}": w for i, w in enumerate(self.best_weights)})

    return ResumableEarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
