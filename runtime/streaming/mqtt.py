"""``classify --mqtt``: readings to an MQTT broker (paho-mqtt 2.x, its own network thread).

For ``--mqtt mqtt://[user:pass@]host[:port]/TOPIC`` (TOPIC defaults to ``mnist-edge``):

    TOPIC          one JSON message per reading: the row ``classify --json`` prints, for every frame
                   (``every``) or when the reading changes (``change``: retained, so the topic holds
                   the current reading for whoever subscribes later)
    TOPIC/status   "online" when connected, "offline" when closed or, as the broker's last will,
                   when the device vanishes (both retained: Home Assistant's availability topic)
    TOPIC/state    {"state", "detail", "time"}, retained: running, camera lost, retrying, stopped

The loop's thread only appends a reading to a queue; a thread of the sink's own hands the
queue to paho every SEND_EVERY_S, so paho's network thread wakes once per batch, not per reading.
Readings use QoS 1: paho keeps each until the broker acknowledges it and, while the broker is
away, up to MAX_QUEUED of them, sent when it is back. With QoS 0 the readings written to the
socket just before a broker stops are lost too, and in ``change`` mode a lost message leaves
subscribers on a wrong value until the next change.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import json
import os
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass

import numpy as np

from runtime.common.errors import MnistEdgeError
from runtime.streaming.reader import FrameResult
from runtime.streaming.sinks import STOPPED, Notify, reading

DEFAULT_PORT = 1883
DEFAULT_TOPIC = "mnist-edge"
QOS = 1
MAX_QUEUED = 1000  # readings held while the broker is away (about 300 KB); newer ones are dropped
CONNECT_WAIT_S = 5.0  # open() waits this long for the broker's first answer
CLOSE_WAIT_S = 2.0  # close() waits this long for "offline" and queued readings to be acknowledged
SEND_EVERY_S = 0.02  # readings wait at most this long for the sender thread
KEEPALIVE_S = 30  # the broker publishes the last will after 1.5x this without a word
RECONNECT_DELAY_S = (1, 30)  # first and longest wait between reconnection attempts (doubling)
_UNSET = object()


class MqttError(MnistEdgeError):
    """A malformed --mqtt URL, a broker that refused the connection, or paho-mqtt missing."""


class PublishOn(str, enum.Enum):
    CHANGE = "change"
    EVERY = "every"


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # no password: this goes into messages
        user = f"{self.username}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port}/{self.topic}"


def parse_url(url: str) -> MqttTarget:
    """``mqtt://[user:pass@]host[:port][/topic]`` (user and password percent-encoded) as a target.

    Raises:
        MqttError: another scheme, no host, a bad port, or a topic with wildcards.
    """
    shown = _redact(url)
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme != "mqtt":
        raise MqttError(f"--mqtt {shown}: expected mqtt://[user:pass@]host[:port]/topic")
    try:
        port = DEFAULT_PORT if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise MqttError(f"--mqtt {shown}: the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise MqttError(f"--mqtt {shown}: no host (mqtt://HOST/topic)")
    topic = urllib.parse.unquote(parts.path.strip("/")) or DEFAULT_TOPIC
    if "+" in topic or "#" in url or "?" in url:  # (in a password they must be percent-encoded)
        raise MqttError(
            f"--mqtt {shown}: the topic is where readings go: no + or # wildcards, no ? or #"
        )
    unquote = lambda v: urllib.parse.unquote(v) if v is not None else None
    return MqttTarget(parts.hostname, port, topic, unquote(parts.username), unquote(parts.password))


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


class MqttSink:
    """Publishes readings and status to a broker; the loop goes on, broker or not."""

    def __init__(
        self, url: str, on: PublishOn | str = PublishOn.CHANGE, notify: Notify | None = None
    ):
        """Args:
            url: ``mqtt://[user:pass@]host[:port]/topic``.
            on: ``change`` (a message when the reading changes) or ``every`` (every frame).
            notify: told one line when the broker is unreachable, lost, back, or the queue is full.

        Raises:
            MqttError: a malformed URL, or paho-mqtt is not installed.
        """
        self.target, self.on = parse_url(url), PublishOn(on)
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            raise MqttError("--mqtt needs paho-mqtt: pip install 'mnist-edge[mqtt]'") from None
        self.status_topic, self.state_topic = (
            f"{self.target.topic}/status",
            f"{self.target.topic}/state",
        )
        self._notify = notify or (lambda line: None)
        self._client = None
        self._answered = threading.Event()  # the first CONNACK, or a failure to connect
        self._refused: str | None = None
        self._down = self._full = self._closing = self._closed = False
        self._last = _UNSET  # the last reading queued (change mode)
        self._pending: collections.deque[dict] = collections.deque(maxlen=MAX_QUEUED)
        self._unsent: dict | None = None  # change mode: the newest reading paho had no room for
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="mnist-edge-mqtt", daemon=True)
        self._state: dict | None = None
        self._queue_full = None  # paho's return code for a full queue

    def open(self) -> None:
        """Connect (paho's thread keeps reconnecting from then on).

        Raises:
            MqttError: the broker refused the connection (user, password, client id).
        """
        client = self._client = self._make_client()
        client.connect_async(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        client.loop_start()
        self._answered.wait(CONNECT_WAIT_S)
        if self._refused:
            client.loop_stop()
            self._closing = self._closed = True
            hint = (
                ": check the user and password in the URL"
                if "auth" in self._refused.lower() or "password" in self._refused.lower()
                else ""
            )
            raise MqttError(
                f"--mqtt {self.target}: the broker refused the connection ({self._refused}){hint}"
            )
        self._sender.start()
        if not client.is_connected():
            self._down = True
            self._notify(
                f"mqtt: no answer from {self.target.host}:{self.target.port} yet; classifying "
                "anyway, and connecting in the background"
            )

    def _make_client(self):
        from paho.mqtt import client as mqtt

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"mnist-edge-{socket.gethostname()}-{os.getpid()}",
        )
        if self.target.username is not None:
            client.username_pw_set(self.target.username, self.target.password)
        client.will_set(self.status_topic, "offline", qos=QOS, retain=True)
        client.reconnect_delay_set(*RECONNECT_DELAY_S)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_connect_fail = lambda client, userdata: self._answered.set()
        self._queue_full = mqtt.MQTT_ERR_QUEUE_SIZE
        return client

    def publish(self, image: np.ndarray | None, result: FrameResult, row: dict) -> None:
        """Queue a reading for the sender thread (``change`` mode: only a new one); never waits."""
        if self._client is None or self._closing:
            return
        if self.on is PublishOn.CHANGE:
            now = reading(row)
            if "error" in row or now == self._last:
                return
            self._last = now
        self._pending.append(row)

    def status(self, state: str, detail: str = "") -> None:
        self._state = {"state": state, "detail": detail, "time": round(time.time(), 3)}
        if self._client is not None and not self._closed:
            self._client.publish(self.state_topic, json.dumps(self._state), qos=QOS, retain=True)

    def close(self) -> None:
        """Send what is queued, publish "stopped" and "offline", wait briefly for the broker,
        disconnect (safe to call twice)."""
        if self._client is None or self._closing:
            return
        self._closing = True
        self._stop.set()
        self._sender.join(CLOSE_WAIT_S)
        if not self._state or self._state["state"] != STOPPED:
            self.status(STOPPED)
        offline = self._client.publish(self.status_topic, "offline", qos=QOS, retain=True)
        self._closed = True
        if self._client.is_connected():
            # The connection may go in the meantime: then the last will says offline.
            with contextlib.suppress(RuntimeError, ValueError):
                offline.wait_for_publish(CLOSE_WAIT_S)  # queued readings go first (in order)
        self._client.disconnect()
        self._client.loop_stop()

    # the sender's thread ------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.wait(SEND_EVERY_S):
            self._send_pending()
        self._send_pending()

    def _send_pending(self) -> None:
        retain = self.on is PublishOn.CHANGE  # a reading that changes is the topic's state
        while self._pending:
            row = self._pending.popleft()
            sent = self._to_paho(row, retain)
            if retain:  # keep the newest change paho had no room for, to send when it has
                self._unsent = None if sent else row
        if self._unsent is not None and self._to_paho(self._unsent, retain):
            self._unsent = None

    def _to_paho(self, row: dict, retain: bool) -> bool:
        """Queue one reading in paho; False (and one note) when paho's queue is full."""
        info = self._client.publish(self.target.topic, json.dumps(row), qos=QOS, retain=retain)
        if info.rc != self._queue_full:
            self._full = False
            return True
        if not self._full:
            self._full = True
            self._notify(f"mqtt: {MAX_QUEUED} readings wait for the broker; newer ones are dropped")
        return False

    # paho's thread ------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            if not self._answered.is_set():
                self._refused = str(reason)
            elif not self._down:
                self._notify(f"mqtt: {self.target} refused the connection ({reason}); retrying")
            self._down = True
            self._answered.set()
            return
        client.publish(self.status_topic, "online", qos=QOS, retain=True)
        if self._state:  # a restarted broker may have lost it
            client.publish(self.state_topic, json.dumps(self._state), qos=QOS, retain=True)
        if self._down and self._answered.is_set():
            self._notify(f"mqtt: connected to {self.target.host}:{self.target.port} again")
        self._down = False
        self._answered.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if self._closed or self._down:
            return
        self._down = True
        self._notify(
            f"mqtt: lost the broker at {self.target.host}:{self.target.port} ({reason}); "
            f"reconnecting in the background, up to {MAX_QUEUED} readings wait for it"
        )
