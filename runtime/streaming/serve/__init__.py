"""``classify --serve``: a live page of the camera frames, the reading, fps and latency (aiohttp).

    sink = ServeSink("0.0.0.0:8080", token="...")
    sink.open()                      # serves in a background thread
    sink.publish(image, result, row) # once per frame, returns at once
    sink.close()

See ``runtime/streaming/serve/app.py`` for the routes and ``runtime/streaming/sinks.py`` for the sink interface.
"""

from runtime.streaming.serve.server import ServeError, ServeSink, parse_address

__all__ = ["ServeError", "ServeSink", "parse_address"]
