"""The live page's aiohttp application: page, script, MJPEG frames, JSON, Server-Sent Events.

Routes (every one but the script needs the token when one is set):

    /               the page (page.html)
    /app.js         its script (no data in it, so no token)
    /stream.mjpg    annotated frames, multipart/x-mixed-replace JPEGs, at most STREAM_FPS a second
    /api/latest     the newest frame's row, exactly as ``classify --json`` prints it (or null)
    /api/status     the loop's status, frames so far, open streams, the last readings
    /api/stream     Server-Sent Events: each row as a plain event, ``status`` and ``history`` events

Nothing else is served: there is no static-file route.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from importlib import resources

from aiohttp import web
from PIL import Image

from runtime.streaming.preview import annotate
from runtime.streaming.reader import FrameResult
from runtime.streaming.serve.feed import Feed, Latest

STREAM_FPS = 10.0  # frames a second to each viewer: enough to aim a camera and watch, cheap
POLL_S = 0.05  # how often an event stream looks for new rows (the page's delay at most)
KEEPALIVE_S = 15.0  # an idle event stream sends a comment this often, so proxies keep it open
JPEG_QUALITY = 80
ASSETS = {"/": ("page.html", "text/html"), "/app.js": ("app.js", "text/javascript")}
PUBLIC = {"/app.js"}
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the page's address
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'",
}
BOUNDARY = "frame"


def build_app(
    feed: Feed, token: str | None, encoder: Executor, stopping: Callable[[], bool]
) -> web.Application:
    """The application serving ``feed``.

    Args:
        feed: what the classify loop publishes.
        token: required as ``?token=`` or ``Authorization: Bearer`` on every route but the script.
        encoder: the executor that annotates and encodes JPEGs (off the event loop).
        stopping: True once the server is closing; streams then send what is pending and end.
    """
    routes = _Routes(feed, _JpegCache(encoder), stopping)
    app = web.Application(middlewares=[_headers, _auth(token)])
    for path in ASSETS:
        app.router.add_get(path, _asset)
    app.router.add_get("/stream.mjpg", routes.mjpeg)
    app.router.add_get("/api/latest", routes.latest)
    app.router.add_get("/api/status", routes.status)
    app.router.add_get("/api/stream", routes.events)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 404 and the like
        exc.headers.update(HEADERS)
        raise
    if not response.prepared:  # streams set theirs before they start
        response.headers.update(HEADERS)
    return response


def _auth(token: str | None):
    expected = token.encode() if token else None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is None or request.path in PUBLIC:
            return await handler(request)
        given = request.query.get("token", "")
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        if not hmac.compare_digest(given.encode(), expected):
            return web.json_response(
                {"error": "token required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return auth


async def _asset(request: web.Request) -> web.Response:
    name, content_type = ASSETS[request.path]
    text = resources.files("runtime.streaming.serve").joinpath(name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=content_type)


def encode_jpeg(image, result: FrameResult) -> bytes:
    """The frame with its digit boxes and crops drawn (runtime.streaming.preview.annotate), as a JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(annotate(image, result)).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


class _JpegCache:
    """The newest frame's JPEG, encoded once however many viewers want it."""

    def __init__(self, encoder: Executor):
        self._encoder, self._seq, self._jpeg = encoder, 0, b""
        self._lock = asyncio.Lock()

    async def get(self, latest: Latest) -> bytes:
        async with self._lock:
            if self._seq != latest.seq:
                loop = asyncio.get_running_loop()
                self._jpeg = await loop.run_in_executor(
                    self._encoder, encode_jpeg, latest.image, latest.result
                )
                self._seq = latest.seq
            return self._jpeg


async def _stream(request: web.Request, content_type: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={**HEADERS, "Content-Type": content_type})
    await response.prepare(request)
    return response


class _Routes:
    """The handlers that read the feed."""

    def __init__(self, feed: Feed, jpegs: _JpegCache, stopping: Callable[[], bool]):
        self.feed, self.jpegs, self.stopping = feed, jpegs, stopping

    async def latest(self, request: web.Request) -> web.Response:
        return web.json_response(self.feed.latest.row if self.feed.latest else None)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.feed.summary())

    async def mjpeg(self, request: web.Request) -> web.StreamResponse:
        """Annotated frames while the viewer reads them: the newest each time, never a backlog."""
        response = await _stream(request, f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        # Each part ends with the next boundary: a browser shows a part once it sees that boundary,
        # so sending it only with the next frame would keep the picture one frame late.
        await response.write(f"--{BOUNDARY}\r\n".encode())
        loop, sent = asyncio.get_running_loop(), 0
        self.feed.viewers["page streams"] += 1
        try:
            while not self.stopping():
                started = loop.time()
                latest = self.feed.latest
                if latest is not None and latest.image is not None and latest.seq != sent:
                    jpeg = await self.jpegs.get(latest)
                    head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    tail = f"\r\n--{BOUNDARY}\r\n".encode()
                    await response.write(head.encode() + jpeg + tail)  # waits for a slow viewer
                    sent = latest.seq
                await asyncio.sleep(max(0.0, 1 / STREAM_FPS - (loop.time() - started)))
        except ConnectionError:
            pass  # the viewer went away
        finally:
            self.feed.viewers["page streams"] -= 1
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: every row (while the client keeps up), status and history changes."""
        seq, version = self.feed.seq, -1  # rows from the moment the client asked
        response = await _stream(request, "text/event-stream")
        loop = asyncio.get_running_loop()
        last_write = loop.time()
        self.feed.viewers["event streams"] += 1
        try:
            while True:
                last = self.stopping()  # read first: the final status is set before stopping
                chunks = []
                if self.feed.version != version:
                    version, status, history = self.feed.state()
                    chunks += [_event(status, "status"), _event(history, "history")]
                rows, seq = self.feed.rows_after(seq)
                chunks += [_event(row) for row in rows]
                if not chunks and loop.time() - last_write > KEEPALIVE_S:
                    chunks.append(": keep-alive\n\n")
                if chunks:
                    await response.write("".join(chunks).encode())
                    last_write = loop.time()
                if last:
                    break
                await asyncio.sleep(POLL_S)
        except ConnectionError:
            pass
        finally:
            self.feed.viewers["event streams"] -= 1
        return response


def _event(data, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data)}\n\n"
