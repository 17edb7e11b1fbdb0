"""Camera-like frames made from real 28x28 digits, for tests and benchmarks (there is no camera here).

A camera does not see MNIST: it sees dark ink on off-white paper under uneven
light, with a shadow, sensor noise, blur and JPEG compression, the digit anywhere
and at any size. ``paper_frame`` renders a real MNIST digit that way into a
640x480 RGB frame; ``number_frame`` writes several digits side by side, like a
meter reading. Both are seeded, so a test or a benchmark sees the same frames on
every run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

FRAME_SIZE = (640, 480)  # (width, height) pixels, a common camera preview size
DIGIT_HEIGHT = (100, 300)  # pixels, range of the digit's height in the frame
MAX_ROTATION = 10.0  # degrees either way, one digit
LINE_ROTATION = 6.0  # degrees either way, a written number as a whole
DIGIT_ROTATION = 4.0  # degrees either way, each digit of a number on top of the line's rotation
JPEG_QUALITY = (60, 90)
LIGHT_SCALE = 8  # lighting is computed at 1/8 size


@dataclass(frozen=True)
class Scene:
    """The random choices behind one frame (kept so a failure can be reproduced)."""

    paper: float  # paper brightness, 0..255
    ink: float  # ink brightness, 0..255
    gradient: float  # lighting falloff across the frame, 0..1
    shadow: float  # darkening inside the shadow, 0..1
    blur: float  # Gaussian radius, pixels
    noise: float  # sensor noise sigma, grey levels
    quality: int  # JPEG quality


def random_scene(rng: np.random.Generator) -> Scene:
    """Draw lighting, ink and camera conditions for one frame."""
    return Scene(paper=rng.uniform(175, 240), ink=rng.uniform(15, 70), gradient=rng.uniform(0.0, 0.3),
                 shadow=rng.uniform(0.1, 0.35), blur=rng.uniform(0.3, 2.0), noise=rng.uniform(2, 8),
                 quality=int(rng.integers(*JPEG_QUALITY)))


def ink_layer(digit: np.ndarray, height: int, rng: np.random.Generator,
              max_rotation: float = MAX_ROTATION) -> np.ndarray:
    """Scale a 28x28 MNIST digit so its ink is ``height`` px tall, rotate it slightly; float 0..1 coverage."""
    rows = np.nonzero(digit.max(axis=1))[0]
    ink_rows = max(1, rows.max() - rows.min() + 1) if len(rows) else 20
    side = max(28, round(28 * height / ink_rows))
    img = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    img = img.rotate(rng.uniform(-max_rotation, max_rotation), Image.Resampling.BICUBIC, expand=True)
    return np.asarray(img, dtype=np.float32) / 255.0


def paper_frame(digit: np.ndarray, rng: np.random.Generator, scene: Scene | None = None) -> np.ndarray:
    """Render one digit as a camera would see it: a 480x640x3 uint8 RGB frame."""
    height = int(rng.integers(DIGIT_HEIGHT[0], DIGIT_HEIGHT[1] + 1))
    coverage = _place(FRAME_SIZE, [ink_layer(digit, height, rng)], rng, gap=(0, 0))
    return render(coverage, scene or random_scene(rng), rng)


def number_frame(digits: Sequence[np.ndarray], rng: np.random.Generator, gap: tuple[float, float] = (0.08, 0.3),
                 scene: Scene | None = None) -> np.ndarray:
    """Render several digits left to right, like a written number; ``gap`` is a share of digit height.

    The digits of one number share a baseline and a slant: the line as a whole is
    rotated up to ``LINE_ROTATION`` degrees, each digit up to ``DIGIT_ROTATION`` more.
    """
    height = int(rng.integers(90, 150))
    layers = [ink_layer(d, round(height * rng.uniform(0.92, 1.08)), rng, DIGIT_ROTATION) for d in digits]
    line = _place((FRAME_SIZE[0] - 60, FRAME_SIZE[1] - 60), layers, rng, gap=gap, height=height)
    tilted = Image.fromarray(_trim(line)).rotate(rng.uniform(-LINE_ROTATION, LINE_ROTATION),
                                                 Image.Resampling.BICUBIC, expand=True)
    coverage = _place(FRAME_SIZE, [np.asarray(tilted)], rng, gap=(0, 0))
    return render(coverage, scene or random_scene(rng), rng)


def render(coverage: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Paper, light, shadow, ink, blur, noise and JPEG, applied to an HxW ink coverage map (0..1)."""
    h, w = coverage.shape
    light = _lighting(h, w, scene, rng)
    gray = light * (scene.paper * (1 - coverage) + scene.ink * coverage)
    tint = np.array([1.0, 0.97, 0.9], dtype=np.float32)  # warm indoor light
    rgb = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(scene.blur))
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, scene.noise, (h, w, 1)).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=scene.quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def naive_resize(frame: np.ndarray) -> np.ndarray:
    """What the tutorials do: the whole frame to grayscale 28x28 (inverted, to be fair to it)."""
    gray = Image.fromarray(frame).convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    return 255 - np.asarray(gray)


def digit_frames(images: np.ndarray, seed: int = 0) -> Iterator[np.ndarray]:
    """One camera-like frame per 28x28 digit, in order, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    for digit in images:
        yield paper_frame(digit, rng)


def _lighting(h: int, w: int, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """A linear falloff in a random direction times a soft-edged shadow over part of the frame."""
    # Light varies slowly: compute it at 1/8 scale and upsample (a full-size blur is most of the cost).
    sh, sw = h // LIGHT_SCALE, w // LIGHT_SCALE
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:sh, 0:sw].astype(np.float32) * LIGHT_SCALE
    ramp = (x * np.cos(angle) + y * np.sin(angle)) / np.hypot(h, w)
    light = 1 - scene.gradient * (ramp - ramp.min())
    edge = rng.uniform(0.2, 0.8) * w
    tilt = rng.uniform(-0.5, 0.5)
    inside = ((x - tilt * y) < edge) if rng.random() < 0.5 else ((x - tilt * y) > edge)
    softness = rng.uniform(20, 50) / LIGHT_SCALE
    mask = Image.fromarray((inside * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(softness))
    small = light * (1 - scene.shadow * np.asarray(mask, dtype=np.float32) / 255.0)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR))


def _place(size: tuple[int, int], layers: list[np.ndarray], rng: np.random.Generator, gap: tuple[float, float],
           height: int | None = None) -> np.ndarray:
    """Paste ink layers left to right at a random, in-frame position; returns the coverage map."""
    w, h = size
    gaps = [0] + [round(rng.uniform(*gap) * (height or 0)) for _ in layers[1:]]
    trims = [_trim(layer) for layer in layers]
    total_w = sum(t.shape[1] for t in trims) + sum(gaps)
    top_h = max(t.shape[0] for t in trims)
    if total_w > w or top_h > h:
        raise ValueError(f"digits of {total_w}x{top_h} px do not fit a {w}x{h} frame")
    coverage = np.zeros((h, w), dtype=np.float32)
    x = int(rng.integers(0, w - total_w + 1))
    y0 = int(rng.integers(0, h - top_h + 1))
    for trim, g in zip(trims, gaps):
        x += g
        y = y0 + (top_h - trim.shape[0]) // 2 + int(rng.integers(-3, 4))
        y = min(max(y, 0), h - trim.shape[0])
        region = coverage[y : y + trim.shape[0], x : x + trim.shape[1]]
        np.maximum(region, trim, out=region)
        x += trim.shape[1]
    return coverage


def _trim(layer: np.ndarray) -> np.ndarray:
    """Crop an ink layer to its visible ink (coverage above 2%)."""
    rows, cols = np.nonzero(layer > 0.02)
    if len(rows) == 0:
        return layer
    return layer[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
