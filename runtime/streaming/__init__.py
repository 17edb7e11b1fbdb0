"""Frames in, readings out: frame sources, the digit reader, the classify loop, the preview window.

- ``sources``: cameras (OpenCV, picamera2), video files, image folders, as ``Frame`` iterators.
- ``reader``: ``DigitReader`` (frame -> digits) and ``StreamStats`` (constant-memory statistics).
- ``loop``: ``run_stream``, the classify loop with its stop signals and outputs.
- ``preview``: the optional OpenCV window with boxes and labels.
"""
