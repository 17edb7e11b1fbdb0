"""Calibration stage: the representative set that fixes the int8 ranges."""

from calibration.representative import (
    DEFAULT_SAMPLES,
    CalibrationSet,
    draw_calibration_set,
    load_calibration_set,
    representative_dataset,
    save_calibration_set,
)

__all__ = ["DEFAULT_SAMPLES", "CalibrationSet", "draw_calibration_set", "load_calibration_set",
           "representative_dataset", "save_calibration_set"]
