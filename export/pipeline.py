"""The export stage: trained Keras model -> verified ``.tflite`` variants, each one file to copy.

Every variant is converted, written to a temporary file, verified on the test
split through the device runtime, given its labels and facts (an appended zip, see
``runtime.modelfile``), and only then renamed into place. Targets beyond the files
(Edge TPU compilation, a C array for microcontrollers) are built from the verified
int8-static model in ``export.targets``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from calibration import DEFAULT_SAMPLES, draw_calibration_set, save_calibration_set
from export.convert import FLOAT32, INT8, INTEGER_VARIANTS, VARIANTS, IOType, convert_keras_model
from export.floor import DEFAULT_MARGIN
from export.metadata import embed
from export.verify import Verification, verify_models
from runtime.errors import ModelError, QualityGateError, first_line
from runtime.files import atomic_path
from training import artifacts
from training.datasets import Dataset, load_dataset

DEFAULT_MAX_DROP_PP = 1.0


@dataclass
class ExportConfig:
    """Settings of one export.

    Attributes:
        model_dir: the training artifacts folder (holds model.keras and metrics.json).
        variants: which files to write (see ``export.convert.VARIANTS``); float32 is
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
    """

    model_dir: str | Path
    variants: tuple[str, ...] = (FLOAT32, INT8)
    io: IOType = IOType.UINT8
    calibration_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    max_drop: float = DEFAULT_MAX_DROP_PP
    data_dir: str | None = None
    per_channel: bool = False
    floor_margin: float | None = DEFAULT_MARGIN
    qat_epochs: int = 0

    def settings(self, calibration_samples: int) -> dict:
        """How the integer variants were made, as recorded in each file and in verification.json."""
        return {"io": IOType(self.io).value, "calibration_samples": calibration_samples, "seed": self.seed,
                "per_channel": self.per_channel, "logit_floor_margin": None if self.qat_epochs else self.floor_margin,
                "qat_epochs": self.qat_epochs}


@dataclass(frozen=True)
class ExportResult:
    """The files written and how they compare."""

    paths: dict[str, Path]
    verification: Verification
    seconds: float  # conversion time, verification excluded


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
    folder = Path(config.model_dir)
    keras_path = folder / artifacts.KERAS_MODEL
    if not keras_path.is_file():
        raise ModelError(f"no trained model at {keras_path}: run `train` first (or pass --model-dir)")
    metrics = artifacts.read_metrics(folder / artifacts.METRICS)
    if "dataset" not in metrics:
        raise ModelError(f"{folder / artifacts.METRICS} does not name the dataset: train again")
    if data is None:
        data = load_dataset(metrics["dataset"], config.data_dir or metrics.get("config", {}).get("data_dir"))
    elif data.name != metrics["dataset"]:
        raise ModelError(f"the model in {folder} was trained on {metrics['dataset']}, not {data.name}")
    variants = tuple(v for v in VARIANTS if v == FLOAT32 or v in config.variants)
    unknown = set(config.variants) - set(VARIANTS)
    if unknown:
        raise ModelError(f"unknown variant {sorted(unknown)[0]!r}; choose from {', '.join(VARIANTS)}")
    integer = [v for v in variants if v in INTEGER_VARIANTS]
    calib = draw_calibration_set(data.x_train, data.y_train, config.calibration_samples, config.seed)

    start = time.perf_counter()
    blobs = _convert(config, _load_keras(keras_path), data, variants, calib.x if integer else None)
    seconds = time.perf_counter() - start

    paths = {variant: folder / artifacts.tflite_name(variant) for variant in blobs}
    with contextlib.ExitStack() as stack:
        tmp = {v: stack.enter_context(atomic_path(paths[v])) for v in blobs}
        for variant, blob in blobs.items():
            tmp[variant].write_bytes(blob)
        verification = verify_models(tmp, data.class_names, data.x_test, data.y_test)
        for variant in integer:
            if verification.drop_pp(variant) > config.max_drop:
                raise QualityGateError(
                    f"{variant} accuracy is {verification.drop_pp(variant):.2f} pp below float32 "
                    f"(--max-drop {config.max_drop:g}); the models in {folder} were left unchanged"
                )
        settings = config.settings(len(calib.y))
        final = {v: embed(blob, v, metrics, data, verification, settings) for v, blob in blobs.items()}
        for variant, blob in final.items():  # the zip after the flatbuffer leaves what was verified unchanged
            tmp[variant].write_bytes(blob)
        verification = verification.with_sizes({v: len(blob) for v, blob in final.items()})
    # Leaving the ExitStack renamed every verified model into place.
    if integer:
        save_calibration_set(folder / artifacts.CALIBRATION, calib)
    artifacts.write_json(folder / artifacts.VERIFICATION, {
        **verification.to_dict(), "dataset": data.name, "source": data.source, **settings,
        "convert_seconds": round(seconds, 2),
    })
    return ExportResult(paths, verification, seconds)


def _convert(config: ExportConfig, model, data: Dataset, variants: tuple[str, ...], calib_x) -> dict[str, bytes]:
    """Every variant's flatbuffer, in ``variants`` order; with QAT, from the fine-tuned model."""
    if config.qat_epochs < 0:
        raise ModelError(f"--qat-epochs must be 0 or more, got {config.qat_epochs}")
    if not config.qat_epochs:
        return convert_keras_model(model, variants, calib_x, config.io, config.per_channel, config.floor_margin)
    from export.qat import quantization_aware

    tuned = quantization_aware(model, data, config.qat_epochs, seed=config.seed)
    floats = tuple(v for v in variants if v not in INTEGER_VARIANTS)
    integer = tuple(v for v in variants if v in INTEGER_VARIANTS)
    blobs = {**convert_keras_model(tuned.float_model, floats),
             **convert_keras_model(tuned.quantized, integer, calib_x, config.io, config.per_channel, None)}
    return {v: blobs[v] for v in variants}


def _load_keras(path: Path):
    from training.tf import import_keras

    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        raise ModelError(f"{path}: cannot load the Keras model ({first_line(exc)})") from None
