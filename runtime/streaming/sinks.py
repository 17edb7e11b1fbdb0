"""Where a classify loop's results go besides stdout: the live page (runtime/streaming/serve) and MQTT.

Every sink has the same four calls, made by the loop's thread:

    open()                        start its thread, bind or connect; one-line MnistEdgeError if not
    publish(image, result, row)   once per frame; hands off, returns in microseconds, never blocks
    status(state, detail="")      "running", "camera lost, retrying", "stopped", ...
    close()                       idempotent

``row`` is exactly the dict ``classify --json`` prints for the frame (``FrameResult.to_dict``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from runtime.streaming.reader import FrameResult

RUNNING = "running"
STOPPED = "stopped"

Notify = Callable[[str], None]  # one line for the user (the CLI prints it on stderr)


class Sink(Protocol):
    def open(self) -> None: ...

    def publish(self, image: np.ndarray | None, result: FrameResult, row: dict) -> None: ...

    def status(self, state: str, detail: str = "") -> None: ...

    def close(self) -> None: ...


class Sinks:
    """Several sinks used as one; empty (falsy) when no sink was asked for."""

    def __init__(self, sinks: list[Sink]):
        self._sinks = list(sinks)

    def __bool__(self) -> bool:
        return bool(self._sinks)

    def __enter__(self) -> Sinks:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Open each sink; if one fails, close those already open and re-raise."""
        opened = []
        try:
            for sink in self._sinks:
                sink.open()
                opened.append(sink)
        except BaseException:
            for sink in opened:
                sink.close()
            raise

    def publish(self, image: np.ndarray | None, result: FrameResult, row: dict) -> None:
        for sink in self._sinks:
            sink.publish(image, result, row)

    def status(self, state: str, detail: str = "") -> None:
        for sink in self._sinks:
            sink.status(state, detail)

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()


def reading(row: dict) -> str | None:
    """What a row reads: the number's text, the digit's name, "?" when unsure, None for no digit.

    Rows with an error read None too; a reading "changes" when this value does.
    """
    if "text" in row:
        return row["text"]
    if row.get("score") is None:
        return None
    return row.get("name") or "?"


def open_sinks(serve: str | None = None, token: str | None = None, mqtt: str | None = None,
               mqtt_on: str = "change", notify: Notify | None = None, token_from_env: bool = False) -> Sinks:
    """The live page and the MQTT publisher asked for, parsed but not yet open (``run_stream`` opens them).

    Args:
        serve: ``[HOST:]PORT`` of the live page (needs the serve extra), or None.
        token: the page's access token, or None.
        mqtt: ``mqtt://[user:pass@]host[:port]/topic`` (needs the mqtt extra), or None.
        mqtt_on: "change" (a message when the reading changes) or "every" (one per frame).
        notify: told one line for the user (a reconnect, the page's address).
        token_from_env: the token came from the environment, where it may be meant for runs with
            ``--serve``; then it is ignored without ``serve`` instead of refused.

    Raises:
        ConfigError: a token without a page, an unknown ``mqtt_on``; the sinks' own errors for a
            malformed address (before any model is loaded).
    """
    from runtime.common.errors import ConfigError
    from runtime.streaming.mqtt import PublishOn  # paho itself is imported only for an MQTT sink

    if token and not serve and not token_from_env:
        raise ConfigError("token", "only makes sense with --serve")
    try:
        on = PublishOn(mqtt_on)
    except ValueError:
        raise ConfigError("mqtt_on", f"choose one of {', '.join(p.value for p in PublishOn)}, "
                                     f"got {mqtt_on!r}") from None
    sinks: list[Sink] = []
    if serve:
        from runtime.streaming.serve import ServeSink

        sinks.append(ServeSink(serve, token=token, notify=notify))
    if mqtt:
        from runtime.streaming.mqtt import MqttSink

        sinks.append(MqttSink(mqtt, on=on, notify=notify))
    return Sinks(sinks)
