"""Bring any picture of digits (a photo, a camera frame, a scan) into the MNIST input convention.

The model's input is raw pixel intensity 0..255, bright ink on a dark background,
28x28 (``runtime.common.convention``). MNIST itself was made by fitting each digit into a 20x20 box
(aspect ratio kept, anti-aliased) and centring its centre of mass in a 28x28
field. A camera sees something else: dark ink on grey-white paper, uneven light,
a shadow, noise, the digit anywhere and at any size. The steps below close that
gap, each a small numpy-in, numpy-out function:

1. ``to_grayscale``, then ``crop_region`` to an optional region of interest;
2. ``working_copy``: shrink large frames (box filter) so the rest is cheap;
3. ``ink_map``: decide polarity (the paper is at the border, or is a page that stands
   out from a surround there: a sheet on a table), estimate the paper
   (a grey-level opening at a coarse scale, which follows gradients and shadows,
   refined at full resolution where a hard shadow's edge steps sharply)
   and subtract it, so ink is bright on black whatever the lighting; when the
   digit runs off the picture's edge (a tight crop cut into it), ``crop_ink_map`` takes
   the paper from the border instead;
4. ``ink_threshold``: ink must stand out from the paper by ``MIN_CONTRAST``
   levels, else the picture has no digit. That is the only test of "is there
   ink": a blob that stands out is ink, sharp or blurred (``DigitCrop.soft``);
5. find the digit(s) among the connected components (``runtime.imaging.segment``); a written
   number's row becomes one glyph per digit (``row``, ``splitting``: touching digits cut);
6. ``digit_crop`` + ``mnist_form``: crop, stretch the stroke to 255, thin a marker's
   stroke, fit into 20x20 and centre by centre of mass in 28x28.

Each constant is measured on more than the project's frame simulator: real MNIST
digits, scikit-learn's optdigits (43 other writers) and DejaVu's printed digits, in
``bench/robustness.py`` (figures in bench/results-robustness.md).

``find_digits`` runs them all; ``to_mnist`` is its one-digit form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from runtime.common.convention import MNIST_SIDE, PIXEL_MAX
from runtime.common.errors import ImageError
from runtime.imaging.row import digits_of_row
from runtime.imaging.segment import (
    Box,
    Component,
    Glyph,
    connected_components,
    digit_row,
    main_digit,
)
from runtime.imaging.splitting import Scorer

DIGIT_BOX = 20  # pixels, the box MNIST fits each digit into
WORK_SIDE = 160  # pixels, frames are shrunk until their longer side is at most this
BACKGROUND_CELLS = 30  # the paper is estimated on a grid this many cells across
BACKGROUND_WINDOW = 13  # cells, the opening's window: strokes narrower than this vanish from the estimate
STEP_WINDOW = 7  # cells, the full-resolution opening that finds a hard shadow's edge (``_follow_steps``)
SHARP_STEP = 8  # grey levels from a coarse cell to a neighbour: a smaller step leaves a ridge (half of it)
# that stays under MIN_CONTRAST even scaled by the deepest shadow's 255 / LIT_FLOOR
MIN_CONTRAST = 24  # grey levels ink must differ from the paper by (below: no digit)
INK_LEVEL = 0.4  # a pixel is ink when brighter than this share of the ink's peak
FLOOR_LEVEL = 0.1  # ... and is set to black in the crop below this share (paper noise)
STROKE_PERCENTILE = 75  # the stroke level that is stretched to 255, like MNIST's saturated strokes
MAX_SOFTNESS = 0.4  # ink just outside a blob / ink inside it above this: flagged soft (pen strokes ~0.1)
MAX_STROKE = 4.5  # px, MNIST's stroke width in 28x28, 95th percentile (``stroke_width``; 3.0 median)
LIT_FLOOR = 48  # grey level: paper darker than this is not scaled further (noise would be, too)
BORDER = 2  # pixels, the border whose grey is the paper's
TAIL = 0.005  # share of a picture's pixels, darkest and brightest, that are its extremes: ink or noise
SMALL_TAIL = 0.0005  # ... when no ink shows there: a digit 5% of the frame tall has about 0.1% of its pixels
# (in the 160x120 working copy); half and double of it decide the same on 7,734 measured pictures, 4x loses 7
PAGE_GATE = 0.05  # a border this close to the picture's darkest or brightest grey (share of the range) is paper
PAGE_STEP = 48  # grey levels a page (a sheet on a table) stands out from the border's surround by, at least
PAGE_SHARE = 0.3  # of the picture a page covers, at least: more than a digit's ink
PAGE_EDGE = 12  # grey levels, median, from a page's edge cells to their outside neighbours on the coarse grid:
# a page's edge is a step (5% of measured pages under 29), a light falloff's lit side is not (5-7 at 80%)
PAPER_PERCENTILE = 90  # of the border's greys: the paper's level, even with a shadow over most of the border
STROKE_LEVEL = 0.4  # share of 255 above which a pixel of the 28x28 digit counts as stroke

Region = tuple[int, int, int, int]  # x, y, width, height in pixels


@dataclass(frozen=True)
class DigitCrop:
    """One digit found in an image: its 28x28 MNIST form and its box in the original image's pixels."""

    image: np.ndarray
    box: Box
    touching: bool = False
    soft: bool = False  # blurred edges (out of focus, upscaled): found and read, but say so


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Reduce an HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) array to HxW uint8.

    Args:
        image: pixel array, integer 0..255 or float 0..255.

    Returns:
        HxW uint8, luminance by ITU-R 601-2 (Pillow's "L").

    Raises:
        ImageError: the array is not numeric, not finite, or has another shape.
    """
    image = np.asarray(image)
    if image.dtype.kind not in "buif":
        raise ImageError(f"expected numeric pixel values, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) >= 1:
        if image.dtype == np.uint8:  # the camera case: Pillow's C conversion is ~10x faster than numpy
            return np.asarray(_rgb_image(image).convert("L"))
        if image.dtype.kind == "f" and not np.isfinite(image).all():  # alpha too: a broken image
            raise ImageError("pixel values must be finite numbers (found NaN or infinity)")
        rgb = np.clip(image[:, :, :3], 0, 255).astype(np.float32)  # float64 may exceed float32
        image = np.einsum("hwc,c->hw", rgb, np.array([0.299, 0.587, 0.114], dtype=np.float32))
    if image.ndim != 2 or min(image.shape) < 1:
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageError("pixel values must be finite numbers (found NaN or infinity)")
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def crop_region(gray: np.ndarray, region: Region | None) -> np.ndarray:
    """The part of ``gray`` inside ``region`` (x, y, width, height), clipped to the image; None keeps all.

    Raises:
        ImageError: the region lies outside the image or is empty.
    """
    if region is None:
        return gray
    x, y, w, h = region
    top, left = max(0, y), max(0, x)
    bottom, right = min(gray.shape[0], y + h), min(gray.shape[1], x + w)
    if w <= 0 or h <= 0 or bottom <= top or right <= left:
        raise ImageError(f"region {x},{y},{w},{h} is outside the {gray.shape[1]}x{gray.shape[0]} image")
    return gray[top:bottom, left:right]


def working_copy(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """Shrink by a whole factor (box filter) until the longer side is at most ``WORK_SIDE``.

    Returns:
        (image, factor): the shrunk image and the factor (1 when already small).
    """
    factor = -(-max(gray.shape) // WORK_SIDE)
    if factor == 1:
        return gray, 1
    return np.asarray(Image.fromarray(gray).reduce(factor)), factor


def _camera_working_copy(image: np.ndarray, region: Region | None) -> tuple[np.ndarray | None, int]:
    """``working_copy(crop_region(to_grayscale(image), region))`` for the camera's case, a large
    uint8 RGB(A) frame, in Pillow alone: shrink the colour frame, then take its luminance, so the
    luminance is computed on 1/factor² of the pixels. Box averaging and luminance are both linear,
    so the result differs from the other order by Pillow's rounding only (at most one grey
    level). (None, 0) for every other input, which takes the general path.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        return None, 0  # the general path takes it, or says what is wrong with it
    frame = crop_region(image, region)
    factor = -(-max(frame.shape[:2]) // WORK_SIDE)
    if factor == 1:
        return None, 0
    return np.asarray(_rgb_image(frame).reduce(factor).convert("L")), factor


def _rgb_image(pixels: np.ndarray) -> Image.Image:
    """An HxWx3 or HxWx4 uint8 RGB(A) array as a Pillow RGB image.

    A camera's frame is B, G, R in memory (OpenCV, picamera2's "RGB888"), and ``bgr_to_rgb``
    shows it as RGB by a channel-reversed view. Pillow unpacks that memory as BGR in the pass
    that reads it anyway, where making the view contiguous first would cost a full-frame copy.
    """
    rgb = pixels[:, :, :3]
    bgr = rgb[:, :, ::-1]
    if bgr.flags.c_contiguous:
        return Image.frombuffer("RGB", (bgr.shape[1], bgr.shape[0]), bgr, "raw", "BGR", 0, 1)
    return Image.fromarray(np.ascontiguousarray(rgb))


def is_dark_on_light(gray: np.ndarray) -> bool:
    """True when the ink is darker than the paper.

    The paper is the grey at the picture's border: that holds for a frame with a digit
    anywhere and for a tight crop whose digit covers most of it. Its best-lit part counts
    (``PAPER_PERCENTILE``), as a cast shadow may cover most of the border. The ink is
    whichever extreme, darkest or brightest ``TAIL`` of all pixels, lies further from it.

    A small digit (a tenth of the frame's height or less) has less ink than the tails hold;
    then they lie among the border's own greys, and the finer tails decide (``_small_ink_is_dark``).

    One border is not paper: a surround, a table round a sheet or a wall round a slate, whose
    grey lies between the picture's extremes (paper is one of them, the ink the other). Then,
    when a page stands out inside it (``_page``), the page's own paper and ink decide.
    """
    low, high = _extremes(gray, TAIL)
    border = _border(gray)
    surround = percentile(border, 50)
    between = PAGE_GATE < (surround - low) / max(1, high - low) < 1 - PAGE_GATE
    page = _page(gray, border, surround) if between else None
    if page is not None:
        low, high = _extremes(page, TAIL)
        paper = percentile(page, 50)
        return paper - low > high - paper
    paper = percentile(border, PAPER_PERCENTILE)
    lit_low, lit_high = _extremes(border, TAIL)  # the paper's own greys, under its light and shade
    if lit_low - MIN_CONTRAST < low and high < lit_high + MIN_CONTRAST:
        return _small_ink_is_dark(gray, lit_low, lit_high, paper)
    return paper - low > high - paper


def _small_ink_is_dark(gray: np.ndarray, lit_low: int, lit_high: int, paper: float) -> bool:
    """``is_dark_on_light`` for a picture whose ``TAIL`` extremes are the paper's (its greys at the
    border span ``lit_low``..``lit_high``): the darkest or brightest ``SMALL_TAIL``, whichever reaches
    further beyond the paper's greys, is the ink. Light ink needs a dark ground (chalk on a slate, a
    display): on paper lighter than mid-grey a bright spot is a glint, not a digit."""
    low, high = _extremes(gray, SMALL_TAIL)
    return lit_low - low > high - lit_high or paper >= PIXEL_MAX / 2


def _extremes(gray: np.ndarray, share: float) -> tuple[int, int]:
    """The grey levels where a uint8 picture's darkest and brightest ``share`` of pixels begin."""
    cumulative = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    total = cumulative[-1]
    low, high = (int(np.searchsorted(cumulative, q * total)) for q in (share, 1 - share))
    return low, high


def _page(gray: np.ndarray, border: np.ndarray, surround: float) -> np.ndarray | None:
    """The pixels of a page inside the picture, with what is written on it, or None when there is none.

    A page is a region at least ``PAGE_STEP`` grey levels brighter (a sheet on a table) or darker
    (a slate on a wall) than the border's median grey ``surround``, covering ``PAGE_SHARE`` of the
    picture on the background's coarse grid, and too little of the ``border`` for
    ``is_dark_on_light``'s border rule to see it (a page that reaches further is paper there), whose
    edge is a step (``PAGE_EDGE``; the lit side of a light falloff is not); the holes the writing
    makes in it are filled.
    """
    levels = gray.astype(np.int16) - int(surround)
    rim = border.astype(np.int16) - int(surround)
    for side in (1, -1):
        if np.count_nonzero(side * rim > PAGE_STEP) >= (1 - PAPER_PERCENTILE / 100) * rim.size:
            continue  # the border rule sees it
        if np.count_nonzero(side * levels > PAGE_STEP) < PAGE_SHARE / 2 * levels.size:
            continue  # a first look at full size: a page, not counting its writing, is half of that at least
        h, w = gray.shape
        cell = max(1, min(h, w) // BACKGROUND_CELLS)
        coarse = (np.asarray(Image.fromarray(gray).reduce(cell)) if cell > 1 else gray).astype(np.int16)
        mask = side * (coarse - int(surround)) > PAGE_STEP
        if np.count_nonzero(mask) >= PAGE_SHARE * mask.size and _edge_step(side * coarse, mask) >= PAGE_EDGE:
            page = np.repeat(np.repeat(_filled(mask), cell, axis=0), cell, axis=1)[:h, :w]
            return gray[: page.shape[0], : page.shape[1]][page]
    return None


def _edge_step(levels: np.ndarray, mask: np.ndarray) -> float:
    """The median step in ``levels`` from each cell at the edge of ``mask`` to its neighbour outside it."""
    steps = []
    for inner, outer, inside, outside in ((levels[:, :-1], levels[:, 1:], mask[:, :-1], mask[:, 1:]),
                                          (levels[:-1], levels[1:], mask[:-1], mask[1:])):
        steps += [(inner - outer)[inside & ~outside], (outer - inner)[outside & ~inside]]
    steps = np.concatenate(steps)
    return float(np.median(steps)) if steps.size else 0.0


def _filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled: every region of the rest that does not reach the border."""
    component_map, components = connected_components(~mask)
    outside = [c.component_id for c in components if _at_edge(c.box, mask.shape)]
    return ~np.isin(component_map, outside)


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outermost ``BORDER`` rows and columns."""
    k = max(1, min(BORDER, min(image.shape) // 4))
    return np.concatenate([image[:k].ravel(), image[-k:].ravel(), image[k:-k, :k].ravel(), image[k:-k, -k:].ravel()])


def ink_map(gray: np.ndarray, dark_on_light: bool | None = None) -> np.ndarray:
    """Bright ink on black: the paper's estimated brightness subtracted, whatever the polarity and lighting.

    The paper is estimated by a grey-level opening (min then max filter) on a
    coarse grid, which removes the strokes and keeps gradients and soft shadows;
    it is then scaled back up, made to follow a hard shadow's sharp edge
    (``_follow_steps``), and subtracted.

    Args:
        gray: HxW uint8.
        dark_on_light: the polarity, when already known (default: ``is_dark_on_light``).

    Returns:
        HxW uint8, ink bright, paper near 0.
    """
    dark_on_light = is_dark_on_light(gray) if dark_on_light is None else dark_on_light
    if dark_on_light:
        gray = 255 - gray
    h, w = gray.shape
    cell = max(1, min(h, w) // BACKGROUND_CELLS)
    small = Image.fromarray(gray).reduce(cell) if cell > 1 else Image.fromarray(gray)
    coarse = _opening(np.asarray(small), BACKGROUND_WINDOW)
    paper = _upsample(coarse.astype(np.float32), h, w)
    if cell > 1:
        paper = _follow_steps(paper, coarse, gray, cell)
    ink = gray - paper
    if dark_on_light:  # light multiplies paper and ink alike: rescale each pixel's contrast to the best-lit paper's
        lit = 255 - paper
        ink *= float(lit.max()) / np.maximum(lit, LIT_FLOOR)
    return np.clip(ink, 0, 255).astype(np.uint8)


def _follow_steps(paper: np.ndarray, coarse: np.ndarray, gray: np.ndarray, cell: int) -> np.ndarray:
    """The paper estimate made to follow a sharp step: the edge of a hard cast shadow (sunlight, a lamp).

    Scaled up from the coarse grid, such a step becomes a ramp a cell or two wide, and the
    step's bright side would stand out of the paper as a line of false ink along the whole
    edge, as strong as the digit in a deep shadow. There, the paper is raised to a grey-level
    opening of the picture at full resolution (window ``STEP_WINDOW`` cells, wide enough to
    remove the boldest stroke), but never above the brightest paper of the coarse estimate within
    a cell, so the digit's own ink elsewhere is left alone. When the coarse paper nowhere rises by
    ``SHARP_STEP`` from a cell to its neighbours, the ramp is faithful and the step is skipped.
    """
    if int((_rank_filter(coarse, 3, np.maximum) - coarse).max()) < SHARP_STEP:  # uint8, never negative
        return paper
    fine = _opening(gray, STEP_WINDOW * cell + 1)
    # An opening of a noisy picture sits below the paper's mean by the noise's depth, and that gap,
    # scaled up in a deep shadow, would pass for ink: lift it by the median gap (most pixels are paper).
    fine = fine + np.float32(percentile(gray[::4, ::4].astype(np.int16) - fine[::4, ::4], 50))
    return np.maximum(paper, np.minimum(fine, _rank_filter(paper, 2 * cell + 1, np.maximum)))


def _opening(image: np.ndarray, window: int) -> np.ndarray:
    """Grey-level opening (min then max filter) over ``window`` x ``window`` pixels, on edge-replicated
    margins: a lighting ramp or a shadow rising towards the border (a shadow's tip there) stays a
    plateau, which the opening keeps; with the window cut at the border it would leave a residue."""
    pad = window // 2
    h, w = image.shape
    padded = np.pad(image, pad, mode="edge")
    return _rank_filter(_rank_filter(padded, window, np.minimum), window, np.maximum)[pad : pad + h, pad : pad + w]


def crop_ink_map(gray: np.ndarray, dark_on_light: bool) -> np.ndarray:
    """``ink_map`` for a picture cut into its digit (a tight crop whose ink runs off an edge): the paper
    is a plane fitted to the border.

    The opening's edge-replicated margins carry ink that reaches the edge outwards, as wide as the
    opening's window, and would take it (a marker's stroke, most of all) for paper; the border,
    though, is mostly paper, and a plane through it follows an even light.
    """
    if dark_on_light:
        gray = 255 - gray
    h, w = gray.shape
    rows, cols = np.indices(gray.shape, dtype=np.float32)
    rows /= h
    cols /= w
    c0, c_row, c_col = _plane(_border(rows), _border(cols), _border(gray))
    return np.clip(gray - (c0 + c_row * rows + c_col * cols), 0, 255).astype(np.uint8)


def _plane(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Least-squares plane ``c0 + c_row * row + c_col * col`` through the values, from the 3x3 normal
    equations solved by Cramer's rule: no LAPACK call, whose first use makes OpenBLAS allocate
    about 3 MB of buffers in a one-shot command. A degenerate border (a single row) gives the mean."""
    r, c, v = (a.astype(np.float64) for a in (rows, cols, values))
    n, sr, sc, srr, scc, src = len(v), r.sum(), c.sum(), (r * r).sum(), (c * c).sum(), (r * c).sum()
    sv, srv, scv = v.sum(), (r * v).sum(), (c * v).sum()
    m = ((n, sr, sc), (sr, srr, src), (sc, src, scc))
    det = _det3(m)
    if abs(det) < 1e-9 * max(1.0, n) ** 3:
        return float(sv / n), 0.0, 0.0
    rhs = (sv, srv, scv)
    coef = [_det3(tuple(tuple(rhs[i] if j == k else m[i][j] for j in range(3)) for i in range(3))) / det
            for k in range(3)]
    return float(coef[0]), float(coef[1]), float(coef[2])


def _det3(m) -> float:
    return float(m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                 - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                 + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


def ink_threshold(ink: np.ndarray) -> int | None:
    """The grey level above which a pixel is ink, or None when nothing stands out (a blank frame).

    The peak is read on a 2x2 box-filtered copy, so single noisy pixels cannot set it.
    """
    peak = int(np.asarray(Image.fromarray(ink).reduce(2)).max()) if min(ink.shape) >= 2 else int(ink.max())
    if peak < MIN_CONTRAST:
        return None
    return max(1, int(peak * INK_LEVEL))


def softness(ink: np.ndarray, component_map: np.ndarray, component: Component) -> float:
    """How soft the blob's edges are: the ink level in a 2-pixel ring around it over the level inside it.

    Pen strokes in focus give about 0.1, blurred ones (an out-of-focus camera, an upscaled scan)
    0.4 and more. It is reported (``DigitCrop.soft``), never used to drop ink: the paper's light
    and shadows are removed by ``ink_map``, so what stands out from the paper is ink, soft or not.
    """
    b = component.box.grown(2)
    top, left = max(0, b.top), max(0, b.left)
    inside = component_map[top : b.bottom, left : b.right]
    own = inside == component.component_id
    ring = _rank_filter(own.view(np.uint8), 5, np.maximum).astype(bool) & (inside == 0)
    if not ring.any():
        return 0.0  # the blob fills the image: nothing outside it to compare with
    values = ink[top : b.bottom, left : b.right]
    return percentile(values[ring], 50) / max(1.0, percentile(values[own], 50))


def digit_crop(ink: np.ndarray, component_map: np.ndarray, glyph: Glyph, threshold: int) -> np.ndarray:
    """The glyph's ink cut out of ``ink``: only its own blobs and their 1-pixel rim (anti-aliasing) are kept,
    the paper's residue is set to 0 and the stroke stretched to 255."""
    box = glyph.box
    crop = ink[box.top : box.bottom, box.left : box.right].astype(np.float32)
    inside = component_map[box.top : box.bottom, box.left : box.right]
    ids = glyph.component_ids
    own = inside == ids[0] if len(ids) == 1 else np.isin(inside, ids)
    crop[~_rank_filter(own.view(np.uint8), 3, np.maximum).astype(bool)] = 0  # neighbours, shadow residue
    floor = threshold * FLOOR_LEVEL / INK_LEVEL
    crop = np.clip(crop - floor, 0, None)
    values = crop[own]
    rank = min(len(values) - 1, len(values) * STROKE_PERCENTILE // 100)
    stroke = float(np.partition(values, rank)[rank]) if len(values) else float(crop.max())
    if stroke > 0:
        crop *= 255.0 / stroke
    return np.clip(crop, 0, 255).astype(np.uint8)


def stroke_width(digit: np.ndarray) -> float:
    """Mean stroke width in pixels of a bright-on-black digit: twice its area over its outline.

    For a stroke of width w and length L the area is wL and the outline about 2L pixels.
    """
    mask = digit > STROKE_LEVEL * 255
    area = int(mask.sum())
    if area == 0:
        return 0.0
    # Interior: ink with ink on all four sides (a pixel on the image's edge never is).
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    return 2.0 * area / max(1, area - int(inner.sum()))


def mnist_form(crop: np.ndarray) -> np.ndarray:
    """Fit a digit crop into MNIST's form, thinning a stroke far bolder than MNIST's boldest.

    A marker digit whose stroke is a quarter of its height would fill the 20x20 box
    with ink the model has never seen; its stroke is thinned (a grey-level min filter
    on the crop, octagon-shaped so diagonals thin like the rest) until, fitted, it is
    ``MAX_STROKE`` wide. Finer strokes are left alone: widening them cost accuracy.

    Args:
        crop: HxW uint8, bright ink on black (``digit_crop``).

    Returns:
        28x28 uint8.
    """
    digit = fit_and_center(crop)
    width = stroke_width(digit)
    if width <= MAX_STROKE:
        return digit
    radius = round((width - MAX_STROKE) / 2 * max(crop.shape) / DIGIT_BOX)  # in crop pixels
    for step in range(radius):  # 3x3 crosses and squares in turn: an octagon, about round
        crop = _rank_filter(crop, 3, np.minimum) if step % 2 else _cross_filter(crop, np.minimum)
    return fit_and_center(crop)


def _cross_filter(image: np.ndarray, reduce: np.ufunc) -> np.ndarray:
    """A min or max filter over each pixel and its four neighbours."""
    out = image.copy()
    reduce(out[1:], image[:-1], out=out[1:])
    reduce(out[:-1], image[1:], out=out[:-1])
    reduce(out[:, 1:], image[:, :-1], out=out[:, 1:])
    reduce(out[:, :-1], image[:, 1:], out=out[:, :-1])
    return out


def fit_and_center(crop: np.ndarray) -> np.ndarray:
    """Fit a cropped digit into a 20x20 box (aspect kept, anti-aliased) and centre its mass in 28x28."""
    h, w = crop.shape
    scale = DIGIT_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS))
    top, left = (MNIST_SIDE - digit.shape[0]) // 2, (MNIST_SIDE - digit.shape[1]) // 2
    dy, dx = _center_of_mass_shift(digit, top, left)
    canvas = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.uint8)
    canvas[top + dy : top + dy + digit.shape[0], left + dx : left + dx + digit.shape[1]] = digit
    return canvas


def _center_of_mass_shift(digit: np.ndarray, top: int, left: int) -> tuple[int, int]:
    """How far to move ``digit``, placed at (top, left) in 28x28, to put its centre of mass at MNIST's."""
    mass = digit.astype(np.float64)
    total = mass.sum()
    if total == 0:
        return 0, 0
    cy = top + float((mass.sum(axis=1) * np.arange(digit.shape[0])).sum()) / total  # no BLAS in the frame path
    cx = left + float((mass.sum(axis=0) * np.arange(digit.shape[1])).sum()) / total
    centre = MNIST_SIDE / 2  # MNIST's own digits have their centre of mass at pixel (14.0, 14.0)
    # Never move ink across the edge: a 20x20 digit has 4 px of margin each side.
    limit = (MNIST_SIDE - DIGIT_BOX) // 2
    return int(np.clip(round(centre - cy), -limit, limit)), int(np.clip(round(centre - cx), -limit, limit))


def find_digits(image: np.ndarray, multi: bool = False, region: Region | None = None,
                expected: int | None = None, scorer: Scorer | None = None) -> list[DigitCrop]:
    """Find the digit (or, with ``multi``, the row of digits) in a picture and bring each into MNIST form.

    A 28x28 picture is taken as one digit already in MNIST form (only inverted
    when it is dark on light), like the test images of the datasets.

    Args:
        image: HxW, HxWx3 (RGB) or HxWx4 array, values 0..255, any size.
        multi: read a written number left to right instead of the one largest digit.
        region: only look inside (x, y, width, height).
        expected: with ``multi``, how many digits the number has (a meter's
            digit count): touching digits are split, and a digit written in two
            strokes joined, until there are that many.
        scorer: with ``multi``, the model's probabilities for a batch of 28x28 crops; touching
            digits are then cut where the model reads the pieces best (``splitting``).

    Returns:
        The digits found, left to right; empty when the picture holds no digit
        (blank, uniform, or ink too faint to tell from the paper).

    Raises:
        ImageError: the array's shape or values are unusable, or the region is outside it.
    """
    small, factor = _camera_working_copy(image, region)
    if small is None:
        small, factor = working_copy(crop_region(to_grayscale(image), region))
    offset = (region[1], region[0]) if region else (0, 0)
    if factor == 1 and small.shape == (MNIST_SIDE, MNIST_SIDE):
        gray = small
        digit = 255 - gray if is_dark_on_light(gray) else gray
        if int(digit.max()) - int(percentile(digit, 50)) < MIN_CONTRAST:
            return []  # blank or uniform: nothing to classify, not a guess
        return [DigitCrop(digit, Box(offset[0], offset[0] + MNIST_SIDE, offset[1], offset[1] + MNIST_SIDE))]
    dark = is_dark_on_light(small)
    ink = ink_map(small, dark)
    found = _locate(ink, multi, expected, scorer)
    if found and _runs_off(found[3], small.shape):
        ink = crop_ink_map(small, dark)
        found = _locate(ink, multi, expected, scorer)
    if not found:
        return []
    threshold, component_map, components, glyphs = found
    by_id = {c.component_id: c for c in components}
    return [DigitCrop(mnist_form(digit_crop(ink, component_map, g, threshold)), _to_original(g.box, factor, offset),
                      g.touching, softness(ink, component_map, by_id[g.component_ids[0]]) > MAX_SOFTNESS)
            for g in glyphs]


def _locate(ink: np.ndarray, multi: bool, expected: int | None, scorer: Scorer | None = None):
    """(threshold, component map, components, glyphs) of an ink map, or None when it holds no ink."""
    threshold = ink_threshold(ink)
    if threshold is None:
        return None
    component_map, components = connected_components(ink > threshold)
    if multi:
        crop = lambda g: mnist_form(digit_crop(ink, component_map, g, threshold))
        row = digit_row(components, ink.shape[0])
        glyphs = digits_of_row(row, component_map, ink, expected, crop, scorer)
    else:
        glyph = main_digit(components, ink.shape[0])
        glyphs = [glyph] if glyph else []
    return (threshold, component_map, components, glyphs) if glyphs else None


def _runs_off(glyphs: list[Glyph], shape: tuple[int, int]) -> bool:
    """Whether a digit found reaches the picture's edge: a crop cut into it, whose paper is a plane
    through the border (``crop_ink_map``). Not merely a digit that fills most of the picture: a
    plane through the border of a camera frame is wrong under a cast shadow across it, and a digit
    held close to the camera (a frame's height and more) lost its lit half to it."""
    return any(_at_edge(g.box, shape) for g in glyphs)


def _at_edge(box: Box, shape: tuple[int, int]) -> bool:
    """Whether ``box`` reaches the edge of a picture of ``shape``."""
    return box.top == 0 or box.left == 0 or box.bottom == shape[0] or box.right == shape[1]


def to_mnist(image: np.ndarray, region: Region | None = None) -> np.ndarray:
    """Turn a picture of one digit into the model's 28x28 input form (the first of ``find_digits``).

    Args:
        image: HxW, HxWx3 or HxWx4 array, values 0..255.
        region: only look inside (x, y, width, height).

    Returns:
        28x28 uint8, bright ink on black.

    Raises:
        ImageError: the image holds no digit (blank or uniform) or has an unusable shape.
    """
    found = find_digits(image, region=region)
    if not found:
        raise ImageError("no digit found: the image is blank or the ink too faint")
    return found[0].image


def _to_original(box: Box, factor: int, offset: tuple[int, int]) -> Box:
    dy, dx = offset
    return Box(box.top * factor + dy, box.bottom * factor + dy, box.left * factor + dx, box.right * factor + dx)


def _upsample(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear enlargement of a small float32 image to HxW (pixel centres aligned, edges clamped).

    Pillow's C resize on a float ("F") image: 2.6x faster than two interpolation matrix
    products in numpy, equal to within 5e-5 of a grey level, and no BLAS threads to
    fight the rest of the machine for its cores.
    """
    return np.asarray(Image.fromarray(image, "F").resize((w, h), Image.Resampling.BILINEAR))


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation), from ``np.partition``.

    The same value, a third of the time, and without the lazy import of ``numpy.ma``
    that ``np.percentile`` and ``np.median`` cost a one-shot command on its first call.
    """
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        raise ValueError("percentile of no values")
    pos = (flat.size - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, flat.size - 1)
    part = np.partition(flat, (lo, hi))
    low = float(part[lo])
    return low + (pos - lo) * (float(part[hi]) - low)


def _rank_filter(image: np.ndarray, window: int, reduce: np.ufunc) -> np.ndarray:
    """A separable min or max filter over ``window`` x ``window`` pixels of an integer or float image;
    the window is cut at the edges.

    Along each axis, by doubling (van Herk's idea): the reduction of spans of 1, 2, 4, 8 rows,
    then one more step to the window: four array operations for a 13-row window instead of
    twelve shifts, on a copy padded with the reduction's neutral value (so the window is cut).
    """
    info = np.iinfo(image.dtype) if image.dtype.kind in "ui" else np.finfo(image.dtype)
    neutral = info.max if reduce is np.minimum else info.min
    half = window // 2
    for _ in range(2):  # rows, then (transposed) columns; two transposes restore the orientation
        n = image.shape[0]
        acc = np.full((n + 2 * half, *image.shape[1:]), neutral, image.dtype)
        acc[half : half + n] = image
        span = 1
        while span * 2 <= window:  # acc[i] = reduce(padded[i : i + span])
            acc = reduce(acc[:-span], acc[span:])
            span *= 2
        if span < window:
            acc = reduce(acc[: len(acc) - (window - span)], acc[window - span :])
        image = acc[:n].T
    return image
