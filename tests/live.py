"""Helpers for the live-output tests: folders of real digit frames, a background classify run,
a real mosquitto broker (Debian's) on a free loopback port, and an MQTT subscriber."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import start_cli
from tools.frames import paper_frame

MOSQUITTO = "/usr/sbin/mosquitto"


def frame_folder(digits, folder: Path, distinct: int, hold: int = 1, copies: int = 1) -> list[int]:
    """Camera-like frames of ``distinct`` held-out digits (the classes in turn) in ``folder``: each
    digit ``hold`` frames in a row (a meter showing a value for a while), the whole sequence
    ``copies`` times over. Repeats are symbolic links, so a long stream costs little to write.

    Returns:
        Each file's true label, in name order (the folder source's order).
    """
    frames = folder.with_name(folder.name + "-frames")
    frames.mkdir(parents=True)
    folder.mkdir()
    truth = []
    for k in range(distinct):
        index = int(np.nonzero(digits.y_test == k % 10)[0][k // 10])
        Image.fromarray(paper_frame(digits.x_test[index], np.random.default_rng(k))).save(
            frames / f"{k:03d}.jpg", quality=90
        )
        truth.append(int(digits.y_test[index]))
    order = [k for _ in range(copies) for k in range(distinct) for _ in range(hold)]
    for n, k in enumerate(order):
        (folder / f"{n:05d}.jpg").symlink_to(frames / f"{k:03d}.jpg")
    return [truth[k] for k in order]


class Background:
    """``cli.py ARGS`` running; threads collect its stdout and stderr lines as they come."""

    def __init__(self, *args: str, env: dict | None = None):
        self.proc = start_cli(*args, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._drain, args=(pipe, lines), daemon=True)
            for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(pipe, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line.rstrip("\n"))

    def rows(self) -> list[dict]:
        return [json.loads(line) for line in list(self.out) if line.startswith("{")]

    def wait_for(self, what, timeout: float = 30.0):
        """Poll ``what()`` until it returns something truthy; fail with the output after a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"gave up waiting (exit {self.proc.poll()}): stderr {self.err[-10:]}")

    def url(self) -> str:
        """The page's address, from the command's 'serving the live page at ...' line."""

        def find():
            for line in list(self.err):
                if m := re.search(r"serving the live page at (\S+)", line):
                    return m.group(1)

        return self.wait_for(find)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return code


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """Debian's mosquitto on a free loopback port, with a generated config (and password file)."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None):
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "user root",  # no switch to the mosquitto user
            "persistence true",
            f"persistence_location {folder}/",  # sessions survive a restart
            f"log_dest file {folder}/mosquitto.log",
            f"allow_anonymous {'false' if users else 'true'}",
        ]
        if users:
            passwords = folder / "passwords"
            passwords.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), user, password], check=True
                )
            lines.append(f"password_file {passwords}")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def url(self, topic: str, user: str = "", password: str = "") -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"mqtt://{auth}127.0.0.1:{self.port}/{topic}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"mosquitto exited: {self.proc.stderr.read()}") from None
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves the sessions to disk, like a service stop
            self.proc.wait(10)


class Subscriber:
    """A paho client recording (topic, payload, retained) for ``topic/#``; its session outlives a
    broker restart (persistent session, QoS 1), so it misses nothing the broker was given."""

    def __init__(self, broker: Broker, topic: str, user: str = "", password: str = ""):
        from paho.mqtt import client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-{topic}-{id(self)}",
            clean_session=False,
        )
        if user:
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(0.2, 0.5)
        self.client.on_connect = lambda client, *_: client.subscribe(f"{topic}/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the subscriber did not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))

    def on(self, topic: str) -> list[str]:
        return [payload for t, payload, _ in list(self.messages) if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
