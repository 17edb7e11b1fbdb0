"""The export stage: trained Keras model -> verified ``.tflite`` variants, each one file to copy.

Every variant is converted, written to a temporary file, verified on the test
split through the device runtime, given its labels and facts (an appended zip, see
``runtime.modelfile.reader``), and only then renamed into place. Targets beyond the files
(Edge TPU compilation, a C array for microcontrollers) are built from the verified
int8-static model in ``export.targets``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from calibration import DEFAULT_SAMPLES, draw_calibration_set, save_calibration_set
from export.convert import IOType, convert_keras_model, remove_stale_savedmodels
from export.floor import DEFAULT_MARGIN
from export.metadata import embed
from export.targets import compile_edgetpu, write_c_array
from runtime.common.convention import Variant
from runtime.common.errors import ConfigError, ModelError, QualityGateError, check_seed, first_line
from runtime.common.files import atomic_path
from runtime.common.interrupts import HeldInterrupt
from runtime.inference.comparison import Comparison, compare_models
from training import artifacts
from training.datasets import Dataset, load_dataset, model_input

DEFAULT_MAX_DROP_PP = 1.0


@dataclass
class ExportConfig:
    """Settings of one export.

    Attributes:
        model_dir: the training artifacts folder (holds model.keras and metrics.json).
        variants: which files to write (``Variant``); float32 is
            always written, as the reference the others are verified against.
        io: the integer models' input/output type.
        calibration_samples: size of the representative set.
        seed: for drawing the representative set.
        max_drop: fail when int8 accuracy is more than this many points below float32.
        data_dir: where the dataset is (default: where training found it).
        per_channel: int8 dense weights per output unit (the converter's default) instead
            of per tensor.
        floor_margin: the integer variants' logit floor (``export.floor``); None turns it off.
        qat_epochs: above 0, fine-tune with fake quantization first (``export.qat``); every
            variant, float32 included, then comes from the fine-tuned weights.
        edgetpu: also write int8-static and compile it with ``edgetpu_compiler`` when that
            is installed (``export.targets``).
        c_array: also write int8-static as ``model_data.h/.cc`` for tflite-micro.
    """

    model_dir: str | Path
    variants: tuple[Variant, ...] = (Variant.FLOAT32, Variant.INT8)
    io: IOType = IOType.UINT8
    calibration_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    max_drop: float = DEFAULT_MAX_DROP_PP
    data_dir: str | None = None
    per_channel: bool = False
    floor_margin: float | None = DEFAULT_MARGIN
    qat_epochs: int = 0
    edgetpu: bool = False
    c_array: bool = False

    def settings(self, calibration_samples: int) -> dict:
        """How the integer variants were made, as recorded in each file and in verification.json."""
        return {"io": IOType(self.io).value, "calibration_samples": calibration_samples, "seed": self.seed,
                "per_channel": self.per_channel, "logit_floor_margin": None if self.qat_epochs else self.floor_margin,
                "qat_epochs": self.qat_epochs}


@dataclass(frozen=True)
class ExportResult:
    """The files written and how they compare.

    ``paths`` holds every variant by its value, plus ``edgetpu`` (the compiled model, when
    the compiler ran) and ``c_header`` / ``c_source`` (``c_array``); ``notes`` says what
    the user still has to do (run the Edge TPU compiler elsewhere, say).
    """

    paths: dict[str, Path]
    verification: Comparison
    seconds: float  # conversion time, verification excluded
    notes: list[str] = field(default_factory=list)


def export_models(config: ExportConfig, data: Dataset | None = None) -> ExportResult:
    """Convert, verify on the test split, and only then replace the ``.tflite`` files.

    The new models are written to temporary files and verified there; when an
    integer model falls more than ``max_drop`` points below float32, they are all
    deleted and the models already in the folder stay as they were.

    Args:
        config: the export's settings.
        data: the dataset already in memory (default: load the one named in metrics.json).

    Returns:
        The ExportResult.

    Raises:
        ModelError: no trained model in the folder, or conversion failed.
        QualityGateError: an integer model lost too much accuracy.
        DataError, DatasetNotFound: the dataset cannot be loaded.
    """
    _check(config)
    folder = Path(config.model_dir)
    keras_path = folder / artifacts.KERAS_MODEL
    if not keras_path.is_file():
        raise ModelError(f"no trained model at {keras_path}: run `train` first (or pass --model-dir)")
    metrics = artifacts.read_metrics(folder)
    trained_on, data_dir = artifacts.recorded_dataset(metrics)
    if trained_on is None:
        raise ModelError(f"{folder / artifacts.METRICS} does not name the dataset: train again")
    if data is None:
        data = load_dataset(trained_on, config.data_dir or data_dir)
    elif data.name != trained_on:
        raise ModelError(f"the model in {folder} was trained on {trained_on}, not {data.name}")
    data = model_input(data, metrics.get("deskew") is True)  # calibrated and verified as it trained
    variants = _variants(config)
    integer = [v for v in variants if v.integer]
    remove_stale_savedmodels(folder)
    calib = draw_calibration_set(data.x_train, data.y_train, config.calibration_samples, config.seed)

    with HeldInterrupt(f"export interrupted; the models in {folder} were left unchanged") as interrupt:
        start = time.perf_counter()
        blobs = _convert(config, _load_keras(keras_path), data, variants, calib.x if integer else None)
        seconds = time.perf_counter() - start
        interrupt.check()
        paths, verification = _write_verified(folder, blobs, config, metrics, data, len(calib.y), interrupt)
        if integer:
            save_calibration_set(folder / artifacts.CALIBRATION, calib)
        artifacts.write_json(folder / artifacts.VERIFICATION, {
            **verification.to_dict(), "dataset": data.name, "source": data.source,
            **config.settings(len(calib.y)), "convert_seconds": round(seconds, 2),
        })
        written = {v.value: path for v, path in paths.items()}
        notes = build_targets(paths.get(Variant.INT8_STATIC), config, written)
        interrupt.check(f"export interrupted after the new models in {folder} were written and verified")
    return ExportResult(written, verification, seconds, notes)


def _write_verified(folder: Path, blobs: dict[Variant, bytes], config: ExportConfig, metrics: dict,
                    data: Dataset, calibration_samples: int,
                    interrupt: HeldInterrupt) -> tuple[dict[Variant, Path], Comparison]:
    """Write every variant to a temporary file, verify them on the test split, apply the quality
    gate, embed labels and facts, and only then rename them all into place.

    Raises:
        QualityGateError: an integer model lost too much accuracy (nothing is renamed).
        Interrupted: Ctrl-C arrived before the renames (nothing is renamed).
    """
    paths = {variant: folder / variant.file_name for variant in blobs}
    with contextlib.ExitStack() as stack:
        tmp = {v: stack.enter_context(atomic_path(paths[v])) for v in blobs}
        for variant, blob in blobs.items():
            tmp[variant].write_bytes(blob)
        verification = compare_models(tmp, data.class_names, data.x_test, data.y_test)
        for variant in (v for v in blobs if v.integer):
            if verification.drop_pp(variant) > config.max_drop:
                raise QualityGateError(
                    f"{variant} accuracy is {verification.drop_pp(variant):.2f} pp below float32 "
                    f"(--max-drop {config.max_drop:g}); the models in {folder} were left unchanged"
                )
        settings = config.settings(calibration_samples)
        final = {v: embed(blob, v, metrics, data, verification, settings) for v, blob in blobs.items()}
        for variant, blob in final.items():  # the zip after the flatbuffer leaves what was verified unchanged
            tmp[variant].write_bytes(blob)
        interrupt.check()  # the last moment the models already in the folder can be kept
    # Leaving the ExitStack renamed every verified model into place.
    return paths, verification.with_sizes({v: len(blob) for v, blob in final.items()})


def build_targets(static_model: Path | None, config: ExportConfig, written: dict[str, Path]) -> list[str]:
    """The Edge TPU compile and the C array, from the verified int8-static model.

    Adds what it writes to ``written`` and returns notes for the user.
    """
    notes = []
    if config.edgetpu:
        tpu = compile_edgetpu(static_model)
        if tpu.compiled:
            written["edgetpu"] = tpu.compiled
            notes.append(f"Edge TPU: {tpu.summary}")
        else:
            notes.append(f"Edge TPU: {tpu.summary}: {tpu.command}")
    if config.c_array:
        written["c_header"], written["c_source"] = write_c_array(static_model)
    return notes


def _check(config: ExportConfig) -> None:
    """Refuse out-of-range settings before any file is read (ConfigError names the setting)."""
    try:
        IOType(config.io)
    except ValueError:
        raise ConfigError("io", f"choose one of {', '.join(t.value for t in IOType)}, got {config.io!r}") from None
    if config.calibration_samples < 1:
        raise ConfigError("calibration_samples", f"must be at least 1, got {config.calibration_samples}")
    if config.qat_epochs < 0:
        raise ConfigError("qat_epochs", f"must be 0 or more, got {config.qat_epochs}")
    if not math.isfinite(config.max_drop):  # negative is allowed: it demands int8 beat float32
        raise ConfigError("max_drop", f"must be a number of percentage points, got {config.max_drop}")
    check_seed(config.seed)
    _variants(config)


def _variants(config: ExportConfig) -> tuple[Variant, ...]:
    """The variants to write, in ``Variant`` order: float32 (the reference) always, int8-static
    when a target needs it."""
    try:
        wanted = {Variant(v) for v in config.variants}
    except ValueError as exc:
        choices = ", ".join(v.value for v in Variant)
        raise ConfigError("variants", f"{exc}; choose from {choices}") from None
    return tuple(v for v in Variant if v == Variant.FLOAT32 or v in wanted
                 or (v == Variant.INT8_STATIC and (config.edgetpu or config.c_array)))


def _convert(config: ExportConfig, model, data: Dataset, variants: tuple[Variant, ...],
             calib_x) -> dict[Variant, bytes]:
    """Every variant's flatbuffer, in ``variants`` order; with QAT, from the fine-tuned model."""
    if not config.qat_epochs:
        return convert_keras_model(model, variants, calib_x, config.io, config.per_channel, config.floor_margin,
                                   work_dir=config.model_dir)
    from export.qat import quantization_aware

    tuned = quantization_aware(model, data, config.qat_epochs, seed=config.seed)
    floats = tuple(v for v in variants if not v.integer)
    integer = tuple(v for v in variants if v.integer)
    blobs = {**convert_keras_model(tuned.float_model, floats, work_dir=config.model_dir),
             **convert_keras_model(tuned.quantized, integer, calib_x, config.io, config.per_channel, None,
                                   work_dir=config.model_dir)}
    return {v: blobs[v] for v in variants}


def _load_keras(path: Path):
    from training.tf import import_keras

    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        raise ModelError(f"{path}: cannot load the Keras model ({first_line(exc)})") from None
