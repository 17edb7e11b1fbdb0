"""``ServeSink``: the live page's server, in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from runtime.common.errors import MnistEdgeError
from runtime.streaming.reader import FrameResult
from runtime.streaming.serve.feed import Feed
from runtime.streaming.sinks import STOPPED, Notify

DEFAULT_HOST = "127.0.0.1"  # the page is private unless a host is given
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
SHUTDOWN_GRACE_S = 1.0  # open streams get this long to end before they are cancelled


class ServeError(MnistEdgeError):
    """The page cannot be served: a malformed address, a port in use, a host not on this machine."""


def parse_address(spec: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (``8080``, ``0.0.0.0:8080``, ``[::1]:8080``) as (host, port); 0: any port.

    Raises:
        ServeError: not of that form, or the port is out of range.
    """
    host, sep, port = spec.strip().rpartition(":")
    host = host.strip("[]") if sep else DEFAULT_HOST
    if not host or not port.isdigit() or int(port) > 65535:
        raise ServeError(f"--serve {spec!r}: expected [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080")
    return host, int(port)


class ServeSink:
    """Serves the live page (runtime/streaming/serve/app.py) while the classify loop publishes to it."""

    def __init__(self, address: str, token: str | None = None, notify: Notify | None = None):
        """Args:
            address: ``[HOST:]PORT``; the host defaults to 127.0.0.1 (this machine only).
            token: when set, every request but the page's script must carry it.
            notify: told one line when the page is up (its address), and if open to the network.

        Raises:
            ServeError: a malformed address, or aiohttp is not installed.
        """
        self.host, self.port = parse_address(address)
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            raise ServeError("--serve needs aiohttp: pip install 'mnist-edge[serve]'") from None
        self.token, self._notify = token or None, notify or (lambda line: None)
        self.feed = Feed()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnist-edge-jpeg")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def open(self) -> None:
        """Bind and start serving in a background thread.

        Raises:
            ServeError: the port is in use, or the host is not an address of this machine.
        """
        self._thread = threading.Thread(target=self._run, name="mnist-edge-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ServeError(
                f"--serve {self.host}:{self.port}: no server after {START_TIMEOUT_S:g} s"
            )
        if self._error is not None:
            self._thread.join()
            raise self._error
        self._notify(
            f"serving the live page at {self.url}" + (" (token required)" if self.token else "")
        )
        if not self.token and not _is_loopback(self.host):
            self._notify(f"the page at {self.url} is open to anyone on the network: add --token")

    def publish(self, image: np.ndarray | None, result: FrameResult, row: dict) -> None:
        self.feed.publish(image, result, row)

    def status(self, state: str, detail: str = "") -> None:
        self.feed.set_status(state, detail)

    def close(self) -> None:
        """Tell open pages the loop stopped, end their streams, stop the server (idempotent)."""
        if self._stopping or self._loop is None:
            return
        if self.feed.state()[1]["state"] != STOPPED:
            self.status(STOPPED)
        self._stopping = True
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
        self._encoder.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        from aiohttp import web

        from runtime.streaming.serve.app import build_app

        loop = asyncio.new_event_loop()
        app = build_app(self.feed, self.token, self._encoder, lambda: self._stopping)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_S
        )
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]  # the port picked when 0 was asked
        except OSError as exc:
            self._error = ServeError(f"--serve {self.host}:{self.port}: {_why(exc)}")
            loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        finally:
            self._loop = loop
            self._ready.set()
        loop.run_forever()  # until close() stops it
        loop.run_until_complete(runner.cleanup())
        loop.close()


def _why(exc: OSError) -> str:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return "the port is in use (another server, or an earlier run still stopping)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need root)"
    return exc.strerror or str(exc)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
