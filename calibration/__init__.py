"""Calibration stage: the representative set that fixes the int8 ranges.

The names below are imported on first use, so the command line can read the
defaults (``calibration.defaults``) without loading numpy.
"""

from __future__ import annotations

import importlib

from calibration.defaults import DEFAULT_SAMPLES

_PUBLIC = ("CalibrationSet", "draw_calibration_set", "load_calibration_set", "representative_dataset",
           "save_calibration_set")
__all__ = ["DEFAULT_SAMPLES", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'calibration' has no attribute {name!r}")
    value = getattr(importlib.import_module("calibration.representative"), name)
    globals()[name] = value
    return value
