"""An optional live preview window: the frame, each digit's box and label, and the 28x28 crops the model saw.

Needs OpenCV with GUI support (``opencv-python``, not the headless wheel) and a
display. Without either, ``Preview.open`` returns no window and the reason, so
``classify --show`` on a headless Raspberry Pi keeps classifying.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image, ImageDraw

from runtime.streaming.reader import FrameResult

WINDOW = "mnist-edge"
CROP_SCALE = 4  # the 28x28 crops are drawn 4x larger in the top-left corner
QUIT_KEYS = {ord("q"), 27}  # q or Esc closes the preview and stops


def annotate(image: np.ndarray, result: FrameResult) -> np.ndarray:
    """The frame as RGB with each digit's box and label drawn, and the model's crops in the corner."""
    rgb = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(rgb)
    for digit in result.digits:
        b = digit.box
        colour = (0, 200, 0) if digit.class_id is not None else (230, 160, 0)
        draw.rectangle([b.left, b.top, b.right - 1, b.bottom - 1], outline=colour, width=2)
        draw.text((b.left, max(0, b.top - 12)), f"{digit.name or '?'} {digit.score:.0%}", fill=colour)
    side = 28 * CROP_SCALE
    for k, crop in enumerate(result.crops):
        tile = Image.fromarray(crop).resize((side, side), Image.Resampling.NEAREST).convert("RGB")
        if (k + 1) * side <= rgb.width:
            rgb.paste(tile, (k * side, 0))
    return np.asarray(rgb)


class Preview:
    """A window showing annotated frames; ``show`` returns False when the user pressed q or Esc."""

    def __init__(self, cv2):
        self._cv2 = cv2
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)

    @classmethod
    def open(cls) -> tuple[Preview | None, str | None]:
        """(window, None), or (None, the reason) when there is no display or no GUI-capable OpenCV."""
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return None, "no display (DISPLAY is not set)"
        try:
            import cv2
        except ImportError:
            return None, "OpenCV is not installed (pip install opencv-python)"
        try:
            return cls(cv2), None
        except cv2.error:
            return None, "this OpenCV has no GUI support (pip install opencv-python, not -headless)"

    def show(self, image: np.ndarray, result: FrameResult) -> bool:
        """Draw one frame; False when the user asked to stop."""
        self._cv2.imshow(WINDOW, annotate(image, result)[:, :, ::-1])  # OpenCV windows expect BGR
        return (self._cv2.waitKey(1) & 0xFF) not in QUIT_KEYS

    def close(self) -> None:
        self._cv2.destroyWindow(WINDOW)
