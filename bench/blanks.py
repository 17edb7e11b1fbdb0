"""Pictures with no digit: how often the camera path finds one anyway. Writes bench/results-blanks.md.

A blank page must give "no digit", never a guess. Blank pages are built by two code paths,
neither of them the project's simulator (tools/frames.py):

- Pillow (here): a page of random grey under uneven light, a soft cast shadow, a hard-edged
  cast shadow (sunlight, a small lamp), a glint (light reflected by a glossy page), sensor
  noise and JPEG;
- OpenCV (bench/scenes.py's camera, given no ink): its random scenes, with stronger light and
  shadow, a hard shadow edge, and a glint drawn with OpenCV.

Each group counts the pictures in which ``find_digits`` found a digit; with ``--model``, also
those whose reading clears ``--min-score`` (what ``classify --min-score`` would still report).

    python bench/blanks.py [--count 100] [--model MODEL.tflite] [--min-score 0.8] [--out bench/results-blanks.md]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from bench.scenes import FRAME, _camera, _edge, random_scene  # noqa: E402
from runtime import Classifier  # noqa: E402
from runtime.imaging.preprocess import find_digits  # noqa: E402

WIDTH, HEIGHT = FRAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="pictures in each group")
    parser.add_argument("--model", help="a .tflite model: also count the readings that clear --min-score")
    parser.add_argument("--min-score", type=float, default=0.8)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-blanks.md"))
    args = parser.parse_args()
    clf = Classifier(args.model, num_threads=1) if args.model else None
    start = time.perf_counter()
    rows = []
    for name, make in GROUPS.items():
        rng = np.random.default_rng(len(rows))
        found = [find_digits(make(rng)) for _ in range(args.count)]
        crops = [f[0].image for f in found if f]
        sure = None
        if clf is not None:
            sure = int(np.sum(clf.scores(np.stack(crops)).max(axis=1) >= args.min_score)) if crops else 0
        rows.append((name, args.count, len(crops), sure))
        print(name, len(crops), sure, flush=True)
    text = _markdown(rows, args, time.perf_counter() - start)
    Path(args.out).write_text(text)
    print(text)


def _pillow_page(rng: np.random.Generator, falloff: float, soft: float, hard: float) -> np.ndarray:
    """A blank page, 480x640 float grey: light falling off by up to ``falloff`` across it, a soft
    shadow ``soft`` deep and a hard-edged one ``hard`` deep, each across a random line."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (cols / WIDTH * np.cos(angle) + rows / HEIGHT * np.sin(angle))
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    light = 1 - falloff * ramp ** rng.choice([1.0, 2.0])
    for depth, softness in ((soft, rng.uniform(10, 40)), (hard, 0.0)):
        if depth > 0:
            light *= 1 - depth * _edge(_side(rng, rows, cols), softness)
    return rng.uniform(170, 235) * light


def _side(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Signed distance from a random line through the middle half of the frame."""
    angle = rng.uniform(0, 2 * np.pi)
    row, col = rng.uniform(0.25, 0.75) * HEIGHT, rng.uniform(0.25, 0.75) * WIDTH
    return (cols - col) * np.cos(angle) + (rows - row) * np.sin(angle)


def _pillow_photo(gray: np.ndarray, rng: np.random.Generator, glint: bool = False) -> np.ndarray:
    """The page as an RGB JPEG photo (Pillow): a glint if asked, sensor noise, JPEG 50-95."""
    gray = gray + rng.normal(0, rng.uniform(2, 6), gray.shape)
    rgb = np.clip(np.stack([gray, gray * 0.98, gray * 0.94], axis=-1), 0, 255).astype(np.uint8)
    picture = Image.fromarray(rgb)
    if glint:
        x, y, r = rng.uniform(40, WIDTH - 40), rng.uniform(40, HEIGHT - 40), rng.uniform(3, 25)
        ImageDraw.Draw(picture).ellipse((x - r, y - r * rng.uniform(0.4, 1), x + r, y + r), fill=(255, 255, 255))
        picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(1, 3)))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=int(rng.integers(50, 96)))
    return np.asarray(Image.open(buffer))


def _opencv_scene(rng: np.random.Generator, strong: bool = False, hard: bool = False, glint: str = ""):
    """bench/scenes.py's camera on no ink; ``glint``: "dark" (a white page) or "light" (a dark board)."""
    scene = random_scene(rng)
    if strong:
        scene = replace(scene, light=rng.uniform(0.3, 0.8), shadow=rng.uniform(0.3, 0.8))
    if hard:
        scene = replace(scene, shadow_edge=0, shadow=max(scene.shadow, 0.3))
    if glint:
        scene = replace(scene, polarity=glint)
    frame = _camera(np.zeros((HEIGHT, WIDTH), np.float32), scene, rng)
    if not glint:
        return frame
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    center = (int(rng.integers(30, WIDTH - 30)), int(rng.integers(30, HEIGHT - 30)))
    axes = (int(rng.integers(3, 25)), int(rng.integers(3, 25)))
    cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    mask = np.clip(1.5 * cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(1, 4))), 0, 1)[..., None]
    lit = frame + (255 - frame.astype(np.float32)) * mask
    ok, jpeg = cv2.imencode(".jpg", np.clip(lit, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, scene.quality])
    return cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)


GROUPS = {
    "Pillow: even light": lambda rng: _pillow_photo(_pillow_page(rng, 0, 0, 0), rng),
    "Pillow: uneven light, soft shadow": lambda rng: _pillow_photo(
        _pillow_page(rng, rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.4), 0), rng),
    "Pillow: hard shadow, even light": lambda rng: _pillow_photo(_pillow_page(rng, 0, 0, rng.uniform(0.3, 0.8)), rng),
    "Pillow: hard shadow, uneven light": lambda rng: _pillow_photo(
        _pillow_page(rng, rng.uniform(0.1, 0.5), rng.uniform(0, 0.4), rng.uniform(0.3, 0.8)), rng),
    "Pillow: glint, uneven light": lambda rng: _pillow_photo(
        _pillow_page(rng, rng.uniform(0, 0.4), rng.uniform(0, 0.3), 0), rng, glint=True),
    "OpenCV: random scene": lambda rng: _opencv_scene(rng),
    "OpenCV: strong light and shadow": lambda rng: _opencv_scene(rng, strong=True),
    "OpenCV: hard shadow": lambda rng: _opencv_scene(rng, hard=True),
    "OpenCV: hard shadow, strong light": lambda rng: _opencv_scene(rng, strong=True, hard=True),
    "OpenCV: glint, white page": lambda rng: _opencv_scene(rng, glint="dark"),
    "OpenCV: glint, dark board": lambda rng: _opencv_scene(rng, glint="light"),
}


def _describe(path: Path) -> str:
    """The model's file name, and its dataset and test accuracy from the metrics.json beside it."""
    try:
        metrics = json.loads((path.parent / "metrics.json").read_text())
        return (f"`{path.name}` ({metrics['dataset']}, augment {metrics.get('augment')}, seed {metrics.get('seed')}; "
                f"Keras test accuracy {100 * metrics['test_accuracy']:.1f}%)")
    except (OSError, ValueError, KeyError):
        return f"`{path.name}`"


def _markdown(rows: list, args, seconds: float) -> str:
    model = _describe(Path(args.model)) if args.model else "none"
    head = "| pictures | digit found |" + (f" found, score >= {args.min_score} |" if args.model else "")
    lines = [f"# Blank pictures ({date.today().isoformat()})", "",
             f"Machine: {machine.describe()}; {seconds:.0f} s. Produced by `python bench/blanks.py"
             + (f" --model ... --min-score {args.min_score}`" if args.model else "`") + f". Model: {model}.",
             "Every picture is a page with no ink; \"digit found\" counts the pictures in which `find_digits` "
             "found one (each is an error: the answer should be \"no digit\").", "",
             "| group " + head, "|---|---:|---:|" + ("---:|" if args.model else "")]
    for name, count, found, sure in rows:
        cells = f"| {name} | {count} | {found} ({100 * found / count:.0f}%) |"
        if sure is not None:
            cells += f" {sure} ({100 * sure / count:.0f}%) |"
        lines.append(cells)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
