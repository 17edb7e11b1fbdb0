"""The fuzz harness: hostile inputs through the real command line, and hypothesis on every reader.

Each case must end with exit 0, 1 or 2, never a traceback, a "this is a bug" line, a
signal or a hang; a failure must end in a one-line ``error:``, a damaged file must not be
accepted, and the runtime commands must keep library chatter off stderr
(``tools.fuzz_runner.judge``). ``bench/hostile_inputs.py`` runs the whole corpus and
writes the counts to ``bench/results-hostile.md``.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from runtime.common.errors import DataError, ImageError
from runtime.imaging.image_files import MAX_OUTPUT_PIXELS, load_image
from runtime.imaging.preprocess import find_digits
from tests.helpers import assert_one_line_error, run_cli
from tools.fuzz_runner import run_cases, summary
from tools.hostile_corpus import build_corpus, quick, tensorflow_cases
from training.datasets import read_digits_csv, read_idx, read_npz

MIN_CASES = 200  # the bar for the corpus and the fuzzing together
# Hypothesis examples per reader: a second or two each; FUZZ_EXAMPLES=3000 for a deep run.
READER_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 150))
SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, digits_model, digits):
    folder = tmp_path_factory.mktemp("hostile")
    models, _ = digits_model
    return folder, models, build_corpus(folder / "corpus", models, digits)


def _failures(results) -> str:
    return "\n".join(f"{r.case.kind} / {r.case.name}: {r.problems} "
                     f"args={[a[:80] for a in r.case.args]}" for r in results if r.problems)


def test_hostile_corpus_through_the_command_line(corpus):
    folder, _, cases = corpus
    cwd = folder / "cwd"
    cwd.mkdir()
    results = run_cases(quick(cases), cwd)
    counts = summary(results)
    print(counts)  # shown with -s; the benchmark writes the full run's counts
    assert len(results) >= MIN_CASES
    assert not _failures(results), _failures(results)
    assert {"ok", "refused", "usage"} <= set(counts["all"])
    kinds = {"dataset", "image", "video", "model", "option", "filesystem"}
    assert kinds <= set(counts) and all(counts[k].get("refused", 0) for k in kinds)


@pytest.mark.tensorflow
def test_hostile_settings_that_get_past_the_inputs(corpus, digits, tmp_path):
    folder, models, _ = corpus
    cases = tensorflow_cases(tmp_path / "tf", models, digits)
    results = run_cases(cases, tmp_path, workers=1, timeout=300, allow_tensorflow=True)
    assert not _failures(results), _failures(results)


def test_special_files_in_real_processes(corpus, tmp_path):
    """The corpus runs in long-lived workers; these run as processes of their own."""
    _, models, _ = corpus
    model = str(models / "model.int8.tflite")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for suffix in (".png", ".npz", ".mp4", ".tflite"):
        os.symlink(fifo, tmp_path / f"pipe{suffix}")
    npz = ("--dataset", "mnist-5k", "--data-dir", str(tmp_path / "pipe.npz"))
    cases = [(("predict", model, str(tmp_path / "pipe.png")), "named pipe"),
             (("evaluate", model, *npz), "named pipe"), (("train", *npz), "named pipe"),
             (("classify", model, "--source", str(tmp_path / "pipe.mp4")), "named pipe"),
             (("inspect", str(tmp_path / "pipe.tflite")), "not a file"),
             (("predict", model, "/dev/zero"), "device")]
    for args, fragment in cases:
        assert_one_line_error(run_cli(*args, timeout=60), fragment)


# ---------------------------------------------------------------- the readers, in-process

@settings(max_examples=READER_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
@given(magic=st.sampled_from([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x08\x04",
                              b"\x00\x00\x08\x00", b"\x00\x00\x0d\x03", b"\x01\x02\x03\x04", b""]),
       dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 64), min_size=0, max_size=5),
       body=st.binary(max_size=3000), gz=st.booleans(), cut=st.integers(0, 40))
def test_read_idx_refuses_or_reads(tmp_path, magic, dims, body, gz, cut):
    data = magic + b"".join(struct.pack(">I", d) for d in dims) + body
    if gz:
        data = gzip.compress(data, mtime=0)
        data = data[: len(data) - cut] if cut < 8 else data
    path = tmp_path / ("f-idx3-ubyte.gz" if gz else "f-idx3-ubyte")
    path.write_bytes(data)
    try:
        array = read_idx(path)
    except DataError as exc:
        assert str(exc).startswith(str(path))
        return
    assert array.dtype == np.uint8 and array.size == int(np.prod(array.shape))


def _npz(digits, compress: bool) -> bytes:
    buf = io.BytesIO()
    arrays = {"x_train": digits.x_train[:20], "y_train": digits.y_train[:20],
              "x_test": digits.x_test[:10], "y_test": digits.y_test[:10]}
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


@settings(max_examples=READER_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
@given(compress=st.booleans(), cut=st.integers(0, 20000),
       flips=st.lists(st.integers(0, 400) | st.integers(0, 20000), max_size=4))  # headers or all
def test_read_npz_refuses_damage(tmp_path, digits, compress, cut, flips):
    good = _npz(digits, compress)
    data = bytearray(good[: max(0, len(good) - cut)] if cut % 3 == 0 else good)
    for at in flips:
        if data:
            data[at % len(data)] ^= 1 << (at % 8)
    path = tmp_path / "d.npz"
    path.write_bytes(bytes(data))
    try:
        arrays = read_npz(path)
    except DataError:
        return
    assert all(a.dtype == np.uint8 for a in arrays)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:  # accepted: every CRC is right
        assert archive.testzip() is None


@settings(max_examples=READER_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
@given(rows=st.integers(0, 12),
       value=st.sampled_from(["0", "255", "256", "-1", "1.5", "nan", "1e30", "x", ""]),
       width=st.sampled_from([785, 784, 786]), seed=st.integers(0, 2**16))
def test_read_digits_csv_refuses_or_reads(tmp_path, rows, value, width, seed):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 256, size=(rows, width)).astype(str)
    table[:, -1] = rng.integers(0, 10, size=rows).astype(str)
    if rows:
        table[rng.integers(rows), rng.integers(width)] = value
    path = tmp_path / "d.csv"
    path.write_text("\n".join(",".join(r) for r in table))
    try:
        x_train, y_train, x_test, y_test = read_digits_csv(path)
    except DataError:
        return
    assert width == 785 and value in ("0", "255")
    assert x_train.shape[1:] == (28, 28) and x_train.dtype == y_test.dtype == np.uint8


def _image_bytes(fmt: str, mode: str) -> bytes:
    page = np.full((40, 50), 220, np.uint8)
    page[8:32, 20:26] = 30
    buf = io.BytesIO()
    Image.fromarray(page).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


@settings(max_examples=READER_EXAMPLES * 2, deadline=None, suppress_health_check=SLOW_OK)
@given(kind=st.sampled_from([("PNG", "L"), ("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "RGB"),
                             ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "CMYK"), ("WEBP", "RGB"),
                             ("PPM", "L")]),
       cut=st.integers(0, 400), flips=st.lists(st.integers(0, 4000), max_size=6))
@example(kind=("TIFF", "CMYK"), cut=0, flips=[72])  # found once: a TIFF tag turned rational -> TypeError
def test_load_image_refuses_or_reads(tmp_path, kind, cut, flips):
    data = bytearray(_image_bytes(*kind))
    data = data[: len(data) - cut] if cut < len(data) else data[:1]
    for at in flips:
        data[at % len(data)] ^= 1 << (at % 8)
    path = tmp_path / "x.img"
    path.write_bytes(bytes(data))
    try:
        gray = load_image(path)
    except ImageError as exc:
        assert str(exc).startswith(str(path))
        return
    assert gray.ndim == 2 and gray.dtype == np.uint8 and gray.size <= MAX_OUTPUT_PIXELS


@settings(max_examples=READER_EXAMPLES * 2, deadline=None, suppress_health_check=SLOW_OK)
@given(arr=hnp.arrays(st.sampled_from([np.uint8, np.int32, np.float32, np.float64]),  # NaN, inf too
                      hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=60)),
       region=st.none() | st.tuples(st.integers(-100, 100), st.integers(-100, 100),
                                    st.integers(-5, 200), st.integers(-5, 200)),
       multi=st.booleans(), expected=st.none() | st.integers(1, 8), scored=st.booleans())
def test_find_digits_on_any_array(arr, region, multi, expected, scored):
    scorer = (lambda crops: np.full((len(crops), 10), 0.1, np.float32)) if scored else None  # a model
    try:
        crops = find_digits(arr, multi=multi, region=region, expected=expected if multi else None,
                            scorer=scorer)
    except ImageError as exc:
        assert str(exc)
        return
    assert all(c.image.shape == (28, 28) and c.image.dtype == np.uint8 for c in crops)
