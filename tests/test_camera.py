"""Camera frames made from real MNIST digits: preprocessing accuracy, blank frames, numbers, frame sources."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from PIL import Image

from runtime import Classifier
from runtime.common.errors import ImageError, SourceError
from runtime.imaging.preprocess import find_digits, to_mnist
from runtime.streaming.reader import DigitReader, LatencyHistogram, StreamStats
from runtime.streaming.sources import Frame, OpenCVSource, bgr_to_rgb, open_source, read_with_retries
from tests.helpers import assert_one_line_error, run_cli, start_cli
from tools.frames import digit_frames, naive_resize, number_frame, paper_frame, random_scene, render

FRAME_TEST_DIGITS = 500  # 50 per class from the held-out split
NUMBERS = 200  # 3-digit numbers


@pytest.fixture(scope="module")
def classifier(digits_model):
    folder, _ = digits_model
    return Classifier(folder / "model.int8.tflite", num_threads=1)


@pytest.fixture(scope="module")
def frame_set(digits):
    """500 held-out digits (50 per class) and a camera-like frame of each."""
    pick = np.concatenate([np.nonzero(digits.y_test == k)[0][:FRAME_TEST_DIGITS // 10] for k in range(10)])
    x, y = digits.x_test[pick], digits.y_test[pick]
    return x, y, list(digit_frames(x, seed=7))


def test_frames_read_as_well_as_clean_digits(classifier, frame_set):
    x, y, frames = frame_set
    clean = classifier.scores(x).argmax(axis=1)
    found = [find_digits(f) for f in frames]
    assert all(len(f) == 1 for f in found), "every frame holds exactly one digit"
    framed = classifier.scores(np.stack([f[0].image for f in found])).argmax(axis=1)
    naive = classifier.scores(np.stack([naive_resize(f) for f in frames])).argmax(axis=1)
    clean_acc, frame_acc, naive_acc = (float(np.mean(p == y)) for p in (clean, framed, naive))
    print(f"clean {clean_acc:.3f} frames {frame_acc:.3f} naive {naive_acc:.3f}")
    assert frame_acc >= clean_acc - 0.03
    assert naive_acc <= clean_acc - 0.5  # the whole frame resized to 28x28 is near chance: preprocessing matters
    # The digits the model gets right in MNIST form, it also gets right in a photo.
    # This 500-frame subset: 0.963 before issue 15, 0.957 after; all 1,000 frames (seed 7): 0.961 both.
    assert np.mean(framed[clean == y] == y[clean == y]) >= 0.95


def test_digit_box_points_at_the_digit(digits):
    rng = np.random.default_rng(3)
    for digit in digits.x_test[:20:4]:
        frame = paper_frame(digit, rng)
        box = find_digits(frame)[0].box
        ink = 255 - np.asarray(Image.fromarray(frame).convert("L"), dtype=np.int16)
        inside = ink[box.top : box.bottom, box.left : box.right]
        assert inside.max() > np.median(ink) + 60 and 30 <= box.height <= 340


def test_blank_and_degenerate_frames_have_no_digit():
    rng = np.random.default_rng(11)
    blanks = [render(np.zeros((480, 640), np.float32), random_scene(rng), rng) for _ in range(40)]
    blanks += [np.zeros((480, 640, 3), np.uint8), np.full((480, 640, 3), 255, np.uint8),
               np.full((480, 640), 128, np.uint8), np.full((3, 3), 200, np.uint8), rng.integers(0, 6, (480, 640))]
    assert [b for b in blanks if find_digits(b)] == []
    with pytest.raises(ImageError, match="no digit"):
        to_mnist(blanks[0])


@pytest.mark.parametrize("bad", [np.zeros((480, 640, 2)), np.zeros(5), np.array([["a"]]),
                                 np.full((20, 20), np.nan)])
def test_frames_of_unexpected_shape_or_dtype_are_clear_errors(bad):
    with pytest.raises(ImageError):
        find_digits(bad)


def test_region_of_interest(digits):
    frame = paper_frame(digits.x_test[0], np.random.default_rng(5))
    box = find_digits(frame)[0].box
    roi = (box.left - 10, box.top - 10, box.width + 20, box.height + 20)
    inside = find_digits(frame, region=roi)[0]
    assert abs(inside.box.left - box.left) <= 4 and abs(inside.box.top - box.top) <= 4  # frame coordinates
    assert find_digits(frame, region=(0, 0, 5, 5)) == [] or box.left < 5
    with pytest.raises(ImageError, match="outside"):
        find_digits(frame, region=(700, 500, 10, 10))


def _known_numbers(classifier, digits, count, seed):
    """3-digit numbers made of held-out digits the model classifies right in MNIST form."""
    right = np.nonzero(classifier.scores(digits.x_test).argmax(axis=1) == digits.y_test)[0]
    rng = np.random.default_rng(seed)
    return [rng.choice(right, 3) for _ in range(count)], rng


def test_multi_digit_numbers_read_left_to_right(classifier, digits):
    numbers, rng = _known_numbers(classifier, digits, NUMBERS, seed=1)
    reader = DigitReader(classifier, multi=True)
    texts = [reader.read(Frame(i, "n", number_frame(digits.x_test[idx], rng))).text for i, idx in enumerate(numbers)]
    truth = ["".join(map(str, digits.y_test[idx])) for idx in numbers]
    assert np.mean([t == r for t, r in zip(texts, truth)]) >= 0.9, list(zip(truth, texts))


def test_touching_digits_are_flagged_not_hidden(classifier, digits):
    numbers, rng = _known_numbers(classifier, digits, 40, seed=2)
    reader = DigitReader(classifier, multi=True, expected=3)
    right = flagged = 0
    for i, idx in enumerate(numbers):
        result = reader.read(Frame(i, "n", number_frame(digits.x_test[idx], rng, gap=(-0.15, -0.05))))
        right += result.text == "".join(map(str, digits.y_test[idx]))
        flagged += any(d.touching for d in result.digits)
        assert len(result.digits) >= 3 or result.score is None or result.score < 0.99
    assert flagged >= 20  # overlapping digits are found and marked as such
    print(f"touching numbers read: {right} of 40")
    assert right >= 30, right  # 34 cut by outline and model; 25 at the weakest column


def test_image_folder_skips_unreadable_files(tmp_path, digits):
    for i in range(3):
        Image.fromarray(paper_frame(digits.x_test[i * 100], np.random.default_rng(i))).save(tmp_path / f"{i}.jpg")
    (tmp_path / "1b.png").write_text("not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    with open_source(str(tmp_path)) as source:
        frames = list(source)
    assert [os.path.basename(f.origin) for f in frames] == ["0.jpg", "1.jpg", "1b.png", "2.jpg"]
    assert frames[2].image is None and "not a readable image" in frames[2].error
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert len(list(open_source(str(tmp_path / "*.jpg")))) == 3


def _write_video(path, frames, fps=10):
    cv2 = pytest.importorskip("cv2")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))  # OpenCV writes BGR
    writer.release()


def test_video_file_frames_come_back_rgb_and_classified(tmp_path, classifier, frame_set):
    x, y, frames = frame_set
    red = np.zeros((480, 640, 3), np.uint8)
    red[..., 0] = 220
    _write_video(tmp_path / "clip.avi", [red] + frames[:12])
    with open_source(str(tmp_path / "clip.avi")) as source:
        assert isinstance(source, OpenCVSource)
        video = list(source)
    assert len(video) == 13
    assert video[0].image[..., 0].mean() > 180 and video[0].image[..., 2].mean() < 40  # RGB, not BGR
    reader = DigitReader(classifier)
    from_video = [reader.read(f).digits[0].class_id for f in video[1:]]
    from_memory = [reader.read(Frame(i, "m", f)).digits[0].class_id for i, f in enumerate(frames[:12])]
    assert np.mean(np.array(from_video) == np.array(from_memory)) >= 0.9  # MJPG recompression changes little


def test_bgr_to_rgb():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255
    assert bgr_to_rgb(bgr)[0, 0].tolist() == [0, 0, 255]
    assert bgr_to_rgb(np.zeros((2, 2, 4), np.uint8)).shape == (2, 2, 3)


def test_camera_that_stops_is_retried_then_reported(digits):
    frames = [paper_frame(d, np.random.default_rng(0)) for d in digits.x_test[:3]]
    feed = iter(frames + [None, None, frames[0]] + [None] * 10)  # a hiccup, a recovery, then unplugged
    got = []
    with pytest.raises(SourceError, match="stopped delivering frames after 4 frames"):
        while True:
            got.append(read_with_retries(lambda: next(feed), "camera:9", len(got), retries=3, delay_s=0))
    assert len(got) == 4


def test_missing_sources_are_clear(tmp_path):
    for spec, message in [("camera:7", "cannot open"), ("camera:x", "camera:N"), (str(tmp_path / "no.mp4"), "no such"),
                          (str(tmp_path), "no image files"), (str(tmp_path / "*.png"), "no files match")]:
        with pytest.raises(SourceError, match=message):
            open_source(spec)


def test_latency_histogram_and_stats():
    hist = LatencyHistogram()
    values = np.random.default_rng(0).lognormal(np.log(2e-3), 0.5, 5000)
    for v in values:
        hist.add(v)
    for q in (50, 99):
        assert hist.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.03)
    stats = StreamStats()
    stats.add(_result())
    assert stats.summary()["no_digit"] == 1


def _result(**kw):
    from runtime.streaming.reader import FrameResult

    return FrameResult(0, "x", **kw)


def test_cli_classify_folder_json(digits_model, frame_set, tmp_path):
    folder, _ = digits_model
    x, y, frames = frame_set
    for i in range(0, 500, 50):
        Image.fromarray(frames[i]).save(tmp_path / f"{i:03d}.png")
    Image.fromarray(np.full((480, 640), 200, np.uint8)).save(tmp_path / "999-blank.png")
    proc = run_cli("classify", str(folder / "model.int8.tflite"), "--source", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 11 and rows[-1]["label"] is None  # the blank page: no digit
    assert np.mean([r["label"] for r in rows[:10]] == y[::50]) >= 0.8
    assert {"frame", "origin", "label", "name", "score", "ms", "preprocess_ms", "inference_ms", "fps"} <= set(rows[0])
    assert "11 frames" in proc.stderr and "10 with a digit, 1 without" in proc.stderr and "p99" in proc.stderr


def test_cli_classify_multi_and_max_frames(digits_model, classifier, digits, tmp_path):
    folder, _ = digits_model
    numbers, rng = _known_numbers(classifier, digits, 5, seed=3)
    for i, idx in enumerate(numbers):
        Image.fromarray(number_frame(digits.x_test[idx], rng)).save(tmp_path / f"{i}.png")
    proc = run_cli("classify", str(folder / "model.int8.tflite"), "--source", str(tmp_path / "*.png"), "--multi",
                   "--max-frames", "3", "--digits", "3", "--json", "--show", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    assert all(len(r["digits"]) == 3 and len(r["text"]) == 3 and 0 < r["score"] <= 1 for r in rows)
    assert "--show ignored" in proc.stderr  # headless: the preview is skipped, classification goes on


def test_cli_classify_bad_sources(digits_model, tmp_path):
    model = str(digits_model[0] / "model.int8.tflite")
    assert_one_line_error(run_cli("classify", model, "--source", "camera:3"), "camera:3", "cannot open")
    assert_one_line_error(run_cli("classify", model, "--source", str(tmp_path / "none")), "no such file or folder")
    proc = run_cli("classify", model, "--source", "picamera")
    assert_one_line_error(proc, "picamera2", "apt install")


def test_cli_classify_stops_cleanly_on_ctrl_c(digits_model, frame_set, tmp_path):
    _, _, frames = frame_set
    _write_video(tmp_path / "long.avi", frames[:20] * 50)  # 1,000 frames: still running when Ctrl-C comes
    model = str(digits_model[0] / "model.int8.tflite")
    proc = start_cli("classify", model, "--source", str(tmp_path / "long.avi"), "--json")
    first = proc.stdout.readline()
    assert json.loads(first)["frame"] == 0
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "stopped (Ctrl-C)" in err and " frames in " in err
    assert len(out.splitlines()) + 1 < 1000


def test_preview_annotation_draws_boxes_and_crops(classifier, digits):
    from runtime.streaming.preview import annotate

    frame = paper_frame(digits.x_test[0], np.random.default_rng(4))
    result = DigitReader(classifier).read(Frame(0, "f", frame))
    drawn = annotate(frame, result)
    assert drawn.shape == frame.shape and drawn.dtype == np.uint8
    b = result.digits[0].box
    edge = drawn[b.top, b.left : b.right]
    assert (edge[:, 1] > 150).mean() > 0.9 and (edge[:, 0] < 60).mean() > 0.9  # a green box line
    np.testing.assert_array_equal(drawn[: 28 * 4 : 4, : 28 * 4 : 4, 0], result.crops[0])  # the model's crop


def test_a_camera_module_built_for_another_numpy_is_one_line(tmp_path, monkeypatch):
    """picamera2's simplejpeg beside a pip-installed numpy 2.x raises ValueError on import, not ImportError."""
    from runtime.streaming.sources import _import_optional

    (tmp_path / "abi_broken_camera.py").write_text(
        "raise ValueError('numpy.dtype size changed, may indicate binary incompatibility. "
        "Expected 96 from C header, got 88 from PyObject')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SourceError, match="does not load with this numpy .*numpy<2"):
        _import_optional("abi_broken_camera", "picamera", "sudo apt install python3-picamera2")
    with pytest.raises(SourceError, match="not installed: sudo apt install python3-picamera2"):
        _import_optional("no_such_camera_module", "picamera", "sudo apt install python3-picamera2")
