"""A corpus of hostile inputs for every command, generated from real digits (no blobs committed).

``build_corpus(folder, model_dir, digits)`` writes the files into ``folder`` and returns
``tools.fuzz_runner.Case``s: damaged datasets (IDX, gzip, npz, CSV), images (every mode,
truncated, bombs by header, zero-size, text named .png, FIFOs), videos, models (the
damaged copies of ``tests.helpers.hostile_models``, damaged label trailers, hostile
``labels.txt``), option values (negative, huge, NaN, inf, empty, unicode, very long) for
every numeric, string and path option of every command, and file-system cases (read-only
folders, an existing file as an output folder, unreadable files, non-UTF-8 names).

Every case that names a train, export or demo run fails before TensorFlow is imported
(its dataset is damaged, or its data folder does not exist), except those built by
``tensorflow_cases``, which are marked. ``tools.hostile_files`` and ``tools.hostile_data``
make the files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tools.fuzz_runner import Case
from tools.hostile_data import hostile_datasets, idx_folder
from tools.hostile_files import (
    BLANK_IMAGES,
    hostile_images,
    hostile_labels,
    hostile_trailers,
    hostile_videos,
    nonutf8,
    save_digit,
    special_files,
)

OPTION_VALUES = ("-1", "0", "99999999999999999999999", "nan", "inf", "-inf", "", "٣", "1e3", "0x10",
                 " 5 ", "9" * 4000, "x" * 10000, nonutf8("\xff\xfe"), "-0")
# Values for options of commands that load a model first (a child process each): fewer.
PROBE_VALUES = ("-1", "0", "99999999999999999999999", "nan", "", "x" * 10000, nonutf8("\xff"))
LOADS_MODEL = ("classify", "predict", "evaluate")


def build_corpus(folder: Path, model_dir: Path, digits) -> list[Case]:
    """Write every hostile file under ``folder`` and return the cases that use them.

    Args:
        folder: an empty scratch folder (it is filled).
        model_dir: a trained and exported model folder (``tools/test_models.py``).
        digits: the real digits (``load_dataset("mnist-5k")``) the files are made from.
    """
    folder.mkdir(parents=True, exist_ok=True)
    work = _copy_models(model_dir, folder / "models-copy")  # written to, never model_dir
    return [*dataset_cases(folder / "data", work, digits),
            *image_cases(folder / "images", work, digits),
            *video_cases(folder / "videos", work, digits),
            *model_cases(folder / "models", work, digits),
            *option_cases(folder / "options", work, digits),
            *filesystem_cases(folder / "fs", work, digits)]


def quick(cases: list[Case]) -> list[Case]:
    """The subset the test suite runs (the benchmark runs them all): every hostile file, but of
    the option values that load a model (a child process each) one in three."""
    loads = [c for c in cases if c.kind == "option" and len(c.args) > 1
             and c.args[0] in LOADS_MODEL and c.args[1].endswith(".tflite")]
    keep = set(map(id, loads[::3]))
    return [c for c in cases if id(c) in keep or c not in loads]


def dataset_cases(folder: Path, models: Path, digits) -> list[Case]:
    """Each damaged dataset through a command that reads it: evaluate, train, export, report and
    demo in turn."""
    model, out = str(models / "model.int8.tflite"), str(folder / "out")
    five_k = ("--dataset", "mnist-5k")
    routes = (
        lambda src: ("evaluate", model, *five_k, "--data-dir", src),
        lambda src: ("train", *five_k, "--data-dir", src, "--out-dir", out, "--epochs", "1"),
        lambda src: ("export", "--model-dir", str(models), "--data-dir", src),
        lambda src: ("report", str(models), *five_k, "--data-dir", src, "--out", out),
        lambda src: ("demo", *five_k, "--data-dir", src, "--epochs", "1"),
    )
    cases = []
    for k, (name, (path, damaged)) in enumerate(hostile_datasets(folder, digits).items()):
        if damaged:  # refused before any training: every command may read it
            cases.append(Case("dataset", name, routes[k % len(routes)](str(path)), (1,)))
        else:  # may be legal data (a flipped pixel): only where reading it costs no training
            cases.append(Case("dataset", name, routes[0](str(path)), (0, 1)))
    return cases


def image_cases(folder: Path, models: Path, digits) -> list[Case]:
    """Each hostile image through predict; every fourth, and the blank ones, through classify."""
    model = str(models / "model.int8.tflite")
    cases = []
    for k, (name, (path, expect)) in enumerate(hostile_images(folder, digits).items()):
        json_out = ("--json",) if k % 2 else ()
        cases.append(Case("image", name, ("predict", model, str(path), *json_out), expect))
        if k % 4 == 0 or name in BLANK_IMAGES:  # classify counts a blank frame, not refuses it
            expect = (0, 1) if name in BLANK_IMAGES else expect
            args = ("classify", model, "--source", str(path))
            cases.append(Case("image", f"{name} (classify)", args, expect))
    every = ("classify", model, "--source")
    cases.append(Case("image", "folder of all of them", (*every, str(folder), "--json"), (1,)))
    cases.append(Case("image", "glob of all of them", (*every, f"{folder}/*", "--multi"), (1,)))
    return cases


def video_cases(folder: Path, models: Path, digits) -> list[Case]:
    """Damaged, truncated, lying and fake videos through classify --source."""
    model = str(models / "model.int8.tflite")
    return [Case("video", name, ("classify", model, "--source", str(path),
                                 *(("--json",) if k % 2 else ())), expect)
            for k, (name, (path, expect)) in enumerate(hostile_videos(folder, digits).items())]


def model_cases(folder: Path, models: Path, digits) -> list[Case]:
    """Damaged model files, damaged label trailers and hostile labels.txt, through every
    command that loads a model."""
    from tests.helpers import hostile_models

    folder.mkdir(parents=True, exist_ok=True)
    good = (models / "model.int8.tflite").read_bytes()
    image = save_digit(folder / "digit.png", digits.x_test[0])
    routes = (
        lambda m: ("inspect", m),
        lambda m: ("predict", m, str(image)),
        lambda m: ("evaluate", m, "--dataset", "mnist-5k"),
        lambda m: ("classify", m, "--source", str(image), "--json"),
        lambda m: ("inspect", m, "--json", "--no-tensors"),
    )
    cases = []
    for k, path in enumerate(hostile_models(good, _fresh(folder / "damaged"))):
        expect = (0, 1) if path.stem.startswith("flip") else (1,)  # a flip in the weights is legal
        cases.append(Case("model", path.stem, routes[k % len(routes)](str(path)), expect))
    trailers = hostile_trailers(folder / "trailers", good)
    for name, (path, expect) in {**trailers, **hostile_labels(folder / "labels", good)}.items():
        for route in routes[:3]:
            args = route(str(path))
            cases.append(Case("model", f"{name} ({args[0]})", args, expect.get(args[0], (0,))))
    cifar = str(trailers["trailer: dataset 'cifar'"][0])  # its facts name a dataset nobody reads
    cases.append(Case("model", "trailer: dataset 'cifar' (evaluate, no --dataset)",
                      ("evaluate", cifar), (1,)))
    for name, path in special_files(folder / "special", ".tflite").items():
        cases += [Case("model", f"{name} ({r(str(path))[0]})", r(str(path)), (1,))
                  for r in routes[:4]]
    report_dir = _copy_models(models, folder / "report-damaged")
    (report_dir / "model.int8.tflite").write_bytes(good[: len(good) // 2])
    cases.append(Case("model", "truncated int8 (report)",
                      ("report", str(report_dir), "--out", str(folder / "r")), (1,)))
    return cases


def option_cases(folder: Path, models: Path, digits) -> list[Case]:
    """Hostile values for every numeric, string and path option of every command.

    The other arguments are valid but end each command cheaply: train, export and demo
    are pointed at a data or model folder that does not exist, so a value they accept
    ends in "not found" (exit 1) before TensorFlow, and one they refuse in a usage error.
    """
    folder.mkdir(parents=True, exist_ok=True)
    model, nowhere = str(models / "model.int8.tflite"), str(folder / "nowhere")
    image = str(save_digit(folder / "digit.png", digits.x_test[0]))
    empty = _fresh(folder / "empty")
    cheap = {
        ("train", "--data-dir", nowhere, "--out-dir", str(empty)): (
            "--epochs", "--batch-size", "--learning-rate", "--patience", "--seed", "--hidden",
            "--arch", "--dataset", "--data-dir"),
        ("export", "--model-dir", str(empty), "--data-dir", nowhere): (
            "--calibration-samples", "--seed", "--max-drop", "--qat-epochs", "--io", "--dataset",
            "--model-dir"),
        ("demo", "--data-dir", nowhere): ("--epochs", "--dataset", "--data-dir"),
        ("evaluate", model, "--data-dir", nowhere): ("--dataset",),
        ("report", str(models), "--data-dir", nowhere): ("--dataset", "--out"),
    }
    probed = {
        ("classify", model, "--source", str(models), "--max-frames", "1"): (
            "--digits", "--min-score", "--max-frames", "--threads", "--roi", "--source",
            "--delegate"),
        ("predict", model, image): ("--delegate",),
        ("evaluate", model): ("--delegate",),
    }
    cases = []
    for table, values in ((cheap, OPTION_VALUES), (probed, PROBE_VALUES)):
        for base, options in table.items():
            cases += [Case("option", f"{base[0]} {option}={_short(v)}", (*base, option, v))
                      for option in options for v in values]
    rois = ("0,0,10,10", "-5,-5,3,3", "1,2,3", "a,b,c,d", "0,0,0,0", "99999999999999999999,0,5,5",
            "0,0,-1,-1")
    cases += [Case("option", f"classify --roi {r}",
                   ("classify", model, "--source", str(models), "--roi", r)) for r in rois]
    sources = ("camera:-1", "camera:99999999999999999999", "camera:x", "camera:٣", "picamera", "",
               "*", f"{folder}/*.nothing", nowhere + ".mp4", "x" * 5000)
    cases += [Case("option", f"classify --source {_short(s)}", ("classify", model, "--source", s))
              for s in sources]
    odd = (("predict", model), ("predict",), ("evaluate",), ("inspect",), ("inspect", ""),
           ("evaluate", model, "--compare", model, model), ("evaluate", "--compare", model, model),
           ("evaluate", "--compare", model, nowhere), ("classify", model, "--digits", "3"),
           ("report", nowhere), ("train", "--unknown-flag"), ("nonsense",), ("--version",),
           ("export", "--all", "--no-int8", "--model-dir", nowhere),
           ("predict", model, image, "--delegate", "edgetpu"), ("predict", model, "x" * 10000))
    cases += [Case("option", " ".join(a)[:40], a) for a in odd]
    return cases


def filesystem_cases(folder: Path, models: Path, digits) -> list[Case]:
    """Outputs where they cannot go, inputs that cannot be read, names that are not UTF-8."""
    folder.mkdir(parents=True, exist_ok=True)
    model = str(models / "model.int8.tflite")
    existing = folder / "a-file"
    existing.write_text("not a folder")
    readonly = folder / "read-only"
    readonly.mkdir()
    os.chmod(readonly, 0o555)
    locked = idx_folder(folder / "locked", digits)  # neither listable nor enterable
    os.chmod(locked, 0)
    unreadable_idx = idx_folder(folder / "unreadable-idx", digits)
    os.chmod(next(unreadable_idx.glob("t10k-images*")), 0)
    good = save_digit(folder / "good.png", digits.x_test[1])
    secret = save_digit(folder / "secret.png", digits.x_test[2])
    os.chmod(secret, 0)
    mixed = _fresh(folder / "mixed")
    save_digit(mixed / "a.png", digits.x_test[3])
    shutil.copy(good, mixed / "b.png")
    os.chmod(shutil.copy(good, mixed / "c.png"), 0)
    odd = _fresh(folder / nonutf8("caf\xe9-\xff"))
    odd_image = save_digit(odd / nonutf8("d\xe9.png"), digits.x_test[4])
    odd_models = _copy_models(models, odd / "models")
    tiny = ("--dataset", "mnist-5k", "--data-dir", str(idx_folder(folder / "tiny", digits)))
    evaluate = ("evaluate", model, "--dataset", "mnist-5k", "--data-dir")
    made = {
        "report --out an existing file": (("report", str(models), *tiny, "--out", str(existing)),
                                          1),
        "report --out in a read-only folder": (("report", str(models), *tiny, "--out",
                                                str(readonly / "r")), 1),
        "report --out non-UTF-8 folder": (("report", str(odd_models), *tiny, "--out",
                                           str(odd / "r")), 0),
        "predict an unreadable image among good ones": (("predict", model, str(good), str(secret),
                                                         str(good)), 1),
        "classify a folder with an unreadable image": (("classify", model, "--source", str(mixed)),
                                                       1),
        "inspect an unreadable model": (("inspect", str(_unreadable_copy(models, folder))), 1),
        "evaluate on an unreadable IDX file": ((*evaluate, str(unreadable_idx)), 1),
        "evaluate on a locked folder": ((*evaluate, str(locked)), 1),
        "evaluate on a non-UTF-8 folder": ((*evaluate, str(idx_folder(odd / "idx", digits))), 0),
        "predict in a non-UTF-8 folder": (("predict", str(odd_models / "model.int8.tflite"),
                                           str(odd_image)), 0),
        "classify a non-UTF-8 folder": (("classify", model, "--source", str(odd)), 0),
        "data folder with missing parents": ((*evaluate, str(folder / "no" / "such" / "dir")), 1),
        "train --out-dir an existing file, bad data": (("train", "--out-dir", str(existing),
                                                        "--data-dir", str(locked)), 1),
    }
    return [Case("filesystem", name, args, (code,)) for name, (args, code) in made.items()]


def tensorflow_cases(folder: Path, models: Path, digits) -> list[Case]:
    """A small sample that gets past the inputs into TensorFlow: hostile settings, tiny data."""
    folder.mkdir(parents=True, exist_ok=True)
    tiny = idx_folder(folder / "tiny", digits)
    readonly = _fresh(folder / "read-only")
    os.chmod(readonly, 0o555)
    broken = _copy_models(models, folder / "broken-keras")
    (broken / "model.keras").write_bytes((models / "model.keras").read_bytes()[:5000])
    train = ("train", "--dataset", "mnist-5k", "--data-dir", str(tiny), "--epochs", "1", "--quiet")
    made = {
        "train --batch-size 10^9": ((*train, "--batch-size", str(10**9), "--out-dir",
                                     str(folder / "a")), 0),
        "train into a read-only folder": ((*train, "--out-dir", str(readonly / "x")), 1),
        "export a damaged model.keras": (("export", "--model-dir", str(broken)), 1),
    }
    return [Case("tensorflow", name, args, (code,), True) for name, (args, code) in made.items()]


def _copy_models(models: Path, dest: Path) -> Path:
    """A copy of a model folder's files (not its subfolders)."""
    dest.mkdir(parents=True, exist_ok=True)
    for p in models.iterdir():
        if p.is_file():
            shutil.copy(p, dest / p.name)
    return dest


def _unreadable_copy(models: Path, folder: Path) -> Path:
    path = folder / "unreadable.tflite"
    shutil.copy(models / "model.int8.tflite", path)
    os.chmod(path, 0)
    return path


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _short(value: str) -> str:
    return repr(value if len(value) <= 12 else value[:8] + f"...({len(value)})")
