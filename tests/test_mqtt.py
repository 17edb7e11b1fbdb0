"""classify --mqtt: a real mosquitto broker (Debian's) on a free port receives the readings and the
status; a broker restart mid-stream; bad URLs and refused passwords; the systemd unit's command
line stopped by SIGTERM. A real model on frames of real digits."""

from __future__ import annotations

import json
import shlex
import signal
import time

import numpy as np
import pytest

from runtime import Classifier
from runtime.streaming.mqtt import MqttError, MqttSink, MqttTarget, parse_url
from runtime.streaming.reader import DigitReader
from runtime.streaming.sinks import reading
from runtime.streaming.sources import CAMERA_LOST, Frame, read_with_retries
from tests.helpers import ROOT, assert_one_line_error, run_cli
from tests.live import Background, Broker, Subscriber, frame_folder, free_port
from tools.frames import paper_frame


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    broker = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def model(digits_model) -> str:
    return str(digits_model[0] / "model.int8.tflite")


@pytest.fixture(scope="module")
def reader(model):
    return DigitReader(Classifier(model, num_threads=1))


def _settled(what, timeout: float = 10.0):
    """Wait until ``what()`` stops changing (the broker has delivered everything), return it."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = what()
        if now == last and now:
            return now
        last = now
        time.sleep(0.3)
    return last


def test_every_row_goes_to_the_broker_with_status(broker, model, digits, tmp_path):
    truth = frame_folder(digits, tmp_path / "frames", distinct=12)
    sub = Subscriber(broker, "every")
    try:
        proc = run_cli(
            "classify",
            model,
            "--source",
            str(tmp_path / "frames"),
            "--json",
            "--mqtt",
            broker.url("every"),
            "--mqtt-on",
            "every",
        )
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        got = _settled(lambda: [json.loads(m) for m in sub.on("every")])
        assert got == rows and len(rows) == len(
            truth
        )  # one message per frame: the --json row itself
        assert np.mean([r["label"] for r in rows] == np.array(truth)) >= 0.8
        assert sub.on("every/status") == ["online", "offline"]
        states = [json.loads(m)["state"] for m in sub.on("every/state")]
        assert states[0] == "running" and states[-1] == "stopped"
    finally:
        sub.close()
    late = Subscriber(broker, "every")  # what a subscriber that comes later is told (retained)
    try:
        retained = {t: p for t, p, kept in _settled(lambda: list(late.messages)) if kept}
        assert (
            retained["every/status"] == "offline"
            and json.loads(retained["every/state"])["state"] == "stopped"
        )
        assert "every" not in retained  # a stream of rows is not retained
    finally:
        late.close()


def test_change_mode_sends_each_new_reading_once(broker, model, digits, tmp_path):
    frame_folder(digits, tmp_path / "frames", distinct=6, hold=4)
    sub = Subscriber(broker, "change")
    try:
        proc = run_cli(
            "classify",
            model,
            "--source",
            str(tmp_path / "frames"),
            "--json",
            "--mqtt",
            broker.url("change"),
        )
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        changes = [r for i, r in enumerate(rows) if i == 0 or reading(r) != reading(rows[i - 1])]
        got = _settled(lambda: [json.loads(m) for m in sub.on("change")])
        assert got == changes and 6 <= len(changes) < len(rows)
    finally:
        sub.close()
    late = Subscriber(broker, "change")
    try:
        _settled(lambda: late.messages)
        assert [json.loads(m) for m in late.on("change")] == [
            changes[-1]
        ]  # retained: the current reading
    finally:
        late.close()


def test_broker_restart_loses_no_more_than_the_readings_made_while_it_was_down(
    broker, reader, digits
):
    """The loop goes on through a broker restart; the client says so once and reconnects."""
    frames = [paper_frame(digits.x_test[k * 100], np.random.default_rng(k)) for k in range(10)]
    notes: list[tuple[float, str]] = []
    sub = Subscriber(broker, "restart")
    sink = MqttSink(
        broker.url("restart"),
        on="every",
        notify=lambda line: notes.append((time.monotonic(), line)),
    )
    sink.open()
    published, down_at, up_at = [], None, None
    try:
        for i in range(
            200
        ):  # 20 ms apart: down from frame 40 to 80; paho's backoff is 1 s, 2 s, ...
            result = reader.read(Frame(i, "restart", frames[i % 10]))
            sink.publish(frames[i % 10], result, result.to_dict(False, 50.0))
            published.append((time.monotonic(), i))
            if i == 40:
                broker.stop()
                down_at = time.monotonic()
            if i == 80:
                up_at = time.monotonic()  # before start(): the client may be back before start() returns
                broker.start()
            time.sleep(0.02)
        back = _settled(lambda: next((t for t, line in notes if "again" in line), None))
    finally:
        sink.close()
    got = {json.loads(m)["frame"] for m in _settled(lambda: sub.on("restart"), timeout=20)}
    sub.close()
    lost = [i for _, i in published if i not in got]
    made_while_down = [i for t, i in published if down_at <= t <= back]
    print(f"published {len(published)}, made while down {len(made_while_down)}, lost {len(lost)}")
    assert len(lost) <= len(made_while_down) and set(lost) <= set(made_while_down)
    assert len(made_while_down) >= 40 and up_at < back  # the outage was real, the reconnection too
    said = [line for _, line in notes]
    assert len([s for s in said if "lost the broker" in s]) == 1, said  # said once, not per retry
    assert len([s for s in said if "again" in s]) == 1, said


def test_camera_lost_and_back_in_the_state_topic(broker, reader, digits):
    frame = paper_frame(digits.x_test[0], np.random.default_rng(0))
    sub = Subscriber(broker, "camera")
    sink = MqttSink(broker.url("camera"))
    sink.open()
    try:
        sink.status("running", "camera:9")
        read_with_retries(
            iter([None, None, frame]).__next__,
            "camera:9",
            3,
            retries=5,
            delay_s=0.01,
            on_status=sink.status,
        )
        result = reader.read(Frame(3, "camera:9", frame))
        sink.publish(frame, result, result.to_dict(False, 30.0))
    finally:
        sink.close()
    states = [json.loads(m) for m in _settled(lambda: sub.on("camera/state"))]
    sub.close()
    assert [s["state"] for s in states] == ["running", CAMERA_LOST, "running", "stopped"]
    assert "camera:9" in states[1]["detail"]


def test_bad_urls_refused_passwords_and_absent_brokers(model, digits, tmp_path):
    frame_folder(digits, tmp_path / "frames", distinct=3)
    source = ["--source", str(tmp_path / "frames")]
    for url, says in [
        ("http://host/topic", "expected mqtt://"),
        ("mqtt://host:99999/t", "port"),
        ("mqtt:///topic", "no host"),
        ("mqtt://host/readings/#", "wildcards"),
    ]:
        with pytest.raises(MqttError, match=says):
            parse_url(url)
    assert_one_line_error(
        run_cli("classify", model, *source, "--mqtt", "mqtt://u:pw@h:0/t"), "u:***@h"
    )
    assert parse_url("mqtt://me:p%40ss@pi.local/home/meter") == MqttTarget(
        "pi.local", 1883, "home/meter", "me", "p@ss"
    )
    secured = Broker(tmp_path / "secured", users={"meter": "right-pass"})
    try:
        proc = run_cli(
            "classify", model, *source, "--mqtt", secured.url("t", "meter", "wrong-pass")
        )
        assert_one_line_error(proc, "refused the connection", "Not authorized")
        assert "wrong-pass" not in proc.stderr
        sub = Subscriber(secured, "t", "meter", "right-pass")
        proc = run_cli(
            "classify",
            model,
            *source,
            "--mqtt",
            secured.url("t", "meter", "right-pass"),
            "--mqtt-on",
            "every",
        )
        assert proc.returncode == 0 and len(_settled(lambda: sub.on("t"))) == 3, proc.stderr
        sub.close()
    finally:
        secured.stop()
    proc = run_cli(
        "classify", model, *source, "--json", "--mqtt", f"mqtt://127.0.0.1:{free_port()}/t"
    )
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3, (
        proc.stderr
    )  # the loop goes on
    said = [line for line in proc.stderr.splitlines() if "mqtt" in line]
    assert len(said) == 1 and "no answer from" in said[0], proc.stderr  # once


def test_the_service_units_command_stops_cleanly_on_sigterm(broker, model, digits, tmp_path):
    """docs/mnist-edge.service's ExecStart, a folder for the camera, stopped as systemd would."""
    unit = (ROOT / "docs" / "mnist-edge.service").read_text()
    command = shlex.split(
        next(line for line in unit.splitlines() if line.startswith("ExecStart="))[10:]
    )
    assert command[0].endswith("-venv/bin/mnist-edge") and "Restart=on-failure" in unit
    args = command[1:]
    frame_folder(digits, tmp_path / "frames", distinct=10, hold=2, copies=20)
    args[1] = model
    args[args.index("--source") + 1] = str(tmp_path / "frames")
    args[args.index("--serve") + 1] = "127.0.0.1:0"
    env = {
        "MNIST_EDGE_MQTT": broker.url("service"),
        "MNIST_EDGE_TOKEN": "from-the-environment-file",
    }
    sub = Subscriber(broker, "service")
    run = Background(*args, "--rate", "20", env=env)
    try:
        run.wait_for(lambda: len(run.rows()) >= 10 and sub.on("service/status") == ["online"])
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.stop(signal.SIGKILL)
    err = "\n".join(run.err)
    assert "stopped (SIGTERM)" in err and " frames in " in err and "Traceback" not in err, err
    assert "token required" in err  # the token came from the environment, as the unit passes it
    assert _settled(lambda: sub.on("service/status")) == ["online", "offline"]
    last_state = json.loads(sub.on("service/state")[-1])
    assert last_state["state"] == "stopped" and last_state["detail"] == "SIGTERM"
    readings = [json.loads(m) for m in sub.on("service")]
    assert readings and all(m in run.rows() for m in readings)
    sub.close()
