"""The calibration stage's defaults, importable without numpy (the command line declares them)."""

DEFAULT_SAMPLES = 300  # measured in bench/results-calibration.md: 100-2000 all within noise
