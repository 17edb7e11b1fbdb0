"""classify --serve: the live page in Debian's headless Chromium, its JSON and event stream, viewers
that stall or leave, the token, SIGTERM; a real model on frames of real digits."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import Classifier
from runtime.streaming.reader import DigitReader
from runtime.streaming.serve import ServeSink
from runtime.streaming.sources import CAMERA_LOST, Frame, read_with_retries
from tests.helpers import assert_one_line_error, run_cli
from tests.live import Background, frame_folder
from tools.frames import paper_frame

RATE = 12  # frames a second from the paced folder: a camera's pace, slow enough to watch
TOKEN = "t0ken-for-the-test"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT_ENV = "MNIST_EDGE_SCREENSHOT"  # where to keep a screenshot (docs/serve-page.png)


@pytest.fixture(scope="module")
def live(digits_model, digits, tmp_path_factory):
    """One classify run serving its page: 20 real digits shown 6 frames each, 10 times over (100 s
    at RATE frames a second: it is still running when the last test here stops it)."""
    folder = tmp_path_factory.mktemp("serve") / "frames"
    truth = frame_folder(digits, folder, distinct=20, hold=6, copies=10)
    model = str(digits_model[0] / "model.int8.tflite")
    options = ["--source", str(folder), "--rate", str(RATE), "--serve", "127.0.0.1:0", "--json"]
    run = Background("classify", model, *options, env={"MNIST_EDGE_TOKEN": TOKEN})
    run.page, run.truth = run.url(), truth
    yield run
    run.stop(signal.SIGKILL)


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=10
        ) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _row_of(run: Background, frame: int) -> dict:
    return run.wait_for(lambda: next((r for r in run.rows() if r["frame"] == frame), None))


def test_token_routes_and_nothing_else_served(live):
    url = live.page
    assert url.startswith("http://127.0.0.1:")
    for path in ("", "api/latest", "api/status", "stream.mjpg", "api/stream"):
        assert _get(url + path)[0] == 401
        assert _get(url + path + "?token=wrong")[0] == 401
    assert _get(url + "app.js")[0] == 200  # the script holds no data
    status, body, headers = _get(url, {"Authorization": f"Bearer {TOKEN}"})
    assert (
        status == 200
        and b"<img" in body
        and "default-src 'self'" in headers["Content-Security-Policy"]
    )
    assert b"http" not in body.replace(b"http-equiv", b"")  # no CDN, no external fonts
    for path in (
        "README.md",
        "page.html",
        "runtime/streaming/serve/app.py",
        "..%2f..%2fetc%2fpasswd",
        "static/app.js",
    ):
        assert _get(f"{url}{path}?token={TOKEN}")[0] == 404, path
    # /api/latest is null until the first frame, then the row --json printed for the newest one.
    latest = live.wait_for(lambda: json.loads(_get(f"{url}api/latest?token={TOKEN}")[1]))
    assert latest == _row_of(live, latest["frame"])


def _events(url: str, timeout: float = 20.0):
    """An event stream's events as (name, data), "message" for the unnamed ones, until it ends."""
    name = "message"
    with urllib.request.urlopen(url, timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                yield name, json.loads(line[6:])
                name = "message"


def test_event_stream_delivers_the_json_rows(live):
    events = []
    for event in _events(f"{live.page}api/stream?token={TOKEN}"):
        events.append(event)
        if sum(name == "message" for name, _ in events) == 24:
            break
    statuses = [data for name, data in events if name == "status"]
    assert statuses and statuses[0]["state"] == "running"
    rows = [data for name, data in events if name == "message"]
    frames = [r["frame"] for r in rows]
    assert frames == list(range(frames[0], frames[0] + 24))  # every frame, in order
    for row in rows[::6]:
        assert row == _row_of(live, row["frame"])  # exactly what --json printed for that frame


def _chrome(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1060,700",
    ):
        options.add_argument(flag)
    # Debian's driver named outright: Selenium Manager (which would download one) is never run.
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def test_page_in_a_browser(live, tmp_path):
    from selenium.webdriver.common.by import By

    driver = _chrome(tmp_path / "profile")
    try:
        driver.get(f"{live.page}?token={TOKEN}")
        text = lambda id_: driver.find_element(By.ID, id_).text
        live.wait_for(lambda: text("frame-no").isdigit() and text("status") == "running")
        image = driver.find_element(By.ID, "frame")
        live.wait_for(
            lambda: driver.execute_script("return arguments[0].naturalWidth", image) == 640
        )
        first = image.screenshot_as_png
        time.sleep(1.0)
        assert image.screenshot_as_png != first  # the frame changes over time
        assert _page_reads_as_the_json_rows(live, driver) == 3
        assert len(driver.find_elements(By.CSS_SELECTOR, "#history li")) >= 2
        _keep_screenshot(driver.get_screenshot_as_png(), tmp_path)
    finally:
        driver.quit()


def _page_reads_as_the_json_rows(live, driver) -> int:
    """Compare what the page shows with the --json row of the frame it shows, on distinct frames.

    The page's three fields are read in one script call (the page cannot redraw half-way through
    it), and the row is the one the CLI printed for that frame: a slow machine may have moved
    /api/latest on by the time the page is read, so the page is not compared with the latest row.
    """
    fields = "['frame-no', 'reading', 'score']"
    script = f"return {fields}.map((id) => document.getElementById(id).textContent)"
    seen = set()
    for _ in range(60):
        frame, reading, score = driver.execute_script(script)
        if frame.isdigit() and int(frame) not in seen:
            row = _row_of(live, int(frame))
            expected = row["name"] if row["score"] is not None else "no digit"
            percent = f"{row['score'] * 100:.1f}%" if row["score"] is not None else ""
            assert (reading, score) == (expected, percent), (frame, reading, score, row)
            seen.add(int(frame))
            if len(seen) == 3:
                break
        time.sleep(0.13)
    return len(seen)


def _keep_screenshot(png: bytes, tmp_path: Path) -> None:
    """The page as the browser drew it; also at $MNIST_EDGE_SCREENSHOT if set (a small PNG)."""
    image = Image.open(io.BytesIO(png))
    assert image.size[0] >= 1000 and np.asarray(image.convert("L")).std() > 10  # not a blank page
    (tmp_path / "page.png").write_bytes(png)
    if os.environ.get(SCREENSHOT_ENV):
        image.convert("RGB").quantize(256).save(os.environ[SCREENSHOT_ENV], optimize=True)


def _mjpeg_parts(url: str, stop: threading.Event, seen: list) -> None:
    """A viewer that reads frames as they come, noting each JPEG's size."""
    with urllib.request.urlopen(url, timeout=10) as stream:
        while not stop.is_set():
            line = stream.readline()
            if line.lower().startswith(b"content-length:"):
                stream.readline()
                seen.append(len(stream.read(int(line.split(b":")[1]))))


def test_second_stalled_and_leaving_viewers_do_not_disturb_the_loop(live):
    host, port = live.page[7:].rstrip("/").split(":")
    stop, seen = threading.Event(), []
    viewer = threading.Thread(
        target=_mjpeg_parts, args=(f"{live.page}stream.mjpg?token={TOKEN}", stop, seen)
    )
    viewer.start()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((host, int(port)))
    stalled.sendall(
        f"GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )  # never read
    for _ in range(3):  # viewers that take a frame and go
        with socket.create_connection((host, int(port))) as leaving:
            leaving.sendall(f"GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            got = b""
            while b"image/jpeg" not in got:
                got += leaving.recv(4096) or pytest.fail("the server closed the stream")
    start_frames, started = len(live.rows()), time.monotonic()
    time.sleep(3.0)
    made, elapsed = len(live.rows()) - start_frames, time.monotonic() - started
    stop.set()
    viewer.join(10)
    stalled.close()
    assert made >= 0.8 * RATE * elapsed, (made, elapsed)  # the loop kept its pace
    assert len(seen) >= RATE, len(seen)  # and the viewer that reads kept getting new frames
    assert all(size > 10_000 for size in seen)
    status = lambda: json.loads(_get(f"{live.page}api/status?token={TOKEN}")[1])
    assert status()["state"] == "running"
    live.wait_for(lambda: status()["viewers"].get("page streams") == 0, timeout=10)  # none left


def test_sigterm_stops_cleanly_and_the_page_hears_it(live):
    heard = []
    url = f"{live.page}api/stream?token={TOKEN}"
    listener = threading.Thread(target=lambda: [heard.append(e) for e in _events(url)])
    listener.start()
    live.wait_for(lambda: len(heard) >= 3)
    assert live.stop(signal.SIGTERM) == 0
    listener.join(10)
    err = "\n".join(live.err)
    assert "stopped (SIGTERM)" in err and "Traceback" not in err, err
    frames = int(err.split(" frames in ")[0].split()[-1])
    assert frames == len(live.rows()) and 0 < frames < len(live.truth)
    assert ("status", "stopped") in [(n, d["state"]) for n, d in heard if n == "status"]
    readings = np.array([r["label"] for r in live.rows()])
    assert np.mean(readings == np.array(live.truth[: len(readings)])) >= 0.8  # real readings


def test_port_in_use_and_bad_addresses_are_one_line(digits_model, tmp_path):
    model = str(digits_model[0] / "model.int8.tflite")
    Image.fromarray(np.full((48, 64), 200, np.uint8)).save(tmp_path / "blank.png")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("classify", model, "--source", str(tmp_path), "--serve", f"127.0.0.1:{port}")
    assert_one_line_error(proc, f"127.0.0.1:{port}", "port is in use")
    assert_one_line_error(
        run_cli("classify", model, "--source", str(tmp_path), "--serve", "host:http"),
        "expected [HOST:]PORT",
    )
    proc = run_cli("classify", model, "--source", str(tmp_path), "--serve", "192.0.2.1:8080")
    assert_one_line_error(proc, "not an address of this machine")


def test_camera_lost_and_back_shows_on_the_page(digits_model, digits):
    """The camera's retry path tells the sink; /api/status says so while it retries."""
    reader = DigitReader(Classifier(digits_model[0] / "model.int8.tflite", num_threads=1))
    frame = paper_frame(digits.x_test[0], np.random.default_rng(0))
    sink = ServeSink("127.0.0.1:0")
    sink.open()
    try:
        jpeg_threads = lambda: [t for t in threading.enumerate() if "jpeg" in t.name]
        for i in range(3):
            result = reader.read(Frame(i, "camera:9", frame))
            sink.publish(frame, result, result.to_dict(False, 30.0))
        assert jpeg_threads() == []  # no viewer yet: not one frame encoded
        seen_while_failing = []

        def read(feed=iter([None, None, frame])):
            image = next(feed)
            if image is not None:
                seen_while_failing.append(json.loads(_get(sink.url + "api/status")[1])["state"])
            return image

        read_with_retries(read, "camera:9", 3, retries=5, delay_s=0.01, on_status=sink.status)
        assert seen_while_failing == [CAMERA_LOST]
        status = json.loads(_get(sink.url + "api/status")[1])
        assert status["state"] == "running" and status["frames"] == 3
        assert status["history"][0]["reading"] == result.digits[0].name
        with urllib.request.urlopen(sink.url + "stream.mjpg", timeout=10) as stream:
            assert b"image/jpeg" in stream.read(200)
        assert jpeg_threads()  # a viewer came: now frames are encoded
    finally:
        sink.close()
        sink.close()  # twice is fine
