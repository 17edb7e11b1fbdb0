"""Legible digits are read, not dropped (issue 15): soft edges, marker strokes, and no guess on a blank.

The pictures are built here with Pillow from real held-out MNIST digits, not by the
project's frame simulator (tools/frames.py): tight crops as a user would cut them.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from runtime import Classifier
from runtime.imaging.preprocess import _border, _page, find_digits, is_dark_on_light, percentile, stroke_width
from tests.helpers import assert_one_line_error, run_cli

PER_CLASS = 20  # held-out digits per class: 200 in all
CROP, HEIGHT = 140, 112  # px: the tight crops, a digit 112 px tall
CLOSE_UP = 336  # px: a digit held close to the camera, 70% of a 640x480 frame's height


@pytest.fixture(scope="module")
def classifier(digits_model):
    return Classifier(digits_model[0] / "model.int8.tflite", num_threads=1)


@pytest.fixture(scope="module")
def held_out(digits):
    pick = np.concatenate([np.nonzero(digits.y_test == k)[0][:PER_CLASS] for k in range(10)])
    return digits.x_test[pick], digits.y_test[pick]


def upright_ink(digit: np.ndarray, height: int) -> np.ndarray:
    """The digit's ink box scaled (bicubic, aspect kept) to ``height`` px: uint8, bright on black."""
    rows, cols = np.nonzero(digit > 20)
    ink = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    return np.asarray(Image.fromarray(ink).resize((width, height), Image.Resampling.BICUBIC))


def tight_crop(digit: np.ndarray, blur: float = 0.0, bold: int = 0) -> np.ndarray:
    """Black ink on white, the digit ``HEIGHT`` px tall in a ``CROP`` px square; ``bold``: a min filter's size."""
    big = upright_ink(digit, HEIGHT)
    page = Image.new("L", (CROP, CROP), 255)
    page.paste(Image.fromarray(255 - big), ((CROP - big.shape[1]) // 2, (CROP - HEIGHT) // 2))
    if bold:
        page = page.filter(ImageFilter.MinFilter(bold))
    if blur:
        page = page.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(page)


def read(classifier, images):
    """(answered share, accuracy counting unanswered as wrong, predictions, soft flags)."""
    found = [find_digits(im) for im in images]
    answered = np.array([len(f) == 1 for f in found])
    preds = np.full(len(images), -1)
    if answered.any():
        preds[answered] = classifier.scores(np.stack([f[0].image for f in found if f])).argmax(axis=1)
    return answered.mean(), preds, [bool(f and f[0].soft) for f in found]


def assert_all_read(classifier, held_out, pictures, what: str) -> None:
    """Every picture (one per held-out digit) answered, and 90% of the digits the model reads right
    clean read right in them."""
    x, y = held_out
    clean = classifier.scores(x).argmax(axis=1) == y
    answered, preds, _ = read(classifier, pictures)
    print(f"{what}: answered {answered:.3f}, read right {np.mean(preds[clean] == y[clean]):.3f}")
    assert answered == 1.0
    assert np.mean(preds[clean] == y[clean]) >= 0.9


@pytest.mark.parametrize("radius", [4, 6])
def test_soft_digits_are_found_and_read(classifier, held_out, radius):
    x, y = held_out
    clean = float(np.mean(classifier.scores(x).argmax(axis=1) == y))
    answered, preds, soft = read(classifier, [tight_crop(d, blur=radius) for d in x])
    accuracy = float(np.mean(preds == y))
    print(f"r={radius}: answered {answered:.3f} accuracy {accuracy:.3f} clean {clean:.3f} soft {np.mean(soft):.2f}")
    assert answered == 1.0  # the issue: 55% (r=4) and 4% (r=6) were "no digit found"
    assert accuracy >= clean - 0.06
    assert np.mean(soft) >= 0.5  # and they are flagged as soft, not hidden


def test_sharp_crops_are_not_flagged_soft(classifier, held_out):
    x, _ = held_out
    _, _, soft = read(classifier, [tight_crop(d) for d in x[::4]])
    assert np.mean(soft) <= 0.1


def test_marker_digits_are_read(classifier, held_out):
    x, y = held_out
    bold = [tight_crop(d, bold=15) for d in x]
    widths = [stroke_width(255 - np.asarray(Image.fromarray(b).resize((28, 28), Image.Resampling.BOX)))
              for b in bold[::10]]
    assert np.median(widths) * CROP / 28 >= HEIGHT / 5  # a marker: the stroke near a quarter of the height
    clean = classifier.scores(x).argmax(axis=1) == y
    answered, preds, _ = read(classifier, bold)
    print(f"bold: answered {answered:.3f} accuracy {np.mean(preds == y):.3f} clean {clean.mean():.3f}")
    assert answered == 1.0
    assert np.mean(preds[clean] == y[clean]) >= 0.85  # was ~30%: read as 4, 8, 6 or 1
    for k in (0, 7):  # the examples
        assert np.mean(preds[clean & (y == k)] == k) >= 0.8


def blank_photo(seed: int) -> np.ndarray:
    """Paper under uneven light with sensor noise and JPEG, no ink: 480x640 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    light = 1 - 0.25 * (xx / 640 * np.cos(seed) + yy / 480 * np.sin(seed)) ** 2
    shadow = 1 - 0.3 / (1 + np.exp(-(xx - 200 - 60 * seed) / 25))  # a soft-edged cast shadow
    gray = 225 * light * shadow + rng.normal(0, 4, light.shape)
    rgb = np.clip(np.stack([gray, gray * 0.98, gray * 0.93], axis=-1), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=75)
    return np.asarray(Image.open(buffer))


def hard_shadow(shape: tuple[int, int], rng: np.random.Generator, through: tuple[int, int],
                depth: float) -> np.ndarray:
    """The light under a cast shadow with a hard straight edge (sunlight, a small lamp) through
    ``through`` (row, column) at a random angle: 1 outside it, 1 - ``depth`` inside."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    angle = rng.uniform(0, 2 * np.pi)
    return 1 - depth * ((cols - through[1]) * np.cos(angle) + (rows - through[0]) * np.sin(angle) > 0)


def test_a_hard_shadow_edge_is_paper_not_ink(classifier, held_out):
    """A hard shadow's edge is a step in the paper, not a stroke: a digit it crosses is read under a
    deep (75%) shadow, and a blank page under one has no digit. Its edge used to stand out as a
    line of ink along the whole edge, as strong as the digit in the shadow (23% read, every blank
    page answered)."""
    x, y = held_out
    rng = np.random.default_rng(0)
    clean = classifier.scores(x).argmax(axis=1) == y
    pictures = []
    for digit in x:
        page = 255 - tight_crop(digit).astype(np.float32)  # ink coverage 0..255, digit in the middle
        page = np.pad(page, ((50, 50), (90, 90)))  # a 240x320 page
        through = (120 + int(rng.integers(-40, 41)), 160 + int(rng.integers(-40, 41)))  # across the digit
        pictures.append((235 - 0.8 * page) * hard_shadow(page.shape, rng, through, 0.75))
    pictures = [np.asarray(Image.fromarray(p.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1)))
                for p in pictures]
    answered, preds, _ = read(classifier, pictures)
    print(f"hard shadow: answered {answered:.3f}, read right {np.mean(preds[clean] == y[clean]):.3f}")
    assert answered == 1.0
    assert np.mean(preds[clean] == y[clean]) >= 0.9
    blanks = []
    for _ in range(16):
        through = (240 + int(rng.integers(-120, 121)), 320 + int(rng.integers(-160, 161)))
        light = 225 * hard_shadow((480, 640), rng, through, rng.uniform(0.3, 0.8))
        blanks.append(np.clip(light + rng.normal(0, 4, light.shape), 0, 255).astype(np.uint8))
    assert [k for k, b in enumerate(blanks) if find_digits(b)] == []


def close_up(digit: np.ndarray, rng: np.random.Generator, contrast: float, depth: float) -> np.ndarray:
    """A 640x480 frame whose digit is ``CLOSE_UP`` px tall, its upper part under a soft cast shadow
    ``depth`` deep that spans the frame's width (a hand's, a head's)."""
    glyph = upright_ink(digit, CLOSE_UP)
    height, width = glyph.shape
    page = np.zeros((480, 640), np.float32)
    top, left = (480 - height) // 2, (640 - width) // 2
    page[top : top + height, left : left + width] = glyph
    edge = top + rng.uniform(0.2, 0.5) * height  # the shadow's edge crosses the digit's upper half
    light = 1 - depth / (1 + np.exp((np.arange(480)[:, None] - edge) / 15.0))
    picture = ((235 - contrast * page) * light).astype(np.uint8)
    return np.asarray(Image.fromarray(picture).filter(ImageFilter.GaussianBlur(2)))


@pytest.mark.parametrize("contrast", [0.35, 0.5])
def test_a_close_up_digit_half_in_shade_is_read_whole(classifier, held_out, contrast):
    """A digit filling most of a frame, not cut by it, is read on the opened paper: taken for a tight
    crop, its paper was a plane through the border, which a shadow across the border bends, and the
    digit's lit half was lost or the shade read as ink (contrast 0.35: 9% read, a third found whole)."""
    x, y = held_out
    rng = np.random.default_rng(0)
    clean = classifier.scores(x).argmax(axis=1) == y
    pictures = [close_up(digit, rng, contrast, depth=0.6) for digit in x]
    found = [find_digits(p) for p in pictures]
    assert all(len(f) == 1 and f[0].box.height >= 0.9 * CLOSE_UP for f in found)
    preds = classifier.scores(np.stack([f[0].image for f in found])).argmax(axis=1)
    print(f"close-up half in shade, contrast {contrast}: read right {np.mean(preds[clean] == y[clean]):.3f}")
    assert np.mean(preds[clean] == y[clean]) >= 0.9


def on_a_surface(digit: np.ndarray, rng: np.random.Generator, light_ink: bool) -> np.ndarray:
    """A 640x480 RGB photo of a page lying on a surface: a white sheet with a dark digit on a table
    darker than the sheet but lighter than the ink, or (``light_ink``) a dark slate with a light digit
    on a wall lighter than the slate but darker than the chalk. The page covers 45-70% of the frame,
    the digit is 120-200 px tall somewhere on it; the surface has a grain and a colour."""
    glyph = upright_ink(digit, int(rng.integers(120, 201))) / 255.0
    height, width = glyph.shape
    page_w, page_h = int(rng.integers(440, 561)), int(rng.integers(330, 421))
    paper, pen, surface = (45.0, 225.0, rng.uniform(95, 150)) if light_ink else (235.0, 30.0, rng.uniform(70, 140))
    page = np.full((page_h, page_w), paper, np.float32)
    top, left = int(rng.integers(10, page_h - height - 10)), int(rng.integers(10, page_w - width - 10))
    page[top : top + height, left : left + width] += glyph * (pen - paper)
    grain = np.asarray(Image.fromarray(rng.normal(128, 40, (480, 640)).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(3))).astype(np.float32) - 128
    gray = surface + 0.6 * grain
    y0, x0 = int(rng.integers(8, 480 - page_h - 8)), int(rng.integers(8, 640 - page_w - 8))
    canvas = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    canvas.paste(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)), (x0, y0))
    tint = np.array([1.15, 1.0, 0.8] if not light_ink else [0.95, 1.0, 1.05], np.float32)
    frame = np.asarray(canvas).astype(np.float32)[..., None] * np.ones(3, np.float32)
    inside = np.zeros((480, 640), bool)
    inside[y0 : y0 + page_h, x0 : x0 + page_w] = True
    frame[~inside] *= tint
    frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(1)))


@pytest.mark.parametrize("light_ink", [False, True])
def test_a_page_lying_on_a_table_is_read(classifier, held_out, light_ink):
    """A photo of a sheet on a darker table (or a slate on a lighter wall) has no paper at its border:
    the border's grey lies between the ink's and the page's. The page decides the polarity; taken from
    the border, the sheet itself was read as light ink on a dark ground (about half read)."""
    x, _ = held_out
    rng = np.random.default_rng(1 if light_ink else 0)
    assert_all_read(classifier, held_out, [on_a_surface(d, rng, light_ink) for d in x],
                    f"page on a surface (light ink {light_ink})")


def lamp_lit(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 640x480 grey photo of a dark digit on white paper lit by a lamp near the page: the light
    falls off by 75-90% from the lamp's side to the far side of the frame."""
    glyph = upright_ink(digit, int(rng.integers(100, 221))) / 255.0
    height, width = glyph.shape
    paper = rng.uniform(215, 245)
    gray = np.full((480, 640), paper, np.float32)
    top, left = int(rng.integers(10, 470 - height)), int(rng.integers(10, 630 - width))
    gray[top : top + height, left : left + width] += glyph * (30 - paper)
    rows, cols = np.mgrid[0:480, 0:640].astype(np.float32)
    lamp = rng.uniform(-0.3, 1.3, 2) * (640, 480)
    distance = np.hypot(cols - lamp[0], rows - lamp[1])
    gray *= 1 - rng.uniform(0.75, 0.9) * (distance - distance.min()) / np.ptp(distance)
    gray += rng.normal(0, 3, gray.shape)
    return np.asarray(Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)))


def test_a_light_falloff_is_not_a_page(held_out):
    """Under a strong falloff the lit side of the paper stands out from the border's median like a
    sheet from a table, and was taken for a page whose own falloff then set the polarity (7 of 300
    such pictures). A page's edge is a step; a falloff's is not."""
    x, _ = held_out
    rng = np.random.default_rng(5)
    pictures = [np.asarray(Image.fromarray(lamp_lit(d, rng)).reduce(4)) for d in x[:150]]
    pages = [k for k, p in enumerate(pictures) if _page(p, border := _border(p), percentile(border, 50)) is not None]
    assert pages == []
    assert np.mean([is_dark_on_light(p) for p in pictures]) >= 0.98


@pytest.mark.parametrize("light_ink", [False, True])
def test_ink_filling_a_tight_crop_is_not_a_page(held_out, light_ink):
    """The other side of the page rule: a bold digit filling most of a crop with a thin margin is a
    large region unlike the border too, but the border is then the picture's lightest (or darkest)
    grey, which is paper. Every such crop keeps its polarity."""
    x, _ = held_out
    wrong = []
    for k, digit in enumerate(x[::4]):
        for margin, bold in ((2, 0), (5, 8), (10, 14), (20, 20)):
            big = np.pad(upright_ink(digit, HEIGHT), bold + margin)
            if bold:
                big = np.asarray(Image.fromarray(big).filter(ImageFilter.MaxFilter(2 * bold + 1)))
            picture = big if light_ink else 255 - big
            if is_dark_on_light(picture) == light_ink:
                wrong.append((k, margin, bold))
    assert wrong == []


def far_away(digit: np.ndarray, rng: np.random.Generator, light_ink: bool) -> np.ndarray:
    """A 640x480 RGB photo of a small digit seen from afar, 24-58 px tall (5-12% of the frame):
    chalk on a dark slate, or (not ``light_ink``) a dark pen on white paper; the light falls off
    across the frame, with sensor noise, a little blur and JPEG."""
    glyph = upright_ink(digit, int(rng.integers(24, 59))) / 255.0
    height, width = glyph.shape
    ground, ink = (rng.uniform(20, 90), rng.uniform(170, 240)) if light_ink else (rng.uniform(180, 235), 30.0)
    gray = np.full((480, 640), ground, np.float32)
    top, left = int(rng.integers(10, 470 - height)), int(rng.integers(10, 630 - width))
    gray[top : top + height, left : left + width] += glyph * (ink - ground)
    cols = np.arange(640, dtype=np.float32) / 640
    gray *= 1 - rng.uniform(0, 0.3) * (cols if rng.random() < 0.5 else 1 - cols)
    gray += rng.normal(0, 3, gray.shape)
    picture = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=85)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("light_ink", [False, True])
def test_a_small_digit_far_away_is_read(classifier, held_out, light_ink):
    """A digit 5-12% of the frame tall has less ink than the darkest or brightest 0.5% of the
    picture, which told ink from paper: both extremes were the paper's noise, and chalk on a slate
    was taken for dark ink (11% read; a dark pen 93%, by the tie's side). Now the finer tail decides."""
    x, _ = held_out
    rng = np.random.default_rng(3 if light_ink else 2)
    assert_all_read(classifier, held_out, [far_away(d, rng, light_ink) for d in x],
                    f"small digit far away (light ink {light_ink})")


def test_a_glint_on_a_blank_page_is_not_chalk():
    """The other side of the finer tail: on blank paper a glint (a bright spot, light reflected by a
    glossy page or a whiteboard) is the brightest tail, but light ink needs a dark ground: the page
    keeps dark ink, so the glint is not taken for a digit."""
    rng = np.random.default_rng(4)
    light = []
    for seed in range(8):
        picture = Image.fromarray(blank_photo(seed))
        x, y, r = int(rng.integers(60, 580)), int(rng.integers(60, 420)), int(rng.integers(3, 14))
        ImageDraw.Draw(picture).ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
        small = np.asarray(picture.filter(ImageFilter.GaussianBlur(1.5)).convert("L").reduce(4))
        if not is_dark_on_light(small):
            light.append(seed)
    assert light == []


def test_blank_pictures_have_no_digit():
    blanks = [np.full((28, 28), v, np.uint8) for v in (0, 128, 255)]
    blanks += [np.random.default_rng(1).integers(120, 136, (28, 28)).astype(np.uint8)]
    blanks += [blank_photo(s) for s in range(4)]
    assert [k for k, b in enumerate(blanks) if find_digits(b)] == []


def test_predict_answers_a_blank_with_no_digit(digits_model, classifier, held_out, tmp_path):
    model = str(digits_model[0] / "model.int8.tflite")
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "blank28.png")
    Image.fromarray(blank_photo(2)).save(tmp_path / "blank-photo.jpg")
    for name in ("blank28.png", "blank-photo.jpg"):
        proc = run_cli("predict", model, str(tmp_path / name))
        assert_one_line_error(proc, name, "no digit found")
        assert proc.stdout == ""
    x, y = held_out
    soft = [tight_crop(d, blur=6) for d in x[y == 3]]
    k = next(i for i, s in enumerate(soft) if classifier.scores(find_digits(s)[0].image).argmax() == 3)
    Image.fromarray(soft[k]).save(tmp_path / "soft.png")
    proc = run_cli("predict", model, str(tmp_path / "soft.png"), "--json")
    assert proc.returncode == 0, proc.stderr  # the issue: "no digit found (blank, or ink too faint)"
    assert json.loads(proc.stdout)["label"] == 3
